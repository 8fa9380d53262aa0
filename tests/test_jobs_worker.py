"""Draft jobs through a real Huey consumer: `python -m pipeline.jobs worker` processes on a
SqliteHuey queue in a data folder, the embedded Whisper, diarization off (issues 14 §6, 15).

What is asserted is the job row and the files: a job ends done with progress 1.0 and the same
draft as `kaigiroku draft`; a cancel stops a running job within seconds; a worker killed with
SIGKILL mid-draft leaves a job that another worker takes over and finishes, once.
"""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from conftest import KAIGIROKU, REPO
from servers import stop
from pipeline.jobs.data import DataFolder
from pipeline.jobs.db import session_factory, upgrade
from pipeline.jobs.meetings import import_meeting_file
from pipeline.jobs.models import Job, JobState, MeetingRow, MeetingState
from pipeline.jobs.queue import make_queue
from pipeline.jobs.recordings import add_recording

pytestmark = pytest.mark.slow

NO_SPEAKERS = {"diarize": {"enabled": False}}


@pytest.fixture()
def data(tmp_path) -> DataFolder:
    d = DataFolder.open(tmp_path / "data")
    upgrade(d.db_url)
    return d


def clip(sample_dir: Path, folder: Path, seconds: float | None) -> Path:
    """The sample meeting, or its first `seconds` (the chair's opening words)."""
    if seconds is None:
        return sample_dir / "meeting.flac"
    samples, rate = sf.read(sample_dir / "meeting.flac", frames=int(16000 * seconds), dtype="int16")
    path = folder / "opening.flac"
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def prepared(data: DataFolder, sample_dir: Path, audio: Path) -> int:
    with session_factory(data.db_url)() as s:
        row = import_meeting_file(s, sample_dir / "meeting.yaml", data)
        s.flush()
        add_recording(s, data, row.id, audio)
        s.commit()
        return row.id


def worker(data: DataFolder, tmp_path: Path, cli_env: dict, name: str, config: str = "") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipeline.jobs", "worker", "--data", str(data.root), "-v"]
    if config:
        path = tmp_path / "worker.yaml"
        path.write_text(config, encoding="utf-8")
        cmd += ["--config", str(path)]
    log = open(tmp_path / f"{name}.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    assert "作業を待っています" in line, (line, (tmp_path / f"{name}.log").read_text())
    return proc


def watch(data: DataFolder, job_id: int, until, timeout: float = 600.0) -> list[tuple[str, str, float]]:
    """(state, stage, progress) of the job every 0.2 s until `until(job)`; the rows seen."""
    seen = []
    end = time.monotonic() + timeout
    sessions = session_factory(data.db_url)
    while time.monotonic() < end:
        with sessions() as s:
            job = s.get(Job, job_id)
            seen.append((job.state.value, job.stage, job.progress))
            if until(job):
                return seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s: {seen[-5:]}")


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_job_runs_through_a_worker_to_the_clis_draft(sample_dir, data, tmp_path, cli_env):
    audio = clip(sample_dir, tmp_path, 12.0)
    mid = prepared(data, sample_dir, audio)
    queue = make_queue(data)
    job = queue.submit(mid, overrides=NO_SPEAKERS)
    queue.enqueue(job.id)  # delivered twice (a retry of the app's request): drafted once
    proc = worker(data, tmp_path, cli_env, "worker")
    try:
        seen = watch(data, job.id, lambda j: j.state not in (JobState.QUEUED, JobState.RUNNING))
    finally:
        stop(proc)
    with session_factory(data.db_url)() as s:
        job = s.get(Job, job.id)
        assert job.state == JobState.DONE, (job.error, (tmp_path / "worker.log").read_text()[-3000:])
        assert (job.progress, job.attempts, job.error) == (1.0, 1, None)
        assert s.get(MeetingRow, mid).state == MeetingState.REVIEWING
        docx = data.path(job.result)
        recording = data.path(job.recording.path)
    assert any(state == "running" and stage == "音声認識" and 0 < p < 1 for state, stage, p in seen), seen
    progress = [p for _, _, p in seen]
    assert progress == sorted(progress)
    result = docx.with_suffix(".json")
    assert docx.is_file() and result.is_file() and private(docx) and private(result)
    assert docx.parent == data.root / "results" / str(mid)

    # the same files through `kaigiroku draft`: the same draft
    config = tmp_path / "no-speakers.yaml"
    config.write_text("diarize:\n  enabled: false\n", encoding="utf-8")
    cli_out = tmp_path / "cli" / "opening.docx"
    r = subprocess.run([*KAIGIROKU, "draft", str(recording), "--meeting",
                        str(docx.parent / "meeting.yaml"), "-o", str(cli_out), "--config", str(config)],
                       cwd=REPO, env=cli_env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    ours = json.loads(result.read_text(encoding="utf-8"))
    theirs = json.loads(cli_out.with_suffix(".json").read_text(encoding="utf-8"))
    assert [u["text"] for u in ours["utterances"]] == [u["text"] for u in theirs["utterances"]]
    assert ours["utterances"] and "公民館運営審議会" in ours["utterances"][0]["text"]
    assert ours["meeting"]["meeting"] == theirs["meeting"]["meeting"]


def test_cancel_stops_a_running_job_and_the_worker_goes_on(sample_dir, data, tmp_path, cli_env):
    mid = prepared(data, sample_dir, clip(sample_dir, tmp_path, None))
    queue = make_queue(data)
    job = queue.submit(mid, overrides=NO_SPEAKERS)
    proc = worker(data, tmp_path, cli_env, "worker")
    try:
        watch(data, job.id, lambda j: j.stage == "音声認識" and j.progress > 0.1)
        asked = time.monotonic()
        queue.cancel(job.id)
        watch(data, job.id, lambda j: j.state != JobState.RUNNING, timeout=60)
        took = time.monotonic() - asked
        with session_factory(data.db_url)() as s:
            cancelled = s.get(Job, job.id)
            assert cancelled.state == JobState.CANCELLED and cancelled.result is None, cancelled.error
            assert s.get(MeetingRow, mid).state == MeetingState.WAITING
        assert took < 15, f"the cancel took {took:.1f} s"
        assert not list((data.root / "results" / str(mid)).glob("*.docx"))
        assert proc.poll() is None, "the worker survives a cancel"
        # asked again, it runs (a cancelled job does not block its key)
        again = queue.submit(mid, overrides=NO_SPEAKERS)
        assert again.id != job.id
        watch(data, again.id, lambda j: j.state == JobState.DONE)
    finally:
        stop(proc)


def test_a_killed_workers_job_is_taken_over_and_finished_once(sample_dir, data, tmp_path, cli_env):
    """issue 15: kill -9 a worker mid-draft; its heartbeat stops, another worker's sweep queues
    the job again, and it ends done once (attempts 2)."""
    mid = prepared(data, sample_dir, clip(sample_dir, tmp_path, None))
    quick = "jobs:\n  heartbeat_s: 0.5\n  stale_after_s: 4\n  sweep_s: 1\n  max_attempts: 3\n"
    queue = make_queue(data)
    job = queue.submit(mid, overrides=NO_SPEAKERS)
    first = worker(data, tmp_path, cli_env, "first", quick)
    try:
        watch(data, job.id, lambda j: j.stage == "音声認識" and j.progress > 0.2)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        stop(first)
    with session_factory(data.db_url)() as s:
        dead = s.get(Job, job.id)
        assert dead.state == JobState.RUNNING and dead.worker.endswith(f":{first.pid}")
    second = worker(data, tmp_path, cli_env, "second", quick)
    try:
        watch(data, job.id, lambda j: j.state not in (JobState.QUEUED, JobState.RUNNING))
    finally:
        stop(second)
    with session_factory(data.db_url)() as s:
        done = s.get(Job, job.id)
        assert done.state == JobState.DONE, (done.error, (tmp_path / "second.log").read_text()[-3000:])
        assert done.attempts == 2 and done.worker.endswith(f":{second.pid}") and done.progress == 1.0
        assert s.query(Job).count() == 1
        assert data.path(done.result).is_file()
    assert "stopped answering" in (tmp_path / "second.log").read_text()
