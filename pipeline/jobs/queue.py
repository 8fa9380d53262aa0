"""The one Huey object of a process, chosen by configuration, and the tasks on it.

- no queue URL (the app): SqliteHuey in the data folder (queue.db, 0600), one worker process
  beside the app;
- ``redis://…`` (the service): RedisHuey, workers on other machines (needs the redis package).

Tasks carry only a job id; the job row holds everything else, so a task delivered twice, or
one lost with a dead worker and sent again by the sweep, still drafts once (runner.run_job).
Cancel is the row's flag, not Huey's revoke: it reaches a job already running, on any machine.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import KaigirokuError
from .data import DataFolder, private_file
from .models import Job
from .options import JobOptions
from .runner import cancel_job, requeue_stale, run_job, submit_draft, worker_id

logger = logging.getLogger(__name__)

NAME = "kaigiroku"
REDIS_CONNECT_S = 5.0


def make_huey(data: DataFolder, queue_url: str = "", immediate: bool = False):
    """SqliteHuey in the data folder (no URL, or sqlite:///path) or RedisHuey (redis://…)."""
    if not queue_url or queue_url.startswith("sqlite:"):
        from huey import SqliteHuey

        path = Path(queue_url[len("sqlite:///"):]) if queue_url else data.queue_path
        private_file(path)  # SQLite keeps the mode for its -wal file: the queue names no one, but stays private
        return SqliteHuey(NAME, filename=str(path), results=False, immediate=immediate)
    if queue_url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from huey import RedisHuey
            from redis import ConnectionPool

            # a Redis that does not answer fails the connect in seconds, not a TCP timeout's minutes
            pool = ConnectionPool.from_url(queue_url, socket_connect_timeout=REDIS_CONNECT_S)
            return RedisHuey(NAME, connection_pool=pool, results=False, immediate=immediate)
        except ImportError as e:  # huey imports redis lazily, at the first RedisHuey
            raise KaigirokuError("Redis のキューを使うには redis パッケージが必要です。pip install redis を実行してください。",
                                 str(e)) from e
    raise KaigirokuError(f"キューの指定「{queue_url}」は使えません。省く（データフォルダの SQLite）か、redis://ホスト:6379/0 の形にしてください。")


@dataclass
class JobQueue:
    """Submit, cancel and run draft jobs through one Huey object.

    The app: `submit` / `cancel`; a worker process: `consumer()` plus `sweep()` every
    JobOptions.sweep_s (`start_sweeper`)."""

    huey: Any
    db_url: str
    data: DataFolder
    job_options: JobOptions = field(default_factory=JobOptions)
    worker_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from .db import session_factory

        self.sessions = session_factory(self.db_url)
        self.draft_task = self.huey.task(name="draft")(self._draft)
        self.learn_task = self.huey.task(name="learn")(self._learn)

    def _draft(self, job_id: int) -> None:
        run_job(job_id, self.sessions, self.data.root, worker=worker_id(),
                worker_overrides=self.worker_overrides, job_options=self.job_options)

    def _learn(self, meeting_id: int, result: str, audio: str) -> None:
        from .finish import learn_voices

        learn_voices(self.data, meeting_id, result, audio, self.worker_overrides)

    def learn(self, meeting_id: int, result: str, audio: str) -> None:
        """Learn the voices of a meeting marked 完了 (pipeline.jobs.finish), in the worker:
        minutes of CPU that must not run in the app process while it records."""
        self.learn_task(meeting_id, result, audio)

    def submit(self, meeting_id: int, recording_id: int | None = None,
               overrides: dict[str, dict[str, Any]] | None = None) -> Job:
        """A draft of the meeting's recording, queued once (the existing job for the same key)."""
        with self.sessions() as s:
            job, created = submit_draft(s, self.data, meeting_id, recording_id, overrides)
            s.commit()
        if created:
            self.enqueue(job.id)
        return job

    def check(self) -> int:
        """The queue answers: the number of tasks waiting in it, or a Japanese error."""
        try:
            return self.huey.pending_count()
        except Exception as e:  # noqa: BLE001 - redis and sqlite3 raise their own kinds
            raise KaigirokuError("キュー（Redis または queue.db）に接続できません。--queue の指定と、Redis が動いているかを確認してください。",
                                 f"{type(e).__name__}: {e}") from e

    def enqueue(self, job_id: int) -> None:
        self.draft_task(job_id)

    def cancel(self, job_id: int) -> Job:
        with self.sessions() as s:
            job = cancel_job(s, job_id)
            s.commit()
            return job

    def sweep(self) -> list[int]:
        """Queue again the jobs of workers that died."""
        from .workers import died_here, prune_lives

        # a worker of this host that ended (the app killed and started again) at once; others
        # when their heartbeat is stale
        ids = requeue_stale(self.sessions, self.job_options, dead=lambda name: died_here(self.data.root, name))
        prune_lives(self.data.root)
        for job_id in ids:
            self.enqueue(job_id)
        return ids

    def start_sweeper(self) -> threading.Event:
        """Sweep now and every sweep_s on a thread; set the returned event to stop it."""
        stop = threading.Event()

        def loop() -> None:
            while True:
                try:
                    self.sweep()
                except Exception as e:  # noqa: BLE001 - the database may be busy: next round
                    logger.warning("sweep failed: %s", e)
                if stop.wait(self.job_options.sweep_s):
                    return

        threading.Thread(target=loop, name="kaigiroku-sweeper", daemon=True).start()
        return stop

    def consumer(self, workers: int = 1):
        """A Huey consumer: threads (portable: no fork), polling the queue at most every 2 s."""
        return self.huey.create_consumer(workers=workers, worker_type="thread", periodic=False,
                                         initial_delay=0.1, backoff=1.15, max_delay=2.0)


def make_queue(data: DataFolder, db_url: str | None = None, queue_url: str = "", *, immediate: bool = False,
               job_options: JobOptions | None = None,
               worker_overrides: dict[str, dict[str, Any]] | None = None) -> JobQueue:
    return JobQueue(make_huey(data, queue_url, immediate), db_url or data.db_url, data,
                    job_options or JobOptions(), worker_overrides or {})
