"""The database: engines, sessions and the schema's migrations (Alembic, run from Python).

`upgrade(url)` brings any database — a fresh file, an older version's — to this version's
schema; the app calls it at start. Workers only `check_schema`: two processes must not migrate
one database at the same time, and a worker that is newer or older than the database waits
for the server to be upgraded instead of writing into a schema it does not know.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from ..errors import KaigirokuError

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "alembic"
BUSY_TIMEOUT_MS = 30_000  # SQLite: wait this long for another process's write (app and worker share the file)


def normalize_url(url: str) -> str:
    """postgresql://… → the psycopg (3) driver when that is installed, else SQLAlchemy's default."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        try:
            import psycopg  # noqa: F401

            return "postgresql+psycopg://" + url[len("postgresql://"):]
        except ImportError:
            pass
    return url


def make_engine(url: str):
    from sqlalchemy import create_engine, event

    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, record) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            # WAL: the page reads while a worker writes progress; never on a network share
            # (a service with workers elsewhere uses PostgreSQL)
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=8)
def engine_for(url: str):
    """One engine (and connection pool) per database per process."""
    return make_engine(url)


def session_factory(url: str):
    """sessionmaker bound to `url`; one session per request or job."""
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(engine_for(url), expire_on_commit=False)


def _alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = normalize_url(url)
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine_for(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str) -> str:
    """Migrate the database at `url` to this version's schema (nothing to do: nothing done);
    returns the revision it is at."""
    from alembic import command

    before = current_revision(url)
    head = head_revision()
    if before != head:
        cfg = _alembic_config(url)
        with engine_for(url).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        logger.info("database upgraded %s → %s", before or "(empty)", head)
    return head


def check_schema(url: str) -> None:
    """For workers: the database must be at exactly this version's schema."""
    current, head = current_revision(url), head_revision()
    if current != head:
        raise KaigirokuError("データベースの版がこのプログラムと合いません。先に kaigiroku app（または server）を"
                             "同じ版で起動してデータベースを更新してください。",
                             f"database at {current}, code at {head}")
