"""`kaigiroku server` and `kaigiroku worker`: the shared service of a city hall (issue 15).

    kaigiroku server --data DIR --db URL --queue URL [--host H] [--port N] [--no-browser]
                     [--cert F --key F | --behind-proxy] [--model NAME] [--with-worker]
    kaigiroku worker --data DIR --db URL --queue URL [--device cpu|cuda] [--threads N] [--model NAME]

The server is `kaigiroku app`'s web app on a shared database (`--db postgresql://…`) and queue
(`--queue redis://…`), without a worker of its own unless `--with-worker` (one VM: the server
and one worker together; a worker machine runs `kaigiroku worker`). Workers reach the files
through the data folder, a shared folder (NFS/SMB) that every worker mounts and names with
`--data`: the database stores paths relative to it.

Listening: 127.0.0.1 unless `--host` says otherwise; beyond loopback the minutes (personal
information) must not cross the network in clear text, so `--host` then needs TLS (`--cert`
and `--key`, served by uvicorn) or `--behind-proxy` (a reverse proxy on the same network
segment terminates TLS; README "共有サービス"). Otherwise one Japanese line and exit 2.

`--db` and `--queue` may come from the environment (KAIGIROKU_DB, KAIGIROKU_QUEUE), so that a
password in a URL is not on the command line that `ps` shows (or use ~/.pgpass).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

from .errors import KaigirokuError

DEFAULT_PORT = 8080
LOOPBACK = "127.0.0.1"


def add_parsers(sub) -> None:
    """The two subcommands, on `kaigiroku`'s subparsers."""
    s = sub.add_parser("server", help="共有サービス: 複数の利用者・複数の作業PCで使う（PostgreSQL と Redis）")
    _shared_arguments(s)
    s.add_argument("--host", help="待ち受けるアドレス（既定: 127.0.0.1 だけ。外から使うときは --cert/--key か --behind-proxy も）")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"ポート番号（既定 {DEFAULT_PORT}。0 は空いている番号）")
    s.add_argument("--no-browser", action="store_true", help="ブラウザを開かない")
    s.add_argument("--cert", type=Path, help="TLS の証明書（PEM）")
    s.add_argument("--key", type=Path, help="TLS の秘密鍵（PEM）")
    s.add_argument("--behind-proxy", action="store_true",
                   help="TLS はリバースプロキシ（nginx など）が受け持つ（README の共有サービスの構成）")
    s.add_argument("--model", help="原稿作成に使う音声認識モデル（作業者の --model と同じに）")
    s.add_argument("--with-worker", action="store_true",
                   help="作業者を1つ、サーバーと一緒に起動して終了する（1台の VM で動かすとき）")

    w = sub.add_parser("worker", help="共有サービスの作業者: キューの原稿作成を1件ずつ実行する（モデルは起動時に1回読み込む）")
    _shared_arguments(w)
    w.add_argument("--device", choices=("cpu", "cuda"), help="計算に使う装置（既定: 設定ファイル）")
    w.add_argument("--threads", type=int, help="CPU のスレッド数")
    w.add_argument("--model", help="起動時に読み込む音声認識モデル（サーバーの --model と同じに）")
    w.add_argument("--config", type=Path, help="設定ファイル（jobs: の間隔など）")


def _shared_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True,
                   help="データフォルダ（共有フォルダ。作業PCでも同じフォルダをマウントして指定）")
    p.add_argument("--db", default=os.environ.get("KAIGIROKU_DB"),
                   help="データベースの URL（postgresql://…、既定: 環境変数 KAIGIROKU_DB、なければデータフォルダの SQLite）")
    p.add_argument("--queue", default=os.environ.get("KAIGIROKU_QUEUE", ""),
                   help="キューの URL（redis://…、既定: 環境変数 KAIGIROKU_QUEUE、なければデータフォルダの SQLite）")


def run(args) -> int:
    if args.command == "server":
        return _server(args)
    return _worker(args)


# ---------------------------------------------------------------- server

def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_problem(host: str | None, cert: Path | None, key: Path | None, behind_proxy: bool) -> str | None:
    """Why these listening options are refused (one Japanese line), or None."""
    if (cert is None) != (key is None):
        return "TLS には --cert（証明書）と --key（秘密鍵）の両方を指定してください。"
    for path in (cert, key):
        if path is not None and not path.is_file():
            return f"TLS のファイル {path} がありません。--cert と --key のパスを確認してください。"
    if host is None or is_loopback(host):
        return None
    if cert is None and not behind_proxy:
        return (f"{host} で待ち受けると会議録が暗号化されずにネットワークを流れます。--cert と --key で TLS を使うか、"
                "TLS を受け持つリバースプロキシの後ろに置いて --behind-proxy を付けてください。")
    return None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host` (IPv4 or IPv6)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise KaigirokuError(f"待ち受けるアドレス {host} が見つかりません。--host を確認してください。", str(e)) from e
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise KaigirokuError(f"{host} のポート {port} で待ち受けられません（使用中か、このPCのアドレスではありません）。"
                             "--host と --port を確認してください。", str(e)) from e
    sock.listen(256)
    return sock


def start_worker(args) -> subprocess.Popen:
    """`--with-worker`: one worker beside the server, ending with it (the app's worker command:
    its stdin pipe closes when the server ends, however it ends)."""
    cmd = [sys.executable, "-m", "pipeline.jobs", "worker", "--data", str(args.data), "--with-parent", "--preload"]
    for flag, value in (("--db", args.db), ("--queue", args.queue), ("--model", args.model)):
        if value:
            cmd += [flag, value]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)


def _server(args) -> int:
    from .web.app import create_app, prepare_app, stop_worker

    problem = listening_problem(args.host, args.cert, args.key, args.behind_proxy)
    if problem:
        print(f"エラー: {problem}", file=sys.stderr)
        return 2
    host = args.host or LOOPBACK
    sock = bind(host, args.port)
    try:
        # accounts: logins, roles and the audit log instead of the single PC's token
        server, sock = prepare_app(args.data, args.port, args.model, accounts=True, db_url=args.db or None,
                                   queue_url=args.queue or "", sock=sock)
    except BaseException:
        sock.close()
        raise
    scheme = "https" if args.cert else "http"
    shown = LOOPBACK if host in ("0.0.0.0", "::") else host
    address = f"{scheme}://{_host_in_url(shown)}:{server.port}/login"
    print(f"kaigiroku server: {address}", flush=True)
    print(f"データフォルダ: {server.context.data.root}", flush=True)
    if not _has_users(server):
        print("アカウントがまだありません。`kaigiroku users add 名前 --role admin --db …` で管理者を作ってから"
              "ログインしてください。", flush=True)
    if not args.with_worker:
        print("原稿を作るには作業者（kaigiroku worker）を起動してください。終えるときは Ctrl-C を押してください。", flush=True)
    worker = start_worker(args) if args.with_worker else None
    try:
        import uvicorn

        config = uvicorn.Config(create_app(server), log_level="warning", lifespan="off", access_log=False,
                                server_header=False, ssl_certfile=args.cert, ssl_keyfile=args.key,
                                proxy_headers=args.behind_proxy)
        if not args.no_browser and not args.cert and is_loopback(host):
            import threading
            import webbrowser

            threading.Timer(0.5, webbrowser.open, args=(address,)).start()
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops cleanly on Ctrl-C, then re-raises it
        pass
    finally:
        if worker is not None:
            stop_worker(worker)
        sock.close()
    print("kaigiroku server を終了しました。", flush=True)
    return 0


def _has_users(server) -> bool:
    from sqlalchemy import select

    from .jobs.models import User

    with server.context.sessions() as s:
        return s.scalar(select(User.id).limit(1)) is not None


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# ---------------------------------------------------------------- worker

def _worker(args) -> int:
    from .jobs.worker import run_worker

    args.workers, args.with_parent, args.preload = 1, False, True  # one draft at a time per process
    return run_worker(args)
