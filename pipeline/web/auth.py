"""The loopback token scheme of kaigiroku's web pages (`kaigiroku review`, `kaigiroku app`).

Both listen on 127.0.0.1 only. Every request needs a random token: the address printed in the
clerk's own terminal carries it (``?token=``), the first page load trades it for a cookie
(HttpOnly, SameSite=Strict, named after the port so two pages on one PC do not log each other
out), and scripts may send it as the header ``X-Kaigiroku-Token``. The browser kaigiroku starts
itself gets a one-time code instead (see OneTimeCode). A request addressed to another host name
(a DNS-rebinding page) is refused whatever it carries.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time

from ..errors import KaigirokuError

HOST = "127.0.0.1"  # loopback only: the minutes carry personal information
HEADER = "x-kaigiroku-token"


class OneTimeCode:
    """What the browser is started with instead of the token.

    `webbrowser.open` puts the address on the browser's command line, which any local user can
    read (`ps`) for as long as the browser runs. This code opens the page once, within a couple
    of minutes, and is worthless after that; the token itself never leaves this process except
    in the cookie and in the address printed to the clerk's own terminal.
    """

    def __init__(self, ttl_s: float = 120.0):
        self.value = secrets.token_urlsafe(32)
        self._expires = time.monotonic() + ttl_s
        self._used = False
        self._lock = threading.Lock()

    def redeem(self, given: str) -> bool:
        with self._lock:
            ok = (not self._used and time.monotonic() < self._expires
                  and secrets.compare_digest(given.encode(), self.value.encode()))
            self._used = self._used or ok
            return ok


class TokenGate:
    """ASGI middleware: refuses a request unless it carries the token (cookie, header or
    ?token=) and is addressed to the loopback host.

    `command` names the program in the refusal ("kaigiroku review"). `landing`: HTML answered
    to ``GET /`` without any credential (the app's "open the printed address" page; it shows
    nothing of the data); None answers that with the refusal too. `missing_status`: the status
    when no credential at all was sent (the app: 401; a wrong one is always 403). Paths under
    /api/ are refused as JSON {"error": ...}, the others as text.
    """

    def __init__(self, app, *, token: str, port: int, launch: OneTimeCode, command: str = "kaigiroku review",
                 landing: str | None = None, missing_status: int = 403):
        self.app, self.token, self.launch = app, token, launch
        self.command, self.landing, self.missing_status = command, landing, missing_status
        self.cookie = f"kaigiroku_{port}"
        self.hosts = {f"{HOST}:{port}", f"localhost:{port}"}

    async def __call__(self, scope, receive, send):
        from starlette.requests import Request

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        host_ok = request.headers.get("host") in self.hosts
        if request.url.path == "/" and "code" in request.query_params and host_ok:
            if not self.launch.redeem(request.query_params["code"]):
                return await self._refuse(scope, receive, send, request, 403,
                                          f"このアドレスは使用済みです。{self.command} が表示したアドレス（token= 付き）を開いてください。")
            return await self._enter(scope, receive, send)
        given = (request.query_params.get("token") or request.headers.get(HEADER)
                 or request.cookies.get(self.cookie) or "")
        if not host_ok or not secrets.compare_digest(given.encode(), self.token.encode()):
            if host_ok and not given and self.landing is not None and request.url.path == "/" \
                    and request.method in ("GET", "HEAD"):
                from starlette.responses import HTMLResponse

                return await HTMLResponse(self.landing, headers={"Cache-Control": "no-store"})(scope, receive, send)
            status = self.missing_status if host_ok and not given else 403
            return await self._refuse(scope, receive, send, request, status,
                                      f"アクセスできません。{self.command} が表示したアドレス（token= 付き）を開いてください。")
        if "token" in request.query_params and request.url.path == "/":
            return await self._enter(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _refuse(self, scope, receive, send, request, status: int, message: str):
        from starlette.responses import JSONResponse, PlainTextResponse

        if request.url.path.startswith("/api/"):
            response = JSONResponse({"error": message}, status_code=status)
        else:
            response = PlainTextResponse(message, status_code=status)
        return await response(scope, receive, send)

    async def _enter(self, scope, receive, send):
        """Trade the token or the one-time code in the address for a cookie, and take it out of
        the address bar."""
        from starlette.responses import RedirectResponse

        response = RedirectResponse("/", status_code=303)
        response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict", path="/")
        return await response(scope, receive, send)


def listen(port: int) -> socket.socket:
    """A listening socket on the loopback address only; port 0 picks a free one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: SO_REUSEADDR would let another program share the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as e:
        sock.close()
        raise KaigirokuError(f"ポート {port} は使われています。--port で別の番号を指定するか、省いて空いている番号を使ってください。",
                             str(e)) from e
    sock.listen(64)
    return sock
