"""The draft workers alive now, by their heartbeat (issue 15: /healthz, the job list).

Each worker process keeps one row in `workers` (models.WorkerRow) and writes its `seen` every
`JobOptions.heartbeat_s × 5` seconds from a thread of its own (a job's heartbeat says a job
lives; this one says an idle worker does). A worker that ends cleanly deletes its row; one that
dies leaves a row that stops being seen, is left out of `alive` after `stale_after_s`, and is
deleted by the next worker's beat after a day (its name stays in the jobs it ran).
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .models import Job, JobState, WorkerRow, utcnow
from .options import JobOptions

logger = logging.getLogger(__name__)

LIFE_FOLDER = "workers"  # in the data folder: one lock file per worker process, held while it lives
BEATS_PER_JOB_BEAT = 5  # a worker's row is written 5× less often than a running job's
FORGET_AFTER = timedelta(days=1)  # a dead worker's row is deleted after this


@dataclass(frozen=True)
class WorkerInfo:
    name: str  # host:pid, as Job.worker names it
    device: str = "cpu"
    model: str = ""
    threads: int = 1


class WorkerBeat:
    """This worker's row, written now and then every few seconds until `stop()`."""

    def __init__(self, session_factory, info: WorkerInfo, job_options: JobOptions | None = None):
        self._factory, self.info = session_factory, info
        self._interval = (job_options or JobOptions()).heartbeat_s * BEATS_PER_JOB_BEAT
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kaigiroku-worker-beat", daemon=True)

    def start(self) -> WorkerBeat:
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        from sqlalchemy import delete

        self._stop.set()
        self._thread.join(timeout=5)
        try:
            with self._factory() as s:
                s.execute(delete(WorkerRow).where(WorkerRow.name == self.info.name))
                s.commit()
        except Exception as e:  # noqa: BLE001 - the database is gone: the row goes stale instead
            logger.warning("worker row not removed: %s", e)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception as e:  # noqa: BLE001 - unreachable database: try again next beat
                logger.warning("worker heartbeat not written: %s", e)

    def beat(self) -> None:
        from sqlalchemy import delete, select

        now = utcnow()
        with self._factory() as s:
            row = s.scalar(select(WorkerRow).where(WorkerRow.name == self.info.name))
            if row is None:
                s.add(WorkerRow(name=self.info.name, host=self.info.name.rsplit(":", 1)[0], device=self.info.device,
                                model=self.info.model, threads=self.info.threads, started=now, seen=now))
            else:
                row.seen = now
            s.execute(delete(WorkerRow).where(WorkerRow.seen < now - FORGET_AFTER))
            s.commit()


def alive(session, job_options: JobOptions | None = None) -> list[dict[str, Any]]:
    """The workers seen within stale_after_s, each with the jobs it runs now (GET /api/workers)."""
    from sqlalchemy import select

    cutoff = utcnow() - timedelta(seconds=(job_options or JobOptions()).stale_after_s)
    rows = session.scalars(select(WorkerRow).where(WorkerRow.seen >= cutoff).order_by(WorkerRow.name)).all()
    running: dict[str, list[dict[str, Any]]] = {}
    for job in session.scalars(select(Job).where(Job.state == JobState.RUNNING).order_by(Job.id)):
        running.setdefault(job.worker or "", []).append(
            {"id": job.id, "meeting": job.meeting_id, "stage": job.stage, "progress": round(job.progress, 3)})
    return [{"name": r.name, "host": r.host, "device": r.device, "model": r.model, "threads": r.threads,
             "started": r.started.isoformat(), "seen": r.seen.isoformat(), "jobs": running.get(r.name, [])}
            for r in rows]


# ---------------------------------------------------------------- a worker's life, on this host

def _life_file(root, name: str):
    from pathlib import Path

    host, _, pid = name.rpartition(":")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host)
    return Path(root) / LIFE_FOLDER / f"{safe}-{pid}.lock"


def hold_life(root, name: str):
    """Held by a worker process for as long as it lives: a lock the OS releases when the process
    ends however it ends (kill -9, a crash; not a power cut of another machine, which only the
    heartbeat tells). Returns the open file; `end_life` at a clean exit."""
    from ..fileio import hold_lock

    path = _life_file(root, name)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    held = hold_lock(path)
    if held is None:  # a process of this pid holds it: cannot be, unless the name is reused
        logger.warning("worker %s: its life lock is held by another process", name)
    return held


def end_life(root, name: str, held) -> None:
    if held is not None:
        held.close()
        _remove(_life_file(root, name))


def died_here(root, name: str | None) -> bool:
    """True when `name` (host:pid) is a worker of this host whose life lock is free: it died, and
    its job can be queued again now rather than after its heartbeat is stale_after_s old (the
    app restarted after a crash). Another host's worker, or one with no life file (an older
    version), is left to the heartbeat."""
    from ..fileio import hold_lock

    if not name or name.rpartition(":")[0] != socket.gethostname():
        return False
    path = _life_file(root, name)
    if not path.is_file():
        return False
    probe = hold_lock(path)
    if probe is None:
        return False  # alive (its own lock, or this very process's: another open file)
    probe.close()
    _remove(path)
    return True


def prune_lives(root) -> None:
    """Delete the free life files of this host (workers that ended without cleaning up, e.g. the
    app's worker, which ends at once when the app does). Called by the sweep after it has
    queued their jobs again."""
    from pathlib import Path

    from ..fileio import hold_lock

    prefix = "".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname()) + "-"
    for path in (Path(root) / LIFE_FOLDER).glob(f"{prefix}*.lock"):
        probe = hold_lock(path)
        if probe is not None:
            probe.close()
            _remove(path)


def _remove(path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # Windows: another process has it open at this moment; the next sweep retries
        pass
