"""A draft worker: `python -m pipeline.jobs worker --data DIR [--db URL] [--queue URL]`.

A Huey consumer (threads) that runs one draft at a time per worker thread and sweeps for the
jobs of dead workers. The app starts one beside itself; a service runs them on other machines
(`kaigiroku worker`, pipeline/cli_service.py: the same `run_worker` with `preload`, `--queue
redis://…`, `--db postgresql://…`, `--data` a shared folder).

With `preload` the models are loaded once at start and kept for every job of the process
(pipeline.models.LOADED); the app's worker loads them per draft instead, so a clerk's PC that
drafts nothing today keeps its memory. Either way the worker writes its own heartbeat row
(pipeline/jobs/workers.py) for /healthz and the job list.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import KaigirokuError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline.jobs", description="原稿作成の作業を待って実行します。")
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="原稿作成の作業者（Huey のコンシューマー）")
    w.add_argument("--data", type=Path, help="データフォルダ（既定: ~/kaigiroku）")
    w.add_argument("--db", help="データベースの URL（既定: データフォルダの SQLite）")
    w.add_argument("--queue", default="", help="キューの URL（既定: データフォルダの SQLite。redis://… も可）")
    w.add_argument("--config", type=Path, help="設定ファイル（jobs: の間隔など）")
    w.add_argument("--threads", type=int, help="CPU のスレッド数")
    w.add_argument("--device", choices=("cpu", "cuda"), help="計算に使う装置")
    w.add_argument("--model", help="音声認識モデル（--preload で起動時に読み込むもの。サーバーの --model と同じに）")
    w.add_argument("--preload", action="store_true", help="起動時にモデルを読み込み、以後の作業で使い回す")
    w.add_argument("--workers", type=int, default=1, help="同時に作る原稿の数（既定 1）")
    w.add_argument("--with-parent", action="store_true",
                   help="標準入力が閉じたら終わる（kaigiroku app が起動した作業者: アプリが落ちたら一緒に終わる）")
    w.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    from ..privacy import apply_offline_env

    apply_offline_env()  # before anything can import a model library
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run_worker(args)
    except KaigirokuError as e:
        print(f"エラー: {e.message}", file=sys.stderr)
        return 1


def _exit_with_parent() -> None:
    """End this process when standard input reaches its end: the app holds the other end of
    the pipe, and the OS closes it however the app ends (Ctrl-C, a crash, kill -9, a power
    button), on every OS. A draft cut off here is what a dead worker leaves: its row's heartbeat
    stops, the next worker's sweep queues it again and it resumes from the stage cache."""
    import os
    import threading

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(1 << 16):
                pass
        except (OSError, ValueError):
            pass
        logging.getLogger(__name__).warning("the app that started this worker has ended; stopping")
        os._exit(0)  # no clean-up to wait for: the job rows and the stage cache are crash-safe

    threading.Thread(target=watch, name="kaigiroku-parent-watch", daemon=True).start()


def run_worker(args) -> int:
    """The worker of `args` (this module's parser, or `kaigiroku worker`'s: data, db, queue,
    config, threads, device, model, workers, with_parent, preload), until Ctrl-C or SIGTERM."""
    from ..config import load_options
    from ..memory import limit_malloc_arenas
    from ..models import LOADED
    from .data import DataFolder
    from .db import check_schema
    from .queue import make_queue
    from .runner import worker_id
    from .workers import WorkerBeat, WorkerInfo, end_life, hold_life

    limit_malloc_arenas()  # before the consumer's and the models' threads start
    if args.with_parent:
        _exit_with_parent()
    data = DataFolder.open(args.data)
    db_url = args.db or data.db_url
    check_schema(db_url)
    options = load_options(args.config)
    overrides = {"transcribe": {"cpu_threads": args.threads, "device": args.device},
                 "diarize": {"device": args.device}}
    if args.device == "cuda":
        overrides["transcribe"]["compute_type"] = "float16"
    queue = make_queue(data, db_url, args.queue, job_options=options.jobs, worker_overrides=overrides)
    queue.check()
    model = args.model or load_options(None).transcribe.model
    if args.preload:
        LOADED.keep(True)
        preload(model, overrides)
    name = worker_id()
    life = hold_life(data.root, name)  # before the first sweep: it must not find this worker dead
    beat = WorkerBeat(queue.sessions, WorkerInfo(name, args.device or "cpu", model, args.workers),
                      options.jobs).start()
    sweeper = queue.start_sweeper()
    consumer = queue.consumer(args.workers)
    print(f"作業を待っています（データ: {data.root}）。終えるときは Ctrl-C を押してください。", flush=True)
    try:
        consumer.run()
    finally:
        sweeper.set()
        beat.stop()
        end_life(data.root, name, life)
    return 0


def preload(model: str, worker_overrides: dict) -> None:
    """Load Whisper (and the speaker models, when drafts use them) into this process's kept
    models, with the same options a job of this worker gets (runner.run_job merges the same
    overrides), so the first job finds them loaded."""
    import time

    from ..config import load_options
    from ..diarize import borrow_diarizer, resolve_models
    from ..models import resolve
    from ..transcribe import borrow_whisper
    from .runner import _merge

    t0 = time.perf_counter()
    options = load_options(None, _merge({"transcribe": {"model": model}}, worker_overrides))
    with borrow_whisper(resolve(options.transcribe.model, "asr"), options.transcribe):
        pass
    if options.diarize.enabled:
        with borrow_diarizer(options.diarize, resolve_models(options.diarize)):
            pass
    logging.getLogger(__name__).info("models loaded at start in %.1f s", time.perf_counter() - t0)
