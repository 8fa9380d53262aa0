"""The app's and the service's foundation (issues 14, 15) without models: the schema and its
migrations on a real SQLite file, the data folder's permissions, meeting.yaml ↔ database,
submitting, cancelling and sweeping jobs. Drafts through a real worker: test_jobs_worker.py.
"""

from __future__ import annotations

import os
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from pipeline.errors import KaigirokuError
from pipeline.jobs.data import DataFolder
from pipeline.jobs.db import check_schema, current_revision, engine_for, head_revision, session_factory, upgrade
from pipeline.jobs.meetings import export_meeting, held_on, import_meeting, import_meeting_file, meeting_of
from pipeline.jobs.models import Base, Body, Job, JobState, MeetingRow, MeetingState, Member, utcnow
from pipeline.jobs.options import JobOptions
from pipeline.jobs.queue import make_queue
from pipeline.jobs.recordings import add_recording
from pipeline.jobs.runner import (DraftProgress, JobCancelled, cancel_job, draft_key, job_view, requeue_stale,
                                  run_job, submit_draft)
from pipeline.meeting import load_meeting, parse_meeting


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server (Debian's postgresql) on a loopback port, for this test run;
    yields a function that makes a fresh empty database and returns its URL."""
    from servers import Postgres

    server = Postgres()
    try:
        yield server.fresh
    finally:
        server.close()


@pytest.fixture()
def data(tmp_path) -> DataFolder:
    d = DataFolder.open(tmp_path / "data")
    upgrade(d.db_url)
    return d


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, data) -> str:
    """The database of a test: the app's SQLite in the data folder, or a service's PostgreSQL."""
    if request.param == "sqlite":
        return data.db_url
    pg = request.getfixturevalue("postgres")()
    upgrade(pg)
    return pg


@pytest.fixture()
def sessions(url):
    return session_factory(url)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# ---------------------------------------------------------------- schema

@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_create_the_schema_and_upgrade_is_idempotent(tmp_path, request, backend):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    url = f"sqlite:///{tmp_path / 'fresh.db'}" if backend == "sqlite" else request.getfixturevalue("postgres")()
    assert current_revision(url) is None
    with pytest.raises(KaigirokuError, match="データベースの版"):
        check_schema(url)  # a worker never writes into a database it does not know
    assert upgrade(url) == head_revision()
    tables = set(inspect(engine_for(url)).get_table_names())
    assert {"bodies", "members", "meetings", "attendees", "recordings", "jobs", "users", "audit_log",
            "alembic_version"} <= tables
    with engine_for(url).connect() as conn:
        # the models and the migrations say the same: nothing left for a new migration
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []
    # a second start: nothing to do, and what was stored is still there
    with session_factory(url)() as s:
        s.add(Body(name="緑川町公民館運営審議会"))
        s.commit()
    assert upgrade(url) == head_revision()
    check_schema(url)
    with session_factory(url)() as s:
        assert [b.name for b in s.query(Body)] == ["緑川町公民館運営審議会"]


def test_enum_columns_refuse_unknown_states(sessions):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with sessions() as s:
        s.add(MeetingRow(body="x"))
        s.commit()
        with pytest.raises(IntegrityError):  # the CHECK constraint, not only Python
            s.execute(text("UPDATE meetings SET state = '途中'"))
            s.commit()


def test_times_come_back_aware_utc(sessions):
    with sessions() as s:
        b = Body(name="x")
        s.add(b)
        s.commit()
        created = b.created
    with sessions() as s:
        again = s.get(Body, b.id).created
    assert again.tzinfo is not None and abs(again - created) < timedelta(seconds=1)


def test_data_folder_is_private(data):
    for p in [data.root, *(data.root / n for n in ("recordings", "voices", "results"))]:
        assert mode(p) == 0o700, p
    with session_factory(data.db_url)() as s:  # WAL files exist once a connection wrote
        s.add(Body(name="x"))
        s.commit()
    files = [p for p in data.root.iterdir() if p.is_file()]
    assert data.db_path in files and any(p.name.endswith("-wal") for p in files)
    for p in files:
        assert mode(p) == 0o600, p


def test_stored_paths_never_leave_the_data_folder(data, tmp_path):
    assert data.path("recordings/1/a.flac") == data.root / "recordings" / "1" / "a.flac"
    for bad in ("/etc/passwd", "../x", "recordings/../../x", "C:/x", ""):
        with pytest.raises(KaigirokuError):
            data.path(bad)
    with pytest.raises(KaigirokuError, match="データフォルダ"):
        data.relative(tmp_path / "elsewhere.flac")


# ---------------------------------------------------------------- meetings

def test_meeting_yaml_round_trip_keeps_every_field(sample_dir, sessions, data):
    text = (sample_dir / "meeting.yaml").read_text(encoding="utf-8")
    text += "speakers:\n  話者1: 山本 健一\n  話者2: 傍聴者\n"  # the one field the sample lacks
    original = parse_meeting(text)
    with sessions() as s:
        row = import_meeting(s, text)
        s.commit()
        mid = row.id
    with sessions() as s:  # a fresh session: what the database holds, not what is cached
        row = s.get(MeetingRow, mid)
        assert row.state == MeetingState.PREPARING and row.held_on == date(2024, 10, 15)
        exported = export_meeting(row, data)
    back = parse_meeting(exported)
    assert back == original
    # every field of the file, and the voice paths as written (never opened by the server)
    assert [str(p.voice) for p in back.participants if p.voice] == [
        "voices/yamamoto.flac", "voices/kobayashi.flac", "voices/ishii.flac", "voices/sato.flac"]
    assert back.speakers == (("話者1", "山本 健一"), ("話者2", "傍聴者"))
    assert yaml.safe_load(exported)["meeting"]["agenda"] == list(original.info.agenda)


def test_posted_text_names_no_file_the_server_opens(sessions, data):
    text = "meeting: {body: 審議会}\nparticipants:\n  - {name: 甲, role: 委員, voice: /etc/shadow}\n"
    with sessions() as s:
        row = import_meeting(s, text)
        s.commit()
        assert meeting_of(row, data).participants[0].voice is None  # nothing for the draft to read
        assert row.attendees[0].voice is None and row.attendees[0].voice_as_written == "/etc/shadow"


def test_a_local_meeting_file_brings_its_voices(sample_dir, sessions, data):
    from pipeline.fileio import sha256_file

    with sessions() as s:
        row = import_meeting_file(s, sample_dir / "meeting.yaml", data)
        s.commit()
        meeting = meeting_of(row, data)
    cli = load_meeting(sample_dir / "meeting.yaml")
    assert [p.name for p in meeting.participants] == [p.name for p in cli.participants]
    for mine, theirs in zip(meeting.participants, cli.participants):
        assert (mine.voice is None) == (theirs.voice is None)
        if mine.voice:
            assert data.root in mine.voice.parents and mode(mine.voice) == 0o600
            assert sha256_file(mine.voice) == sha256_file(theirs.voice)
    # exported with absolute clip paths: the CLI reads it as it is
    out = data.root / "exported.yaml"
    with sessions() as s:
        out.write_text(export_meeting(s.get(MeetingRow, row.id), data), encoding="utf-8")
    again = load_meeting(out)
    assert again.info == cli.info and [p.voice for p in again.participants] == [p.voice for p in meeting.participants]


BAD = [("role: 説明者", "role: 議長"), ("absent:", "absnt:"), ("agenda:\n", "agenda: [[\n"),
       ("member_labels: letters", "member_labels: numbers"), ("name: 田村 浩", "name: 山本 健一")]


@pytest.mark.parametrize("good, bad", BAD)
def test_a_bad_file_gives_the_clis_message(sample_dir, sessions, tmp_path, good, bad):
    text = (sample_dir / "meeting.yaml").read_text(encoding="utf-8")
    assert good in text
    broken = text.replace(good, bad, 1)
    path = tmp_path / "meeting.yaml"
    path.write_text(broken.replace("voice: voices/", f"voice: {sample_dir}/voices/"), encoding="utf-8")
    with pytest.raises(KaigirokuError) as cli:
        load_meeting(path)
    with sessions() as s, pytest.raises(KaigirokuError) as app:
        import_meeting(s, broken, where=f"会議ファイル {path}")
    assert app.value.message == cli.value.message and "\n" not in app.value.message
    with sessions() as s:
        assert s.query(MeetingRow).count() == 0


def test_json_with_the_same_fields(sessions):
    with sessions() as s:
        row = import_meeting(s, {"meeting": {"body": "審議会", "agenda": ["開会"]},
                                 "participants": [{"name": "甲", "role": "委員長"}]})
        s.commit()
        assert (row.body, row.agenda, row.attendees[0].role) == ("審議会", ["開会"], "委員長")
        with pytest.raises(KaigirokuError, match="役割「議長」"):
            import_meeting(s, {"participants": [{"name": "乙", "role": "議長"}]})


def test_attendees_are_linked_to_the_roster(sessions, data):
    with sessions() as s:
        body = Body(name="緑川町公民館運営審議会",
                    members=[Member(name="山本 健一", role="委員長", voice="voices/body-1/1.flac", voice_consent=True),
                             Member(name="小林 明子", role="委員", voice="voices/body-1/2.flac", voice_consent=False)])
        s.add(body)
        row = import_meeting(s, "meeting: {body: 緑川町公民館運営審議会}\nparticipants:\n"
                                "  - {name: 山本 健一, role: 委員長}\n  - {name: 小林 明子, role: 委員}\n"
                                "  - {name: 来賓, role: 説明者}\n")
        s.commit()
        assert row.body_row is body and [a.member for a in row.attendees] == [*body.members, None]
        voices = [p.voice for p in meeting_of(row, data).participants]
    # a roster clip is used only with the member's consent
    assert voices == [data.root / "voices" / "body-1" / "1.flac", None, None]


@pytest.mark.parametrize("text, day", [("令和6年10月15日（火曜日） 14時00分", date(2024, 10, 15)),
                                       ("令和元年５月１日", date(2019, 5, 1)), ("平成31年4月30日", date(2019, 4, 30)),
                                       ("2024年1月9日", date(2024, 1, 9)), ("2024-01-09 14:00", date(2024, 1, 9)),
                                       ("令和6年2月30日", None), ("来週の火曜日", None), ("", None)])
def test_held_on(text, day):
    assert held_on(text) == day


# ---------------------------------------------------------------- jobs without a draft

@pytest.fixture()
def meeting_with_recording(sample_dir, sessions, data):
    with sessions() as s:
        row = import_meeting_file(s, sample_dir / "meeting.yaml", data)
        s.flush()
        rec = add_recording(s, data, row.id, sample_dir / "meeting.flac")
        s.commit()
        return row.id, rec.id


def test_a_recording_is_copied_in_and_hashed(sample_dir, sessions, data, meeting_with_recording):
    from pipeline.fileio import sha256_file

    mid, rid = meeting_with_recording
    with sessions() as s:
        rec = s.get(MeetingRow, mid).recordings[0]
        path = data.path(rec.path)
    assert path.parent == data.root / "recordings" / str(mid) and mode(path) == 0o600
    assert rec.sha256 == sha256_file(sample_dir / "meeting.flac") and 80 < rec.duration < 90


def test_one_job_per_key(sessions, data, meeting_with_recording):
    mid, rid = meeting_with_recording
    with sessions() as s:
        a, created_a = submit_draft(s, data, mid, overrides={"diarize": {"enabled": False}})
        b, created_b = submit_draft(s, data, mid, overrides={"diarize": {"enabled": False}})
        c, created_c = submit_draft(s, data, mid)  # other options: another draft
        s.commit()
        assert (created_a, created_b, created_c) == (True, False, True)
        assert a.id == b.id != c.id and a.key != c.key and a.key.startswith(s.get(MeetingRow, mid).recordings[0].sha256)
        assert s.get(MeetingRow, mid).state == MeetingState.WAITING
        # a done job is not drafted again either
        a.state = JobState.DONE
        s.commit()
        again, created = submit_draft(s, data, mid, overrides={"diarize": {"enabled": False}})
        assert not created and again.id == a.id
        # a failed or cancelled one may be tried again
        a.state = JobState.FAILED
        s.commit()
        assert submit_draft(s, data, mid, overrides={"diarize": {"enabled": False}})[1]


def test_a_twin_meeting_gets_its_own_job(sample_dir, sessions, data, meeting_with_recording):
    """Two meetings with the same file and the same data (a meeting added twice, a copy for a
    rehearsal): each its own job and result, never the other's draft to correct."""
    mid, _ = meeting_with_recording
    with sessions() as s:
        twin = import_meeting_file(s, sample_dir / "meeting.yaml", data)
        s.flush()
        add_recording(s, data, twin.id, sample_dir / "meeting.flac")
        a, created_a = submit_draft(s, data, mid)
        b, created_b = submit_draft(s, data, twin.id)
        s.commit()
        assert created_a and created_b and a.id != b.id and a.key == b.key
        assert (a.meeting_id, b.meeting_id) == (mid, twin.id)
        assert s.get(MeetingRow, twin.id).state == MeetingState.WAITING


def test_the_key_follows_what_changes_the_draft(sample_dir, tmp_path):
    from dataclasses import replace

    from pipeline.config import load_options

    o = load_options()
    m = load_meeting(sample_dir / "meeting.yaml")
    k = draft_key("abc", o, m)
    assert k == draft_key("abc", replace(o, transcribe=replace(o.transcribe, cpu_threads=7)), m)  # speed only
    assert k == draft_key("abc", replace(o, jobs=JobOptions(heartbeat_s=9)), m)
    assert k != draft_key("abd", o, m)
    assert k != draft_key("abc", replace(o, transcribe=replace(o.transcribe, model="whisper-small")), m)
    assert k != draft_key("abc", o, replace(m, vocabulary=m.vocabulary + ("議事録",)))
    no_voice = replace(m, participants=(replace(m.participants[0], voice=None),) + m.participants[1:])
    assert k != draft_key("abc", o, no_voice)

    # what the committee library learned for this body changes the draft too (#16)
    from pipeline.library import body_file

    library = tmp_path / "library"
    library.mkdir()
    assert draft_key("abc", o, m, library) == k
    words = body_file(library, "words", m.info.body)
    words.parent.mkdir(parents=True)
    words.write_text("{}", encoding="utf-8")
    assert draft_key("abc", o, m, library) != k


def test_bad_submissions_say_what_to_do(sessions, data):
    with sessions() as s:
        with pytest.raises(KaigirokuError, match="会議 99 がありません"):
            submit_draft(s, data, 99)
        row = import_meeting(s, "meeting: {body: 審議会}\n")
        s.commit()
        with pytest.raises(KaigirokuError, match="録音がありません"):
            submit_draft(s, data, row.id)


def test_a_done_twin_is_not_drafted_again(sessions, data, meeting_with_recording):
    mid, rid = meeting_with_recording
    result = data.folder("results", mid) / "meeting.docx"
    result.write_bytes(b"draft")
    with sessions() as s:
        first, _ = submit_draft(s, data, mid)
        first.state, first.result = JobState.DONE, data.relative(result)
        twin = Job(meeting_id=mid, recording_id=rid, key=first.key)  # as a second app instance would add it
        s.add(twin)
        s.commit()
        twin_id = twin.id
    before = result.stat().st_mtime_ns
    assert run_job(twin_id, sessions, data.root) == JobState.DONE
    with sessions() as s:
        twin = s.get(Job, twin_id)
        assert (twin.result, twin.progress, twin.attempts, twin.started) == (first.result, 1.0, 0, None)
        assert s.get(MeetingRow, mid).state == MeetingState.REVIEWING
    assert result.stat().st_mtime_ns == before
    # and a job that is not queued is left alone
    assert run_job(twin_id, sessions, data.root) == JobState.DONE
    assert run_job(12345, sessions, data.root) is None


def test_cancel_a_queued_job(sessions, data, meeting_with_recording):
    mid, _ = meeting_with_recording
    with sessions() as s:
        job, _ = submit_draft(s, data, mid)
        s.commit()
        cancel_job(s, job.id)
        s.commit()
        assert job_view(job)["state"] == "cancelled"
    assert run_job(job.id, sessions, data.root) == JobState.CANCELLED  # the task still arrives: nothing runs
    with sessions() as s:
        assert s.get(Job, job.id).attempts == 0
        with pytest.raises(KaigirokuError, match="作業 77"):
            cancel_job(s, 77)


def test_a_missing_recording_fails_with_a_japanese_line(sessions, data, meeting_with_recording):
    mid, rid = meeting_with_recording
    with sessions() as s:
        job, _ = submit_draft(s, data, mid)
        path = data.path(s.get(MeetingRow, mid).recordings[0].path)
        s.commit()
    path.unlink()
    assert run_job(job.id, sessions, data.root) == JobState.FAILED
    with sessions() as s:
        job = s.get(Job, job.id)
        assert "録音ファイル" in job.error and "見つかりません" in job.error and job.attempts == 1
        assert s.get(MeetingRow, mid).state == MeetingState.ERROR


def test_stale_jobs_are_queued_again_then_failed(sessions, data, meeting_with_recording):
    mid, rid = meeting_with_recording
    o = JobOptions(stale_after_s=60, max_attempts=3)
    now = utcnow()
    with sessions() as s:
        def job(**kw):
            j = Job(meeting_id=mid, recording_id=rid, key=f"k{len(kw)}{kw}", state=JobState.RUNNING,
                    worker="pc:1", **kw)
            s.add(j)
            return j

        dead = job(heartbeat=now - timedelta(seconds=120), attempts=1, progress=0.4)
        alive = job(heartbeat=now - timedelta(seconds=5), attempts=1)
        spent = job(heartbeat=now - timedelta(seconds=120), attempts=3)
        asked = job(heartbeat=now - timedelta(seconds=120), attempts=1, cancel_requested=True)
        s.commit()
        ids = dead.id, alive.id, spent.id, asked.id
    assert requeue_stale(sessions, o) == [ids[0]]
    assert requeue_stale(sessions, o) == []  # a second sweeper finds nothing more
    with sessions() as s:
        dead, alive, spent, asked = (s.get(Job, i) for i in ids)
        assert (dead.state, dead.worker, dead.attempts) == (JobState.QUEUED, None, 1)
        assert alive.state == JobState.RUNNING
        assert spent.state == JobState.FAILED and "3回" in spent.error
        assert asked.state == JobState.CANCELLED


def test_the_queue_is_huey_on_sqlite_in_the_data_folder(url, data, meeting_with_recording):
    mid, _ = meeting_with_recording
    queue = make_queue(data, url)
    job = queue.submit(mid, overrides={"diarize": {"enabled": False}})
    assert queue.submit(mid, overrides={"diarize": {"enabled": False}}).id == job.id
    assert queue.huey.pending_count() == 1  # enqueued once
    task = queue.huey.dequeue()
    assert task.args == (job.id,) and task.name.endswith("draft")
    assert data.queue_path.is_file() and mode(data.queue_path) == 0o600
    assert queue.cancel(job.id).state == JobState.CANCELLED
    with pytest.raises(KaigirokuError, match="キューの指定"):
        make_queue(data, queue_url="amqp://x")


# ---------------------------------------------------------------- progress

def test_progress_moves_forward_through_the_stages():
    t = [0.0]
    p = DraftProgress(speakers=True, alongside=True, clock=lambda: t[0])
    seen = []

    def step(name, total=None, completed=None, at=0.0):
        t[0] = at
        p(name, total=total, completed=completed)
        seen.append(p.snapshot())

    step("decode")
    step("transcribe", 100, 0, at=1)
    step("diarize:segmentation", 10, 9, at=2)  # beside ASR: the bar stays ASR's
    step("transcribe", 100, 50, at=10)
    step("transcribe", 100, 40, at=11)  # never backwards
    step("transcribe", 100, 100, at=20)
    step("diarize:embeddings", 10, 5, at=21)  # after ASR: the speaker stages' part
    step("write", at=22)
    fractions = [f for f, _, _ in seen]
    assert fractions == sorted(fractions) and 0 < fractions[-1] < 1
    assert seen[2][0] == seen[1][0] and seen[2][1] == "音声認識"
    assert seen[3][1] == "音声認識" and 0.45 < seen[3][0] < 0.55 and seen[3][2] == pytest.approx(10 * (1 - seen[3][0]) / seen[3][0])
    assert seen[6][1] == "話者の区別（声の特徴）" and seen[6][0] > seen[5][0]
    assert seen[7][1] == "書き出し"
    p.cancelled.set()
    with pytest.raises(JobCancelled):
        p("transcribe", total=100, completed=100)
    assert issubclass(JobCancelled, KeyboardInterrupt)  # run_draft stops for it as for Ctrl-C


def test_the_worker_refuses_an_unknown_database(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    r = subprocess.run([sys.executable, "-m", "pipeline.jobs", "worker", "--data", str(tmp_path / "d")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "データベースの版" in r.stderr
    assert os.path.isdir(tmp_path / "d")


def test_a_dead_worker_of_this_host_is_noticed_at_once(sessions, data, meeting_with_recording):
    """The app killed and started again: its old worker's job is queued again at the first sweep,
    not after its heartbeat is a minute old — the worker's life lock is free once the process is
    gone (kill -9 included). A live worker's job, and another host's, wait for the heartbeat."""
    import signal
    import socket
    import subprocess
    import sys

    from pipeline.jobs.workers import died_here, prune_lives

    mid, rid = meeting_with_recording
    worker = subprocess.Popen([sys.executable, "-c",
                               "import os, sys\nfrom pipeline.jobs.workers import hold_life\n"
                               f"held = hold_life({str(data.root)!r}, f'{socket.gethostname()}:{{os.getpid()}}')\n"
                               "print('alive', flush=True); sys.stdin.readline()\n"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "alive"
        here = f"{socket.gethostname()}:{worker.pid}"
        with sessions() as s:
            def running(name):
                j = Job(meeting_id=mid, recording_id=rid, key=f"k-{name}", state=JobState.RUNNING, worker=name,
                        heartbeat=utcnow(), attempts=1)
                s.add(j)
                return j

            mine, elsewhere = running(here), running("another-pc:4242")
            s.commit()
            ids = mine.id, elsewhere.id
        (data.root / "workers" / "another-pc-4242.lock").touch()  # a free lock, but not this host's
        dead = lambda name: died_here(data.root, name)  # noqa: E731 - what JobQueue.sweep passes
        assert requeue_stale(sessions, JobOptions(), dead) == []  # alive: its lock is held
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert requeue_stale(sessions, JobOptions(), dead) == [ids[0]]  # heartbeat still fresh
        with sessions() as s:
            assert s.get(Job, ids[0]).state == JobState.QUEUED and s.get(Job, ids[1]).state == JobState.RUNNING
        prune_lives(data.root)
        assert sorted(p.name for p in (data.root / "workers").iterdir()) == ["another-pc-4242.lock"]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
