"""Draft jobs: submit, run, cancel, and recover the jobs of dead workers.

A job is a row (models.Job); the queue (Huey) only carries its id. `run_job` claims the row
(queued → running, in one UPDATE, so a task delivered twice runs once), calls the same
`pipeline.draft.run_draft` as `kaigiroku draft`, and while it runs a beat thread writes the
stage, progress, ETA and heartbeat to the row once a second and reads the cancel flag; the
progress hook raises `JobCancelled` at its next call once a cancel is seen (pyannote and Whisper
call it every batch or segment), which ends the draft the way Ctrl-C does. A worker that dies
leaves a running row whose heartbeat stops: `requeue_stale` queues it again (up to
max_attempts), and the draft resumes from the stage cache beside its output.

Idempotent: a job's key is the recording's SHA-256 and a hash of everything that changes the
draft (options, the meeting, the voice clips); `submit_draft` returns the existing job for a
key that is queued, running or done, and `run_job` finishes a job at once whose key another job
has already drafted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import KaigirokuError
from ..fileio import atomic_path, sha256_file
from ..meeting import dump_meeting
from ..progress import STEP_NAMES
from .data import DataFolder
from .meetings import meeting_of
from .models import Job, JobState, MeetingRow, MeetingState, RecordingRow, utcnow
from .options import JobOptions

logger = logging.getLogger(__name__)

KEY_VERSION = 1  # bump when what the key covers changes
# Options sections that do not change a draft: never part of its key.
NOT_IN_KEY = ("record", "jobs")
# ... nor do these fields (speed, not result), which a worker may set for its machine.
WORKER_FIELDS = {"transcribe": ("cpu_threads",), "diarize": ("threads",)}


class JobCancelled(KeyboardInterrupt):
    """Raised from the progress hook once the job's cancel flag is seen.

    A KeyboardInterrupt, because run_draft treats that as the user's stop: the speaker stages
    are told to end, nothing half-written is kept, the stage cache stays for a later run."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------- submit / cancel

def draft_key(recording_sha256: str, options, meeting, library: Path | None = None) -> str:
    """The recording and everything that changes its draft (not threads, not the worker): the
    options, the meeting, its clips, and what the committee library has learned for its body."""
    opts = {k: v for k, v in asdict(options).items() if k not in NOT_IN_KEY}
    for section, names in WORKER_FIELDS.items():
        opts[section] = {k: v for k, v in opts[section].items() if k not in names}
    people = [(p.name, p.role, p.title, p.label, sha256_file(p.voice) if p.voice else None)
              for p in meeting.participants]
    meeting_part = {**meeting.to_dict(), "participants": people, "source": None}
    blob = json.dumps([KEY_VERSION, opts, meeting_part, _learned(library, meeting.info.body)],
                      sort_keys=True, ensure_ascii=False, default=str)
    return f"{recording_sha256}:{hashlib.sha256(blob.encode('utf-8')).hexdigest()[:32]}"


def library_of(data: DataFolder) -> Path | None:
    """The committee library a job's draft reads: the data folder's library/ (the CLI's default
    ~/kaigiroku/library is the app's default data folder's), when it exists."""
    folder = data.root / "library"
    return folder if folder.is_dir() else None


def _learned(library: Path | None, body: str) -> list[str | None]:
    from ..library import PARTS, body_file

    if library is None or not body:
        return []
    hashes = [sha256_file(f) if f.is_file() else None for f in (body_file(library, part, body) for part in PARTS)]
    return hashes if any(hashes) else []  # nothing learned: the same draft as without a library


def submit_draft(session, data: DataFolder, meeting_id: int, recording_id: int | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None) -> tuple[Job, bool]:
    """A draft job for the meeting's recording (its latest if None): (job, created). A job of
    the same key that is queued, running or done is returned instead of a new one. The caller
    commits and, when created, enqueues it."""
    from sqlalchemy import select

    from ..config import load_options

    meeting_row = session.get(MeetingRow, meeting_id)
    if meeting_row is None:
        raise KaigirokuError(f"会議 {meeting_id} がありません。会議一覧から選び直してください。")
    recording = session.get(RecordingRow, recording_id) if recording_id is not None else (
        meeting_row.recordings[-1] if meeting_row.recordings else None)
    if recording is None or recording.meeting_id != meeting_id:
        raise KaigirokuError("この会議には録音がありません。録音するか、録音ファイルを取り込んでください。")
    if not recording.sha256:
        raise KaigirokuError("録音がまだ終わっていません。録音を終了してから原稿を作ってください。")
    overrides = overrides or {}
    options = load_options(None, overrides)  # a bad override fails here, not in the worker
    key = draft_key(recording.sha256, options, meeting_of(meeting_row, data), library_of(data))
    # within this meeting only: another meeting with the same file and data has its own draft
    # (the editors of each correct their own copy)
    existing = session.scalar(select(Job).where(Job.key == key, Job.meeting_id == meeting_id, Job.state.in_(
        (JobState.QUEUED, JobState.RUNNING, JobState.DONE))).order_by(Job.id.desc()))
    if existing is not None:
        return existing, False
    job = Job(meeting_id=meeting_id, recording_id=recording.id, key=key, options=overrides)
    session.add(job)
    meeting_row.state = MeetingState.WAITING
    session.flush()
    return job, True


def cancel_job(session, job_id: int) -> Job:
    """Cancel: a queued job at once, a running one at its worker's next beat (on any machine)."""
    job = session.get(Job, job_id)
    if job is None:
        raise KaigirokuError(f"作業 {job_id} はありません。")
    if job.state == JobState.QUEUED:
        _finish(job, JobState.CANCELLED)
        job.meeting.state = MeetingState.WAITING
    elif job.state == JobState.RUNNING:
        job.cancel_requested = True
    return job


def job_view(job: Job) -> dict[str, Any]:
    """What `GET /api/jobs/{id}` answers."""
    return {"id": job.id, "meeting": job.meeting_id, "state": job.state.value, "stage": job.stage,
            "progress": round(job.progress, 3), "eta_s": None if job.eta_s is None else round(job.eta_s),
            "error": job.error, "attempts": job.attempts, "worker": job.worker}


def _finish(job: Job, state: JobState, error: str | None = None) -> None:
    job.state, job.error, job.finished = state, error, utcnow()
    job.eta_s = None
    if state == JobState.DONE:
        job.progress = 1.0


# ---------------------------------------------------------------- progress

# The stage a job row shows, by the draft's hook step.
STAGES = {**STEP_NAMES, "load": "話者の区別（準備）", "identify:embed": "話者の照合"}


class DraftProgress:
    """The draft's hook → one fraction 0–1 that only moves forward, a Japanese stage, an ETA.

    ASR is most of a draft. With the speaker stages beside it (the default) the bar follows ASR,
    and the speaker stages fill the last part if they still run when ASR ends; with them after
    ASR, they get their own part (0.6–0.97).
    """

    def __init__(self, speakers: bool, alongside: bool, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._t0 = clock()
        self._lock = threading.Lock()
        self.cancelled = threading.Event()
        self.fraction, self.stage, self.eta_s = 0.0, "", None
        self._alongside = alongside
        asr_end = 0.95 if not speakers or alongside else 0.6
        self._spans = {"decode": (0.0, 0.05), "transcribe": (0.05, asr_end), "speakers": (asr_end, 0.97),
                       "write": (0.97, 0.99)}
        self._speakers = speakers
        self._asr_done = False

    def __call__(self, step: str, artifact: Any = None, *, total: float | None = None,
                 completed: float | None = None) -> None:
        if self.cancelled.is_set():
            raise JobCancelled(step)
        frac = min(1.0, max(0.0, (completed or 0.0) / total)) if total else 0.0
        with self._lock:
            if step == "transcribe":
                self._move("transcribe", frac, step)
                self._asr_done = self._asr_done or frac >= 1.0
            elif step.startswith(("diarize", "identify")) or step == "load":
                # beside ASR, the bar is ASR's until ASR ends
                if self._speakers and (self._asr_done or not self._alongside):
                    self._move("speakers", frac, step)
            elif step == "decode":
                self._move("decode", 0.0, step)
            elif step == "write":
                self._move("write", 1.0, step)

    def _move(self, span: str, frac: float, step: str) -> None:
        start, end = self._spans[span]
        self.fraction = max(self.fraction, start + (end - start) * frac)
        self.stage = STAGES.get(step, self.stage)
        elapsed = self._clock() - self._t0
        # an ETA only once there is something to extrapolate from
        self.eta_s = elapsed * (1 - self.fraction) / self.fraction if self.fraction >= 0.1 and elapsed > 2 else None

    def snapshot(self) -> tuple[float, str, float | None]:
        with self._lock:
            return self.fraction, self.stage, self.eta_s


class _Beat:
    """Writes progress and heartbeat to the job row every `interval` s; sees the cancel flag."""

    def __init__(self, session_factory, job_id: int, worker: str, progress: DraftProgress, interval: float):
        self._factory, self._job_id, self._worker = session_factory, job_id, worker
        self._progress, self._interval = progress, interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"kaigiroku-beat-{job_id}", daemon=True)

    def __enter__(self) -> _Beat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            try:
                self.beat()
            except Exception as e:  # noqa: BLE001 - a locked or unreachable database: try again next beat
                logger.warning("job %s: heartbeat not written: %s", self._job_id, e)

    def beat(self) -> None:
        from sqlalchemy import select, update

        fraction, stage, eta = self._progress.snapshot()
        with self._factory() as s:
            s.execute(update(Job).where(Job.id == self._job_id, Job.worker == self._worker,
                                        Job.state == JobState.RUNNING)
                      .values(heartbeat=utcnow(), progress=fraction, stage=stage, eta_s=eta))
            cancel = s.scalar(select(Job.cancel_requested).where(Job.id == self._job_id))
            s.commit()
        if cancel:
            self._progress.cancelled.set()


# ---------------------------------------------------------------- run

@dataclass(frozen=True)
class _Work:
    audio: Path
    meeting_file: Path
    out: Path
    overrides: dict[str, dict[str, Any]]


def run_job(job_id: int, session_factory, data_dir: str | Path, *, worker: str | None = None,
            worker_overrides: dict[str, dict[str, Any]] | None = None,
            job_options: JobOptions | None = None) -> JobState | None:
    """Run draft job `job_id` to its end; returns its final state (None: no such job).

    Nothing happens to a job that is not queued (done, cancelled, or running on another worker).
    `worker_overrides` (threads, device) change how fast, never what: they are not in the key.
    """
    from ..config import load_options
    from ..draft import run_draft

    data = DataFolder(data_dir)
    worker = worker or worker_id()
    job_options = job_options or JobOptions()
    work = _claim(session_factory, job_id, data, worker)
    if not isinstance(work, _Work):
        return work
    overrides = _merge(work.overrides, worker_overrides or {})
    state, error = JobState.FAILED, None
    try:
        options = load_options(None, overrides)
        progress = DraftProgress(options.diarize.enabled, options.diarize.alongside_asr)
        with _Beat(session_factory, job_id, worker, progress, job_options.heartbeat_s):
            run_draft(work.audio, work.meeting_file, work.out, options, force=True, hook=progress, cache=True,
                      library=library_of(data))
        state = JobState.DONE
    except JobCancelled:
        state = JobState.CANCELLED
        logger.info("job %s cancelled", job_id)
    except KaigirokuError as e:
        error = e.message
        logger.warning("job %s failed: %s (%s)", job_id, e.message, e.detail)
    except MemoryError:
        error = "メモリが足りなくなりました。他のアプリを閉じてから、もう一度原稿を作ってください（終わった段階から再開します）。"
    except Exception as e:  # noqa: BLE001 - the row must say it failed; the log has the traceback
        logger.exception("job %s failed", job_id)
        error = f"原稿の作成中に予期しないエラーが起きました（{type(e).__name__}）。管理者に連絡してください。"
    _close(session_factory, job_id, worker, state, error, data.relative(work.out) if state == JobState.DONE else None)
    return state


def _claim(session_factory, job_id: int, data: DataFolder, worker: str) -> _Work | JobState | None:
    """queued → running for this worker, or why not; the files the draft reads and writes."""
    from sqlalchemy import select, update

    with session_factory() as s:
        job = s.get(Job, job_id)
        if job is None:
            logger.warning("job %s: no such job", job_id)
            return None
        if job.state != JobState.QUEUED:
            return job.state
        if job.cancel_requested:
            _finish(job, JobState.CANCELLED)
            s.commit()
            return JobState.CANCELLED
        twin = s.scalar(select(Job).where(Job.key == job.key, Job.meeting_id == job.meeting_id,
                                          Job.state == JobState.DONE, Job.id != job.id))
        if twin is not None and twin.result and data.path(twin.result).is_file():
            job.result = twin.result
            _finish(job, JobState.DONE)
            job.meeting.state = MeetingState.REVIEWING
            s.commit()
            logger.info("job %s: the same draft is job %s's; not run again", job_id, twin.id)
            return JobState.DONE
        claimed = s.execute(update(Job).where(Job.id == job_id, Job.state == JobState.QUEUED).values(
            state=JobState.RUNNING, worker=worker, attempts=Job.attempts + 1, heartbeat=utcnow(),
            started=utcnow(), stage="", progress=0.0, eta_s=None, error=None)).rowcount
        if not claimed:  # another worker was quicker
            s.rollback()
            return s.scalar(select(Job.state).where(Job.id == job_id))
        s.refresh(job)
        job.meeting.state = MeetingState.DRAFTING
        try:
            work = _prepare(job, data)
        except KaigirokuError as e:
            _finish(job, JobState.FAILED, e.message)
            job.meeting.state = MeetingState.ERROR
            s.commit()
            return JobState.FAILED
        s.commit()
        return work


def _prepare(job: Job, data: DataFolder) -> _Work:
    """The recording, and the meeting written as a meeting file beside the draft (the draft reads
    it as `kaigiroku draft --meeting` does; a clerk can rerun the CLI on the same files)."""
    audio = data.path(job.recording.path)
    if not audio.is_file():
        raise KaigirokuError(f"録音ファイル {audio} が見つかりません。録音を取り込み直してください。")
    folder = data.folder("results", job.meeting_id)
    meeting_file = folder / "meeting.yaml"
    with atomic_path(meeting_file) as tmp:
        tmp.write_text(dump_meeting(meeting_of(job.meeting, data)), encoding="utf-8")
    return _Work(audio=audio, meeting_file=meeting_file, out=folder / f"{audio.stem}.docx",
                 overrides={k: dict(v) for k, v in (job.options or {}).items()})


def _close(session_factory, job_id: int, worker: str, state: JobState, error: str | None,
           result: str | None) -> None:
    """The end of this worker's run; a row taken over by another worker (we were thought dead)
    is left to that worker."""
    with session_factory() as s:
        job = s.get(Job, job_id)
        if job is None or job.worker != worker or job.state != JobState.RUNNING:
            logger.warning("job %s was taken over while this worker ran it; its result is not recorded here", job_id)
            return
        _finish(job, state, error)
        job.result = result
        job.meeting.state = {JobState.DONE: MeetingState.REVIEWING, JobState.CANCELLED: MeetingState.WAITING}.get(
            state, MeetingState.ERROR)
        s.commit()


def _merge(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {k: dict(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, {}).update({kk: vv for kk, vv in v.items() if vv is not None})
    return out


# ---------------------------------------------------------------- dead workers

def requeue_stale(session_factory, job_options: JobOptions | None = None,
                  dead: Callable[[str | None], bool] | None = None) -> list[int]:
    """Running jobs whose heartbeat stopped, or whose worker `dead` says has ended (a worker of
    this host whose life lock is free: workers.died_here): queued again (their ids, to enqueue),
    failed after max_attempts, cancelled if a cancel was asked. Safe with several sweepers at once."""
    from sqlalchemy import or_, select, update

    o = job_options or JobOptions()
    cutoff = utcnow() - timedelta(seconds=o.stale_after_s)
    requeued = []
    with session_factory() as s:
        stale = list(s.scalars(select(Job).where(Job.state == JobState.RUNNING, or_(
            Job.heartbeat < cutoff, Job.heartbeat.is_(None)))).all())
        if dead is not None:
            found = {j.id for j in stale}
            stale += [j for j in s.scalars(select(Job).where(Job.state == JobState.RUNNING))
                      if j.id not in found and dead(j.worker)]
        for job in stale:
            if job.cancel_requested:
                values = {"state": JobState.CANCELLED, "finished": utcnow(), "eta_s": None}
                meeting_state = MeetingState.WAITING
            elif job.attempts >= o.max_attempts:
                values = {"state": JobState.FAILED, "finished": utcnow(), "eta_s": None,
                          "error": f"原稿の作成が{job.attempts}回とも途中で止まりました（作業するPCのメモリ・電源を確認してください）。"
                                   "もう一度原稿作成を押すと、終わった段階から再開します。"}
                meeting_state = MeetingState.ERROR
            else:
                values = {"state": JobState.QUEUED, "worker": None, "heartbeat": None, "eta_s": None}
                meeting_state = MeetingState.WAITING
            # only if nobody else changed it since we looked (another sweeper, a late heartbeat)
            dead = job.worker  # (the UPDATE below also clears it on the loaded row)
            done = s.execute(update(Job).where(Job.id == job.id, Job.state == JobState.RUNNING,
                                               Job.worker == dead).values(**values)).rowcount
            if done:
                s.get(MeetingRow, job.meeting_id).state = meeting_state
                logger.warning("job %s: worker %s stopped answering; %s", job.id, dead, values["state"].value)
                if values["state"] == JobState.QUEUED:
                    requeued.append(job.id)
        s.commit()
    return requeued
