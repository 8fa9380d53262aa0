#!/usr/bin/env python3
"""Throughput of the shared service's workers (issue 15): meeting-hours drafted per worker-hour
with 1 and then 2 `kaigiroku worker` processes, on the same set of meetings, in one run.

Each round gets a fresh data folder (no stage cache carried over), its own meetings (another
回次 per round and copy: every job is new, never a done twin), a database and a queue (SQLite
files in the data folder by default; --db/--queue for PostgreSQL and Redis), and its workers
started with their models loaded before the clock starts (as a service's workers wait, loaded,
for the queue). The clock runs from the first job queued to the last job done.

    .venv/bin/python scripts/bench_service.py [--copies 4] [--threads 1] [--device cpu]
        [--audio tests/data/sample/meeting.flac --meeting tests/data/sample/meeting.yaml]
        [--out out/bench/service.json]

Run it under the heavy lock: flock /tmp/kaigiroku-heavy.lock .venv/bin/python scripts/bench_service.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.privacy import apply_offline_env  # noqa: E402

apply_offline_env()


def meeting_copies(meeting: Path, copies: int, folder: Path, label: str) -> list[Path]:
    """`copies` meeting files: the same people and clips (absolute paths), another 回次 each."""
    import yaml

    data = yaml.safe_load(meeting.read_text(encoding="utf-8"))
    for p in data.get("participants", []):
        if p.get("voice"):
            p["voice"] = str((meeting.parent / p["voice"]).resolve())
    files = []
    for n in range(copies):
        data["meeting"]["session"] = f"ベンチ{label} 第{n + 1}回"
        path = folder / f"meeting-{label}-{n + 1}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        files.append(path)
    return files


def start_worker(data: Path, db: str, queue: str, args, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipeline", "-v", "worker", "--data", str(data), "--db", db, "--queue", queue,
           "--threads", str(args.threads), "--device", args.device]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
    line = proc.stdout.readline()  # printed once the models are loaded
    if "作業を待っています" not in line:
        raise SystemExit(f"worker did not start: {log.read_text()[-2000:]}")
    return proc


def run_round(workers: int, audio: Path, args, root: Path) -> dict:
    from sqlalchemy import select

    from pipeline.jobs.data import DataFolder
    from pipeline.jobs.db import session_factory, upgrade
    from pipeline.jobs.meetings import import_meeting_file
    from pipeline.jobs.models import Job, JobState
    from pipeline.jobs.queue import make_queue
    from pipeline.jobs.recordings import add_recording

    meetings = meeting_copies(args.meeting.resolve(), args.copies, root, f"{workers}")
    data = DataFolder.open(root / f"data-{workers}")
    db = args.db or data.db_url
    queue_url = args.queue or f"sqlite:///{data.root / 'queue.db'}"
    upgrade(db)
    sessions = session_factory(db)
    mids, seconds = [], 0.0
    with sessions() as s:
        for path in meetings:
            row = import_meeting_file(s, path, data)
            s.flush()
            rec = add_recording(s, data, row.id, audio)
            seconds += rec.duration or 0.0
            mids.append(row.id)
        s.commit()
    procs = [start_worker(data.root, db, queue_url, args, root / f"worker-{workers}-{i}.log") for i in range(workers)]
    try:
        queue = make_queue(data, db, queue_url)
        t0 = time.monotonic()
        jobs = [queue.submit(mid).id for mid in mids]
        while True:
            with sessions() as s:
                states = s.scalars(select(Job.state).where(Job.id.in_(jobs))).all()
            if all(st not in (JobState.QUEUED, JobState.RUNNING) for st in states):
                break
            time.sleep(0.5)
        wall = time.monotonic() - t0
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
    if any(st != JobState.DONE for st in states):
        raise SystemExit(f"{workers} worker(s): not every job ended done: {states}")
    hours, wall_h = seconds / 3600, wall / 3600
    return {"workers": workers, "meetings": len(mids), "audio_s": round(seconds, 1), "wall_s": round(wall, 1),
            "meeting_hours_per_hour": round(hours / wall_h, 2),
            "meeting_hours_per_worker_hour": round(hours / (wall_h * workers), 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--threads", type=int, default=1, help="each worker's --threads")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--audio", type=Path, default=REPO / "tests" / "data" / "sample" / "meeting.flac")
    p.add_argument("--meeting", type=Path, default=REPO / "tests" / "data" / "sample" / "meeting.yaml")
    p.add_argument("--db", help="a fresh PostgreSQL database URL (default: SQLite in each round's data folder)")
    p.add_argument("--queue", help="a fresh redis:// URL (default: Huey's SQLite queue in the data folder)")
    p.add_argument("--workers", default="1,2", help="worker counts, one round each (default 1,2)")
    p.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "service.json")
    args = p.parse_args()

    rounds = []
    with tempfile.TemporaryDirectory(prefix="kaigiroku-bench-service.") as tmp:
        root = Path(tmp)
        for n in (int(x) for x in args.workers.split(",")):
            rounds.append(run_round(n, args.audio.resolve(), args, root))
            print(json.dumps(rounds[-1], ensure_ascii=False), flush=True)
    result = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "device": args.device, "threads_per_worker": args.threads, "audio": str(args.audio),
              "rounds": rounds}
    if len(rounds) >= 2:
        result["throughput_ratio"] = round(rounds[-1]["meeting_hours_per_hour"] / rounds[0]["meeting_hours_per_hour"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
