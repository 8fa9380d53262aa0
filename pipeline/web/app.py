"""`kaigiroku app`: the clerk's window — meetings, recordings, drafts, review and Word (issue 14).

A Starlette app served by uvicorn on 127.0.0.1 only, behind the review page's token scheme
(`pipeline.web.auth`: the printed address carries ``token=``, the browser gets a one-time code,
the API also takes the header X-Kaigiroku-Token; without any credential only ``GET /``
answers, with a page that says which address to open). Everything is served from
`pipeline/web/static/` (no CDN: town-hall PCs may be on a closed network).

- `/`: the meeting list (static/app.*), which uses the JSON API of `pipeline.web.api`;
- `/bodies`: bodies and their rosters (static/bodies.*, API in `pipeline.web.roster`);
- `/meetings/new`, `/meetings/{id}/edit`: the meeting form (static/meeting.*, API in
  `pipeline.web.prepare`, with 完了 and what it learns);
- `/meetings/{id}/record`: the recording page, `/meetings/{id}/voices` and `/bodies/{id}/voices`:
  voice registration (static/record.*, static/voice.*; the recorder in `pipeline.web.capture`);
- `/meetings/{id}/review/`: the review page (`review.review_app`) on the meeting's latest
  draft, with the same saving, undo and conflict rules as `kaigiroku review`;
- drafts run in one worker process beside the app (``python -m pipeline.jobs worker --data
  DIR``, the same as a service's workers), started and stopped with it; the queue is Huey on
  SQLite in the data folder, and the job rows carry progress, cancel and restarts.

The data folder (default ~/kaigiroku) is created private and its database upgraded with the
migrations at start.

With `accounts` (the shared service, `kaigiroku server`) the token scheme gives way to
`pipeline.web.login.AccountGate`: a login page, sessions with a CSRF token, Bearer API tokens,
the role and body policy of `pipeline.web.access`, and the audit log (/audit, /api/audit).
"""

from __future__ import annotations

import logging
import secrets
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import KaigirokuError
from .access import Denied
from .api import ApiError, AppContext, draft_files, routes
from ..jobs.options import AccountOptions
from .auth import HOST, OneTimeCode, TokenGate, listen
from .prepare import routes as prepare_routes
from .roster import routes as roster_routes
from .health import with_health, worker_routes
from .responses import STATIC, static_page

logger = logging.getLogger(__name__)

WORKER_STOP_S = 15.0  # s the worker gets to end before it is killed

LANDING = """<!doctype html><html lang="ja"><meta charset="utf-8"><title>kaigiroku</title>
<body style="font-family:sans-serif;margin:3em"><h1>kaigiroku</h1>
<p>この画面を開くには、kaigiroku app を起動したときに表示されたアドレス（token= 付き）を開いてください。</p></body></html>"""


@dataclass
class AppServer:
    context: AppContext
    token: str
    port: int
    launch: OneTimeCode = field(default_factory=OneTimeCode)
    # the shared service's accounts (`kaigiroku server`): logins, roles, audit log instead of
    # the token scheme (pipeline.web.login); None: the single-PC app
    accounts: AccountOptions | None = None
    capture: Any = None  # capture.CaptureSlot: the app's one recorder, made with the first app
    instance: Any = None  # the single-PC app's lock on its data folder (fileio.hold_lock), held while it runs


def prepare_app(data_dir: str | Path | None = None, port: int = 0, model: str | None = None,
                accounts: AccountOptions | bool | None = None, *, db_url: str | None = None, queue_url: str = "",
                sock: socket.socket | None = None) -> tuple[AppServer, socket.socket]:
    """The data folder (created, database upgraded), the queue and the listening socket:
    everything that can fail, before serving. `accounts`: True (the configured options) or
    AccountOptions for the multi-user mode. `db_url`, `queue_url`, `sock`: the shared
    service's (`kaigiroku server`, pipeline/cli_service.py); the app's are the data folder's
    SQLite files and a loopback socket on `port`."""
    from ..jobs.data import DataFolder
    from ..jobs.db import upgrade
    from ..jobs.queue import make_queue

    data = DataFolder.open(data_dir)
    instance = None
    if not accounts and db_url is None:
        # one app per data folder: a second start (a double-click on the launcher) would start a
        # second worker and compete for the microphone
        from ..fileio import hold_lock

        instance = hold_lock(data.root / "app.lock")
        if instance is None:
            raise KaigirokuError(f"このデータフォルダ（{data.root}）の kaigiroku app は既に動いています。開いているブラウザの"
                                 "画面を使うか、そちらを Ctrl-C で終了してから起動してください。", "app.lock held")
    shared = db_url is not None
    db_url = db_url or data.db_url
    try:
        upgrade(db_url)
    except KaigirokuError:
        raise
    except Exception as e:  # noqa: BLE001 - a locked, newer or damaged database; a server that does not answer
        raise KaigirokuError("データベース（--db）に接続できません。アドレス・ユーザー・パスワードと、サーバーが動いているかを確認してください。"
                             if shared else
                             f"データベース {data.db_path} を開けません。別の kaigiroku app が動いていないか確認してください。",
                             str(e)) from e
    if model:
        from ..models import resolve

        resolve(model, "asr")  # an unknown model fails now, not in every draft
    queue = make_queue(data, db_url, queue_url)
    queue.check()
    sock = sock or listen(port)
    context = AppContext(data=data, db_url=db_url, queue=queue, model=model)
    if accounts is True:
        from ..config import load_options

        accounts = load_options(None).accounts
    return AppServer(context, secrets.token_urlsafe(32), sock.getsockname()[1],
                     accounts=accounts or None, instance=instance), sock


class ReviewMount:
    """/meetings/{id}/review/…: the review page on the meeting's latest draft (one review app
    per draft file, made when first opened)."""

    def __init__(self, server: AppServer):
        self.server = server
        self._apps: dict[tuple[int, Path], object] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import PlainTextResponse

        mid = scope["path_params"]["mid"]
        files = await run_in_threadpool(draft_files, self.server.context, mid)
        if files is None:
            response = PlainTextResponse("この会議の原稿はまだありません。会議一覧で原稿作成を押し、終わってから開いてください。",
                                         status_code=404)
            return await response(scope, receive, send)
        with self._lock:
            app = self._apps.get((mid, files[0]))
            if app is None:
                from .review import ReviewOptions, review_app

                options = ReviewOptions(files[0], files[1] if files[1].is_file() else None,
                                        self.server.token, self.server.port, self.server.launch, in_app=True)
                app = self._apps[(mid, files[0])] = review_app(options)
        return await app(scope, receive, send)


def create_app(server: AppServer):
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    index = static_page("app.html")
    page = static_page

    def review_slash(request: Request):
        return RedirectResponse(f"/meetings/{request.path_params['mid']}/review/", status_code=307)

    def api_error(request: Request, e: ApiError):
        return JSONResponse({"error": e.message}, status_code=e.status)

    def denied(request: Request, e: Denied):  # pipeline.web.access: 404 as if missing, or 403
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": e.message}, status_code=e.status)
        return PlainTextResponse(e.message, status_code=e.status)

    def kaigiroku_error(request: Request, e: KaigirokuError):
        logger.warning("app: %s (%s)", e.message, e.detail)
        return JSONResponse({"error": e.message}, status_code=500)

    def http_error(request: Request, e: HTTPException):
        messages = {404: "そのページや項目はありません。", 405: "その操作はこのアドレスでは使えません。"}
        message = messages.get(e.status_code, "要求を処理できませんでした。")
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=e.status_code)
        return PlainTextResponse(message, status_code=e.status_code)

    def unexpected(request: Request, e: Exception):
        logger.exception("app: unexpected error on %s", request.url.path)
        return JSONResponse({"error": f"予期しないエラーが起きました（{type(e).__name__}）。管理者に連絡してください。"},
                            status_code=500)

    extra = []
    if server.accounts is not None:
        from .login import account_routes

        extra = account_routes(server.context, server.accounts)

    recording = []
    if server.accounts is None:
        # the rig's microphone is on the PC the app runs on: recording is the single-PC app's,
        # not a shared server's (whose input no clerk sits at)
        from .capture import CaptureSlot, routes as capture_routes

        if server.capture is None:
            server.capture = CaptureSlot(server.context)
        recording = [*capture_routes(server.context, server.capture),
                     Route("/meetings/{mid:int}/record", page("record.html")),
                     Route("/meetings/{mid:int}/voices", page("voice.html")),
                     Route("/bodies/{bid:int}/voices", page("voice.html"))]
    app = Starlette(routes=[
        Route("/", index),
        *extra,
        *routes(server.context),
        *roster_routes(server.context),  # 附属機関と名簿
        *prepare_routes(server.context),  # 会議の準備, 完了
        *worker_routes(server.context),
        *recording,
        Route("/meetings/{mid:int}/review", review_slash),
        Mount("/meetings/{mid:int}/review", app=ReviewMount(server)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], exception_handlers={ApiError: api_error, Denied: denied, KaigirokuError: kaigiroku_error, HTTPException: http_error,
                           Exception: unexpected})
    if server.accounts is not None:
        from .login import AccountGate

        return with_health(AccountGate(app, server.context, server.accounts), server.context)
    return with_health(TokenGate(app, token=server.token, port=server.port, launch=server.launch,
                                 command="kaigiroku app", landing=LANDING, missing_status=401), server.context)


# ---------------------------------------------------------------- worker and serving

def start_worker(data_root: Path) -> subprocess.Popen:
    """The draft worker beside the app: the same command as a service's workers. Its own
    entry point applies the privacy environment before anything else."""
    # --with-parent: the worker ends when this process does, even killed (it watches the pipe
    # on its standard input, which the OS closes with us)
    cmd = [sys.executable, "-m", "pipeline.jobs", "worker", "--data", str(data_root), "--with-parent"]
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows: no console window of its own
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, creationflags=flags)


def stop_worker(proc: subprocess.Popen) -> None:
    """End the worker now (its stdin closed; else terminate, then kill): a draft it was running
    stays in the stage cache, and its job is queued again by the next worker's sweep (the row's
    heartbeat stops)."""
    if proc.poll() is not None:
        return
    try:
        proc.stdin.close()  # the worker's own signal to end (see start_worker)
    except OSError:
        pass
    try:
        proc.wait(2.0)
        return
    except subprocess.TimeoutExpired:
        pass
    proc.terminate()  # SIGTERM: Huey's consumer stops at once; Windows: TerminateProcess
    try:
        proc.wait(WORKER_STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_server(server: AppServer):
    import uvicorn

    config = uvicorn.Config(create_app(server), log_level="warning", lifespan="off",
                            access_log=False, server_header=False)
    return uvicorn.Server(config)


def url_for(server: AppServer) -> str:
    return f"http://{HOST}:{server.port}/?token={server.token}"


def browser_url(server: AppServer) -> str:
    return f"http://{HOST}:{server.port}/?code={server.launch.value}"


def serve(server: AppServer, sock: socket.socket, open_browser: bool = True) -> None:
    """Serve with the worker beside, until Ctrl-C; the worker stops with the app."""
    worker = start_worker(server.context.data.root)
    try:
        if open_browser:
            import webbrowser

            threading.Timer(0.5, webbrowser.open, args=(browser_url(server),)).start()
        make_server(server).run(sockets=[sock])
    finally:
        if server.capture is not None:
            server.capture.shutdown()  # a meeting being recorded is kept as FLAC
        stop_worker(worker)
        sock.close()
