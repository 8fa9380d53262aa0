"""Alembic environment for kaigiroku's schema (run through pipeline.jobs.db.upgrade).

There is no alembic.ini: db.py passes the URL (or an open connection) in config.attributes.
SQLite gets batch mode, so later migrations can alter columns (it rebuilds the table).
"""

from alembic import context

from pipeline.jobs.models import Base

config = context.config


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from pipeline.jobs.db import make_engine

    engine = make_engine(config.attributes["url"])
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()
