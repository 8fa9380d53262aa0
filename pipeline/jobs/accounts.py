"""Accounts of the shared service (issue 15): users, passwords, API tokens, login sessions, the
login limit and the audit log. Plain functions over a SQLAlchemy session; the web gate
(pipeline.web.login) and `kaigiroku users` (pipeline.jobs.users) both call these.

- Passwords: Argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile: 64 MiB, 3 passes),
  rehashed at the next login when those defaults change.
- API tokens and session cookies: 256 random bits, stored as their SHA-256. A slow hash buys
  nothing against a guess of 256 bits, and a fast one can be looked up by index on every request;
  a copy of the database still opens nothing.
- The login limit counts the audit log's failed logins (per account and per client address), so
  it holds across server processes and restarts with no store of its own.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..errors import KaigirokuError
from .models import AuditEntry, Body, LoginSession, User, utcnow
from .options import AccountOptions

logger = logging.getLogger(__name__)

ROLES = {"admin": "管理者", "editor": "編集者", "recorder": "録音者"}

# What the audit log records (action → what the admin page shows).
ACTIONS = {
    "login.ok": "ログイン", "login.failed": "ログイン失敗", "logout": "ログアウト",
    "meeting.created": "会議の登録", "meeting.changed": "会議の変更", "meeting.deleted": "会議の削除",
    "recording.uploaded": "録音の取り込み", "recording.recorded": "録音", "voice.uploaded": "声の登録",
    "draft.started": "原稿作成の開始", "draft.cancelled": "原稿作成の取り消し",
    "edit.saved": "校正の保存", "edit.undone": "校正の取り消し", "export": "書き出し",
    "user.added": "利用者の登録", "user.disabled": "利用者の無効化", "user.token": "API トークンの再発行",
    "user.password": "パスワードの変更",
}


@dataclass(frozen=True)
class Principal:
    """Who a request is (the web gate's answer), detached from any database session."""

    id: int
    name: str
    role: str  # admin | editor | recorder
    body_id: int | None
    body: str | None  # the body's name, for messages


def principal(user: User, body: Body | None) -> Principal:
    return Principal(user.id, user.name, user.role, user.body_id, body.name if body is not None else None)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------- passwords

# Argon2 takes 64 MiB and ~130 ms (2-core PC) per check: at most this many at once, so a burst
# of logins (or a guesser) cannot take the server's memory (40 request threads × 64 MiB)
HASHING = threading.BoundedSemaphore(4)


def _hasher():
    try:
        from argon2 import PasswordHasher
    except ImportError as e:
        raise KaigirokuError("パスワードの照合には argon2-cffi が必要です。pip install 'kaigiroku[service]' で入れてください。",
                             str(e)) from e
    return PasswordHasher()


def hash_password(password: str) -> str:
    with HASHING:
        return _hasher().hash(password)


# a hash to verify against when the name is unknown: a failed login takes as long either way,
# so the answer's time does not tell which names exist
_DUMMY: list[str] = []


def check_password(user: User | None, password: str) -> bool:
    """The password is the user's (Argon2); rehashed in place when the parameters changed."""
    with HASHING:
        return _check(_hasher(), user, password)


def _check(ph, user: User | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    if user is None or not user.password_hash:
        if not _DUMMY:
            _DUMMY.append(ph.hash(secrets.token_hex(16)))
        try:
            ph.verify(_DUMMY[0], password)
        except VerificationError:
            pass
        return False
    try:
        ph.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if ph.check_needs_rehash(user.password_hash):
        user.password_hash = ph.hash(password)
    return True


def check_new_password(password: str, options: AccountOptions) -> None:
    if len(password) < options.min_password_chars:
        raise KaigirokuError(f"パスワードは {options.min_password_chars} 文字以上にしてください。")
    if password != password.strip():
        raise KaigirokuError("パスワードの最初と最後に空白は使えません。")


# ---------------------------------------------------------------- users

def find_user(s, name: str) -> User | None:
    from sqlalchemy import select

    return s.scalar(select(User).where(User.name == name))


def _user(s, name: str) -> User:
    user = find_user(s, name)
    if user is None:
        raise KaigirokuError(f"利用者「{name}」は登録されていません。kaigiroku users list で名前を確認してください。")
    return user


def add_user(s, name: str, role: str, password: str, body_name: str | None, options: AccountOptions,
             by: str = "コマンド") -> tuple[User, str, bool]:
    """A new user with a password and an API token; returns (user, token, body created). The
    body is created when it is not registered yet (the service's accounts often come first)."""
    from sqlalchemy import select

    name = name.strip()
    if not name or len(name) > 100:
        raise KaigirokuError("利用者の名前は1〜100文字で指定してください。")
    if role not in ROLES:
        raise KaigirokuError(f"役割「{role}」はありません。admin（管理者）、editor（編集者）、recorder（録音者）から選んでください。")
    if role != "admin" and not body_name:
        raise KaigirokuError(f"{ROLES[role]}には --body で附属機関を指定してください（その附属機関の会議だけを扱えます）。")
    check_new_password(password, options)
    if find_user(s, name) is not None:
        raise KaigirokuError(f"利用者「{name}」はもう登録されています。別の名前にするか、kaigiroku users token で API トークンを作り直してください。")
    body, created = None, False
    if body_name:
        body = s.scalar(select(Body).where(Body.name == body_name.strip()))
        if body is None:
            body, created = Body(name=body_name.strip()), True
            s.add(body)
            s.flush()
    token = new_token()
    user = User(name=name, role=role, body_id=body.id if body is not None else None,
                password_hash=hash_password(password), token_hash=token_hash(token))
    s.add(user)
    s.flush()
    audit(s, None, "user.added", f"user:{name}", {"role": role, "body": body.name if body else None, "by": by})
    return user, token, created


def replace_token(s, name: str, by: str = "コマンド") -> str:
    """A new API token for the user; the old one stops working."""
    user = _user(s, name)
    token = new_token()
    user.token_hash = token_hash(token)
    audit(s, None, "user.token", f"user:{name}", {"by": by})
    return token


def set_password(s, name: str, password: str, options: AccountOptions, by: str = "コマンド") -> None:
    from sqlalchemy import delete

    user = _user(s, name)
    check_new_password(password, options)
    user.password_hash = hash_password(password)
    s.execute(delete(LoginSession).where(LoginSession.user_id == user.id))  # logged in elsewhere: out
    audit(s, None, "user.password", f"user:{name}", {"by": by})


def disable_user(s, name: str, by: str = "コマンド") -> User:
    """The user can no longer log in or use the API token; their logins end now."""
    from sqlalchemy import delete

    user = _user(s, name)
    user.disabled = True
    s.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    audit(s, None, "user.disabled", f"user:{name}", {"by": by})
    return user


def list_users(s) -> list[dict[str, Any]]:
    from sqlalchemy import select

    bodies = {b.id: b.name for b in s.scalars(select(Body))}
    return [{"name": u.name, "role": u.role, "role_label": ROLES.get(u.role, u.role),
             "body": bodies.get(u.body_id) if u.body_id else None, "disabled": u.disabled,
             "token": bool(u.token_hash), "created": u.created}
            for u in s.scalars(select(User).order_by(User.name))]


def user_by_token(s, token: str) -> tuple[User, Body | None] | None:
    """The enabled user whose API token this is."""
    from sqlalchemy import select

    if not token:
        return None
    user = s.scalar(select(User).where(User.token_hash == token_hash(token), User.disabled.is_(False)))
    if user is None:
        return None
    return user, (s.get(Body, user.body_id) if user.body_id else None)


# ---------------------------------------------------------------- audit

def audit(s, user_id: int | None, action: str, target: str = "", detail: dict[str, Any] | None = None,
          address: str | None = None) -> AuditEntry:
    """One line of the audit log, in the caller's transaction (it commits with what it records)."""
    entry = AuditEntry(at=utcnow(), user_id=user_id, action=action, target=target[:200], detail=detail or {},
                       address=(address or None) and address[:64])
    s.add(entry)
    return entry


# ---------------------------------------------------------------- logins

@dataclass(frozen=True)
class LoginResult:
    """What a login attempt came to: `wait_s` > 0 — refused unseen, try again then; else `user`
    (None: wrong name or password) and the new session's cookie value and CSRF token."""

    wait_s: float = 0.0
    user: Principal | None = None
    cookie: str = ""
    csrf: str = ""


def login_wait(s, name: str, address: str | None, options: AccountOptions, now: datetime) -> float:
    """Seconds until the next try is heard: 0 while failures (per account since its last good
    login, and per address) are within the free ones, else the doubling delay after the last one."""
    from sqlalchemy import func, select

    since = now - timedelta(seconds=options.window_s)
    target = f"user:{name}"
    last_ok = s.scalar(select(func.max(AuditEntry.at)).where(AuditEntry.action == "login.ok",
                                                             AuditEntry.target == target, AuditEntry.at > since))
    wait = 0.0
    scopes = [AuditEntry.target == target] + ([AuditEntry.address == address] if address else [])
    for n, scope in enumerate(scopes):
        start = last_ok if n == 0 and last_ok is not None else since
        count, last = s.execute(select(func.count(AuditEntry.id), func.max(AuditEntry.at))
                                .where(AuditEntry.action == "login.failed", scope, AuditEntry.at > start)).one()
        if count >= options.free_attempts and last is not None:
            last = last if last.tzinfo else last.replace(tzinfo=now.tzinfo)
            delay = min(options.max_delay_s, options.delay_s * 2 ** (count - options.free_attempts))
            wait = max(wait, (last - now).total_seconds() + delay)
    return wait


def login(s, name: str, password: str, address: str | None, options: AccountOptions) -> LoginResult:
    """Check a login (limit, then Argon2) and, when good, open a session. Failures and
    successes go to the audit log (which is also what the limit counts)."""
    from sqlalchemy import delete

    now = utcnow()
    name = (name or "").strip()[:100]
    wait = login_wait(s, name, address, options, now)
    if wait > 0:
        logger.warning("login for %r from %s held back %.1f s", name, address, wait)
        return LoginResult(wait_s=wait)
    user = find_user(s, name) if name else None
    usable = user is not None and not user.disabled
    if not check_password(user if usable else None, password or ""):
        audit(s, user.id if user else None, "login.failed", f"user:{name}",
              {"reason": "disabled" if user is not None and user.disabled else "password"}, address)
        return LoginResult()
    audit(s, user.id, "login.ok", f"user:{name}", {}, address)
    s.execute(delete(LoginSession).where(LoginSession.expires < now))  # old ones, while here
    cookie, csrf = new_token(), secrets.token_urlsafe(32)
    s.add(LoginSession(token_hash=token_hash(cookie), user_id=user.id, csrf=csrf, address=(address or "")[:64] or None,
                       created=now, last_seen=now, expires=now + timedelta(seconds=options.session_max_s)))
    body = s.get(Body, user.body_id) if user.body_id else None
    return LoginResult(user=principal(user, body), cookie=cookie, csrf=csrf)


# a session's last_seen is written at most this often (not one write per request)
TOUCH_S = 60.0


def session_user(s, cookie: str, options: AccountOptions) -> tuple[Principal, str] | None:
    """(who, CSRF token) of a live session, or None (unknown, expired, idle too long, user disabled)."""
    from sqlalchemy import select

    if not cookie:
        return None
    row = s.scalar(select(LoginSession).where(LoginSession.token_hash == token_hash(cookie)))
    if row is None:
        return None
    now = utcnow()
    user = row.user
    if row.expires <= now or (now - row.last_seen).total_seconds() > options.session_idle_s or user.disabled:
        s.delete(row)
        s.commit()
        return None
    if (now - row.last_seen).total_seconds() > TOUCH_S:
        row.last_seen = now
        s.commit()
    body = s.get(Body, user.body_id) if user.body_id else None
    return principal(user, body), row.csrf


def logout(s, cookie: str) -> None:
    from sqlalchemy import delete

    s.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash(cookie)))


def retry_after(wait_s: float) -> int:
    return max(1, math.ceil(wait_s))
