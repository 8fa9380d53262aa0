"""The shared service's way in (issue 15): logins, sessions, CSRF, the policy by path, and the
audit log of what the API did. Replaces `pipeline.web.auth.TokenGate` when the app runs with
accounts (`kaigiroku server`); the single-PC app keeps the token scheme.

- `/login` (a page) posts JSON {name, password}; a good login sets two cookies: the session
  (HttpOnly, SameSite=Strict, Secure over TLS; its value known to the database only as a hash,
  see pipeline.jobs.accounts) and `kaigiroku_csrf`, readable by the page's script, which sends it
  back as the header X-CSRF-Token on every POST/PUT/PATCH/DELETE (static/account.js does it for
  fetch and XHR). The server compares the header with the session's own token: a page of another
  site can neither read the cookie nor set the header. SameSite=Strict alone would leave old
  browsers and same-site subdomains (another department's intranet page) able to post.
- `Authorization: Bearer TOKEN` (an API token of `kaigiroku users`) needs no CSRF token: no
  browser sends it on its own.
- Without either: /api/ answers 401, a page redirects to /login.
- `access.guard_path` then applies the role and body policy to meeting, job and body paths.
- Successful requests of the documented API are written to the audit log here (AUDITED), so
  every route is covered the same way; routes doing something else worth recording call
  `audit_request`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from ..jobs.accounts import ACTIONS, ROLES, Principal
from ..jobs.options import AccountOptions
from . import access

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "kaigiroku_session"
CSRF_COOKIE = "kaigiroku_csrf"
CSRF_HEADER = "x-csrf-token"
PUBLIC = re.compile(r"^(/login|/static/.*|/healthz|/favicon\.ico)$")
SAFE = {"GET", "HEAD", "OPTIONS"}
JST = timezone(timedelta(hours=9))  # the audit page's days; Japan keeps no summer time
BODY_CAP = 64 << 10  # request/response bytes kept for the audit's details (edits are small JSON)

NOT_LOGGED_IN = "ログインしていません。ログイン画面からログインしてください。"
BAD_TOKEN = "API トークンが正しくないか、無効にされた利用者のものです。kaigiroku users token で作り直してください。"
NO_CSRF = "安全のための確認（CSRF トークン）がありません。画面を読み込み直してから、もう一度操作してください。"


@dataclass(frozen=True)
class Audited:
    """A request of the API that the audit log records when it succeeds (2xx)."""

    method: str
    path: re.Pattern
    action: str
    # (path match, request JSON, response JSON) → detail
    detail: Callable[[re.Match, dict, dict], dict] = lambda m, req, resp: {}
    meeting_from: str = "path"  # "path": group 1 is the meeting; "response": resp["id"]; "about": the guard's


AUDITED = [
    Audited("POST", re.compile(r"^/api/meetings$"), "meeting.created", meeting_from="response"),
    Audited("PUT", re.compile(r"^/api/meetings/(\d+)$"), "meeting.changed"),
    Audited("PATCH", re.compile(r"^/api/meetings/(\d+)$"), "meeting.changed"),
    Audited("DELETE", re.compile(r"^/api/meetings/(\d+)$"), "meeting.deleted"),
    Audited("PUT", re.compile(r"^/api/meetings/(\d+)/recording$"), "recording.uploaded",
            lambda m, req, resp: {"recording": resp.get("id"), "duration": resp.get("duration")}),
    Audited("PUT", re.compile(r"^/api/meetings/(\d+)/voices/([^/]+)$"), "voice.uploaded",
            lambda m, req, resp: {"name": resp.get("name"), "kept": resp.get("kept")}),
    Audited("POST", re.compile(r"^/api/meetings/(\d+)/draft$"), "draft.started",
            lambda m, req, resp: {"job": resp.get("job")}),
    Audited("DELETE", re.compile(r"^/api/jobs/(\d+)$"), "draft.cancelled",
            lambda m, req, resp: {"job": int(m.group(1))}, meeting_from="about"),
    Audited("GET", re.compile(r"^/api/meetings/(\d+)/minutes\.docx$"), "export",
            lambda m, req, resp: {"format": "docx", "public": req.get("public", False)}),
    Audited("POST", re.compile(r"^/meetings/(\d+)/review/api/edit$"), "edit.saved",
            lambda m, req, resp: {k: req[k] for k in ("op", "index", "rev") if k in req}),
    Audited("POST", re.compile(r"^/meetings/(\d+)/review/api/undo$"), "edit.undone",
            lambda m, req, resp: {"rev": req.get("rev")}),
    Audited("POST", re.compile(r"^/meetings/(\d+)/review/api/export$"), "export",
            lambda m, req, resp: {"format": "docx", "name": req.get("name"), "public": bool(req.get("public"))}),
]


def client_address(scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def audit_request(ctx, request, action: str, target: str = "", detail: dict[str, Any] | None = None) -> None:
    """For a route's own audit line (e.g. a recording finished): who, from where, now.
    Nothing is written without accounts (the single-PC app keeps no audit log)."""
    from ..jobs.accounts import audit

    user = access.current(request)
    if user is None:
        return
    with ctx.sessions() as s:
        audit(s, user.id, action, target, detail, client_address(request.scope))
        s.commit()


class AccountGate:
    """ASGI middleware: who the request is (session cookie + CSRF header, or Bearer token),
    then the policy by path, then the audit line of a successful API call."""

    def __init__(self, app, ctx, options: AccountOptions):
        self.app, self.ctx, self.options = app, ctx, options

    async def __call__(self, scope, receive, send):
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        path, method = request.url.path, request.method
        if PUBLIC.match(path):
            return await self.app(scope, receive, send)
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            user = await run_in_threadpool(self._by_token, auth[7:].strip())
            if user is None:
                return await self._refuse(scope, receive, send, 401, BAD_TOKEN)
        else:
            found = await run_in_threadpool(self._by_cookie, request.cookies.get(SESSION_COOKIE, ""))
            if found is None:
                if method in SAFE and not path.startswith("/api/"):
                    from urllib.parse import quote

                    from starlette.responses import RedirectResponse

                    target = path + (f"?{request.url.query}" if request.url.query else "")
                    return await RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)(
                        scope, receive, send)
                return await self._refuse(scope, receive, send, 401, NOT_LOGGED_IN)
            user, csrf = found
            if method not in SAFE:
                import secrets

                given = request.headers.get(CSRF_HEADER, "")
                if not given or not secrets.compare_digest(given.encode(), csrf.encode()):
                    logger.warning("CSRF token missing or wrong: %s %s by %s", method, path, user.name)
                    return await self._refuse(scope, receive, send, 403, NO_CSRF)
        scope[access.SCOPE_KEY] = user
        denied, about = await run_in_threadpool(self._guard, user, method, path)
        if denied is not None:
            return await self._refuse(scope, receive, send, denied.status, denied.message)
        rule = next((r for r in AUDITED if r.method == method and r.path.match(path)), None)
        if rule is None:
            return await self.app(scope, receive, send)
        return await self._audited(scope, receive, send, rule, user, about)

    # ------------------------------------------------------------ helpers (threads)

    def _by_token(self, token: str) -> Principal | None:
        from ..jobs.accounts import principal, user_by_token

        with self.ctx.sessions() as s:
            found = user_by_token(s, token)
            return principal(*found) if found else None

    def _by_cookie(self, cookie: str) -> tuple[Principal, str] | None:
        from ..jobs.accounts import session_user

        with self.ctx.sessions() as s:
            return session_user(s, cookie, self.options)

    def _guard(self, user: Principal, method: str, path: str):
        with self.ctx.sessions() as s:
            return access.guard_path(s, user, method, path)

    async def _refuse(self, scope, receive, send, status: int, message: str):
        from starlette.responses import JSONResponse, PlainTextResponse

        if scope["path"].startswith("/api/"):
            response = JSONResponse({"error": message}, status_code=status, headers={"Cache-Control": "no-store"})
        else:
            response = PlainTextResponse(message, status_code=status, headers={"Cache-Control": "no-store"})
        return await response(scope, receive, send)

    async def _audited(self, scope, receive, send, rule: Audited, user: Principal, about: dict[str, Any]):
        from starlette.concurrency import run_in_threadpool

        sent_in, sent_out = bytearray(), bytearray()
        status = {"code": 0, "json": False}

        async def receive_kept():
            message = await receive()
            if message["type"] == "http.request" and len(sent_in) < BODY_CAP:
                sent_in.extend(message.get("body", b"")[:BODY_CAP - len(sent_in)])
            return message

        async def send_kept(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                ctype = dict(message.get("headers", [])).get(b"content-type", b"")
                status["json"] = ctype.startswith(b"application/json")
            elif message["type"] == "http.response.body" and status["json"] and len(sent_out) < BODY_CAP:
                sent_out.extend(message.get("body", b"")[:BODY_CAP - len(sent_out)])
            await send(message)

        await self.app(scope, receive_kept, send_kept)
        if 200 <= status["code"] < 300:
            try:
                await run_in_threadpool(self._write_audit, rule, scope, user, about, bytes(sent_in), bytes(sent_out))
            except Exception:  # noqa: BLE001 - the action happened; a lost audit line is logged loudly
                logger.exception("audit: could not record %s %s by %s", rule.action, scope["path"], user.name)

    def _write_audit(self, rule: Audited, scope, user: Principal, about, sent_in: bytes, sent_out: bytes) -> None:
        from urllib.parse import parse_qs

        from ..jobs.accounts import audit

        match = rule.path.match(scope["path"])
        req, resp = _json(sent_in), _json(sent_out)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "public" in query:
            req.setdefault("public", query["public"][0] in ("1", "true", "yes"))
        meeting = {"path": lambda: int(match.group(1)), "response": lambda: resp.get("id"),
                   "about": lambda: about.get("meeting")}[rule.meeting_from]()
        with self.ctx.sessions() as s:
            audit(s, user.id, rule.action, f"meeting:{meeting}" if meeting is not None else "",
                  rule.detail(match, req, resp), client_address(scope))
            s.commit()


def _json(raw: bytes) -> dict:
    try:
        data = json.loads(raw.decode("utf-8")) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------- routes

def account_routes(ctx, options: AccountOptions) -> list:
    """/login, /logout, /api/me, /audit and /api/audit."""
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Route

    from .api import ApiError

    no_store = {"Cache-Control": "no-store"}

    def login_page(request: Request):
        return FileResponse(STATIC / "login.html", headers=no_store)

    async def login_post(request: Request):
        from urllib.parse import urlsplit

        from ..jobs.accounts import login, retry_after

        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            raise ApiError(403, "別のサイトからのログインは受け付けません。")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise ApiError(415, "ログインは JSON で送ってください。")
        data = _json(await request.body())
        name, password = str(data.get("name", "")), str(data.get("password", ""))

        def attempt():
            with ctx.sessions() as s:
                result = login(s, name, password, client_address(request.scope), options)
                s.commit()
                return result

        result = await run_in_threadpool(attempt)
        if result.wait_s > 0:
            wait = retry_after(result.wait_s)
            return JSONResponse({"error": f"ログインの失敗が続いたため、{wait} 秒後にもう一度お試しください。",
                                 "retry_after": wait}, status_code=429,
                                headers={**no_store, "Retry-After": str(wait)})
        if result.user is None:
            raise ApiError(401, "名前かパスワードが違います。")
        nxt = str(data.get("next") or "/")
        if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
            nxt = "/"  # only this site's own pages
        response = JSONResponse({"name": result.user.name, "role": result.user.role, "next": nxt}, headers=no_store)
        secure = request.url.scheme == "https"
        response.set_cookie(SESSION_COOKIE, result.cookie, max_age=int(options.session_max_s), httponly=True,
                            samesite="strict", secure=secure, path="/")
        response.set_cookie(CSRF_COOKIE, result.csrf, max_age=int(options.session_max_s), httponly=False,
                            samesite="strict", secure=secure, path="/")
        return response

    async def logout_post(request: Request):
        from ..jobs.accounts import audit, logout

        user = access.current(request)

        def end():
            with ctx.sessions() as s:
                logout(s, request.cookies.get(SESSION_COOKIE, ""))
                if user is not None:
                    audit(s, user.id, "logout", f"user:{user.name}", {}, client_address(request.scope))
                s.commit()

        await run_in_threadpool(end)
        response = JSONResponse({"ok": True}, headers=no_store)
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            response.delete_cookie(name, path="/")
        return response

    def me(request: Request):
        user = access.current(request)
        return JSONResponse({"name": user.name, "role": user.role, "role_label": ROLES.get(user.role, user.role),
                             "body": user.body}, headers=no_store)

    def audit_page(request: Request):
        return FileResponse(STATIC / "audit.html", headers=no_store)

    def audit_list(request: Request):
        with ctx.sessions() as s:
            return JSONResponse({"entries": audit_entries(s, request.query_params)}, headers=no_store)

    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout_post, methods=["POST"]),
        Route("/api/me", me, methods=["GET"]),
        Route("/audit", audit_page, methods=["GET"]),
        Route("/api/audit", audit_list, methods=["GET"]),
    ]


def _day(text: str, name: str) -> date:
    from .api import ApiError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(422, f"{name}「{text}」が読めません。2024-10-15 の形にしてください。") from None


def audit_entries(s, params) -> list[dict[str, Any]]:
    """GET /api/audit: newest first; ?user=NAME, ?meeting=ID, ?action=…, ?from=/?to=YYYY-MM-DD
    (days in Japan time, both included), ?limit= (≤ 1000, default 200)."""
    from sqlalchemy import select

    from ..jobs.models import AuditEntry, User
    from .api import ApiError

    query = select(AuditEntry, User.name).outerjoin(User, User.id == AuditEntry.user_id)
    if params.get("user"):
        query = query.where(User.name == params["user"])
    if params.get("meeting"):
        if not params["meeting"].isdigit():
            raise ApiError(422, "meeting には会議の番号を指定してください。")
        query = query.where(AuditEntry.target == f"meeting:{int(params['meeting'])}")
    if params.get("action"):
        query = query.where(AuditEntry.action == params["action"])
    if params.get("from"):
        start = datetime.combine(_day(params["from"], "開始日"), datetime.min.time(), JST)
        query = query.where(AuditEntry.at >= start)
    if params.get("to"):
        end = datetime.combine(_day(params["to"], "終了日") + timedelta(days=1), datetime.min.time(), JST)
        query = query.where(AuditEntry.at < end)
    limit = params.get("limit", "200")
    limit = min(1000, int(limit)) if limit.isdigit() and int(limit) > 0 else 200
    rows = s.execute(query.order_by(AuditEntry.id.desc()).limit(limit)).all()
    out = []
    for entry, name in rows:
        meeting = int(entry.target.split(":", 1)[1]) if entry.target.startswith("meeting:") else None
        out.append({"id": entry.id, "at": entry.at.astimezone(JST).isoformat(timespec="seconds"), "user": name,
                    "action": entry.action, "action_label": ACTIONS.get(entry.action, entry.action),
                    "target": entry.target, "meeting": meeting, "detail": entry.detail, "address": entry.address})
    return out
