"""What the app (issue 14) and the shared service (issue 15) stand on: the data model, the data
folder, the queue and the job runner. No pages and no HTTP here.

- `models`: SQLAlchemy 2 typed models (bodies, members, meetings, attendees, recordings, jobs,
  users, audit log); `alembic/`: their migrations; `db`: engines, sessions, `upgrade(url)`;
- `data`: the data folder (database, queue, recordings, voices, results; 0600/0700);
- `meetings`: a database meeting ↔ pipeline.meeting.Meeting ↔ meeting.yaml text;
- `runner`: `submit_draft`, `run_job` (the same `run_draft` as `kaigiroku draft`, progress
  and heartbeat into the job row, cancel, idempotent), `requeue_stale`;
- `queue`: the one Huey object (SQLite in the data folder, or Redis) and its tasks;
  ``python -m pipeline.jobs worker`` (and ``kaigiroku worker``, pipeline/cli_service.py) is a
  consumer;
- `workers`: the worker processes alive, by their own heartbeat rows (/healthz, the job list).

Importing this package imports nothing heavy (SQLAlchemy and Huey load with their modules).
"""
