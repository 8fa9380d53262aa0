"""Who may see and do what in the shared service (issue 15): the one place of the policy.

Roles (one body each, except admins):

| action   | what                                                            | admin | editor | recorder |
|----------|-----------------------------------------------------------------|-------|--------|----------|
| view     | the meeting list, a meeting, its jobs, meeting.yaml             | all   | body   | body     |
| record   | create/prepare a meeting, roster, voices, recordings, drafts    | all   | body   | body     |
| edit     | the review page (read and save the draft), undo, 完了             | all   | body   | —        |
| export   | Word (draft and 公開用)                                          | all   | body   | —        |
| delete   | delete a meeting                                                | all   | body   | —        |
| admin    | users, the audit log                                            | yes   | —      | —        |

A meeting outside the user's body answers exactly as a meeting that does not exist (404 with
the same line): the API must not tell another body's members which meetings exist. A meeting
with no body is the admins' only. Within their body a recorder who asks for an editor's action
gets 403 (they know the meeting exists).

Without accounts (`kaigiroku app` on one PC) there is no principal and everything is allowed:
the token scheme already admits only the PC's clerk.

Routes call `meeting_for` / `check` / `visible_meetings`; `guard_path` applies the same policy
by path before any route runs (pipeline.web.login), so a route added later under
/api/meetings/{id}/… or /meetings/{id}/… is covered even if it forgets to ask.

Pages offer only what the user may do: the meeting list's `can` (`meeting_can`) names the
operations of MEETING_OPS whose requests the guard lets through. The page hides the rest; the
server still refuses them (the page is a convenience, the guard is the rule).
"""

from __future__ import annotations

import re
from typing import Any

from ..jobs.accounts import ROLES, Principal

ROLE_ACTIONS = {
    "admin": {"view", "record", "edit", "export", "delete", "admin"},
    "editor": {"view", "record", "edit", "export", "delete"},
    "recorder": {"view", "record"},
}
ACTION_NAMES = {"view": "見る", "record": "会議の準備・録音・原稿作成", "edit": "校正", "export": "書き出し",
                "delete": "削除", "admin": "管理"}

SCOPE_KEY = "kaigiroku.user"  # the ASGI scope's entry the gate sets


class Denied(Exception):
    """`status` 404 (not visible: as if missing) or 403 (visible, not allowed); `message` Japanese.
    The app answers it as the API answers its own errors ({"error": …} with the status)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def current(request_or_scope) -> Principal | None:
    """The request's user; None in the single-PC app (no accounts)."""
    scope = request_or_scope if isinstance(request_or_scope, dict) else request_or_scope.scope
    return scope.get(SCOPE_KEY)


def allowed(user: Principal | None, action: str, body_id: int | None) -> bool:
    if user is None:
        return True
    if action not in ROLE_ACTIONS.get(user.role, set()):
        return False
    return user.role == "admin" or (body_id is not None and body_id == user.body_id)


def sees(user: Principal | None, body_id: int | None) -> bool:
    return allowed(user, "view", body_id)


def check(user: Principal | None, action: str, body_id: int | None, missing: str) -> None:
    """Raise Denied unless `user` may do `action` on something of `body_id`. `missing`: the line
    a missing item answers with (given to the invisible too)."""
    if not sees(user, body_id):
        raise Denied(404, missing)
    if not allowed(user, action, body_id):
        raise Denied(403, f"この操作（{ACTION_NAMES.get(action, action)}）は{ROLES.get(user.role, user.role)}の"
                          "権限ではできません。管理者に依頼してください。")


def missing_meeting(mid: int) -> str:
    return f"会議 {mid} はありません。会議一覧から選び直してください。"  # as pipeline.web.api says it


def missing_job(jid: int) -> str:
    return f"作業 {jid} はありません。"


def meeting_for(request, session, mid: int, action: str = "view"):
    """The meeting, if the request's user may do `action` on it; else Denied (404/403)."""
    from ..jobs.models import MeetingRow

    row = session.get(MeetingRow, mid)
    if row is None:
        raise Denied(404, missing_meeting(mid))
    check(current(request), action, row.body_id, missing_meeting(mid))
    return row


def visible_meetings(request, query):
    """A select of MeetingRow narrowed to what the request's user may see."""
    from ..jobs.models import MeetingRow

    user = current(request)
    if user is None or user.role == "admin":
        return query
    return query.where(MeetingRow.body_id == user.body_id) if user.body_id is not None else query.where(False)


def visible_jobs(request, query):
    """A select of Job narrowed to the jobs of meetings the request's user may see (a job list)."""
    from ..jobs.models import Job, MeetingRow

    user = current(request)
    if user is None or user.role == "admin":
        return query
    if user.body_id is None:
        return query.where(False)
    return query.where(Job.meeting_id.in_(visible_meetings(request, _ids(MeetingRow))))


def visible_bodies(request, query):
    """A select of Body narrowed to the user's own body (admins: all)."""
    from ..jobs.models import Body

    user = current(request)
    if user is None or user.role == "admin":
        return query
    return query.where(Body.id == user.body_id) if user.body_id is not None else query.where(False)


def _ids(model):
    from sqlalchemy import select

    return select(model.id)


def check_new_meeting(request, body_name: str) -> None:
    """A meeting may be created only for the user's own body (admins: any)."""
    user = current(request)
    if user is None or user.role == "admin":
        return
    if "record" not in ROLE_ACTIONS.get(user.role, set()):
        raise Denied(403, "会議を登録する権限がありません。")
    if (body_name or "").strip() != (user.body or ""):
        raise Denied(403, f"登録できるのは自分の附属機関（{user.body}）の会議だけです。会議ファイルの body を確認してください。")


# ---------------------------------------------------------------- by path

_MEETING = re.compile(r"^/api/meetings/(\d+)(/.*)?$")
_REVIEW = re.compile(r"^/meetings/(\d+)/review(/.*)?$")
_JOB = re.compile(r"^/api/jobs/(\d+)(/.*)?$")
_BODY = re.compile(r"^/api/bodies/(\d+)(/.*)?$")
_ADMIN = re.compile(r"^(/api/audit|/audit|/api/users)(/.*)?$")
_READ = {"GET", "HEAD", "OPTIONS"}


def path_action(method: str, path: str) -> tuple[str, str, int] | None:
    """(action, kind, id) that `path` needs: kind "meeting", "job", "body" or "" (no item)."""
    read = method in _READ
    if m := _MEETING.match(path):
        rest = m.group(2) or ""
        if rest.startswith("/minutes"):
            action = "export"
        elif rest.startswith("/done") and not read:
            action = "edit"  # 完了: the editor says the corrected draft is final
        elif read:
            action = "view"
        elif method == "DELETE" and not rest:
            action = "delete"
        else:
            action = "record"  # preparing, voices, recordings, drafts: the recorder's work
        return action, "meeting", int(m.group(1))
    if m := _REVIEW.match(path):
        return "edit", "meeting", int(m.group(1))  # the draft's text, reading included
    if m := _JOB.match(path):
        return ("view" if read else "record"), "job", int(m.group(1))
    if m := _BODY.match(path):
        return ("view" if read else "record"), "body", int(m.group(1))
    if _ADMIN.match(path):
        return "admin", "", 0
    return None


def guard_path(session, user: Principal, method: str, path: str) -> tuple[Denied | None, dict[str, Any]]:
    """Apply the policy to a request by its path: (refusal or None, what it is about —
    {"meeting": id} when the path names a meeting or a job of one)."""
    from ..jobs.models import Body, Job, MeetingRow

    found = path_action(method, path)
    if found is None:
        return None, {}
    action, kind, ident = found
    about: dict[str, Any] = {}
    try:
        if kind == "meeting":
            row = session.get(MeetingRow, ident)
            missing = missing_meeting(ident)
            if _REVIEW.match(path):  # the review mount's own answer for "no draft"
                missing = "この会議の原稿はまだありません。会議一覧で原稿作成を押し、終わってから開いてください。"
            if row is None:
                raise Denied(404, missing)
            about["meeting"] = ident
            check(user, action, row.body_id, missing)
        elif kind == "job":
            job = session.get(Job, ident)
            if job is None:
                raise Denied(404, missing_job(ident))
            about["meeting"] = job.meeting_id
            check(user, action, job.meeting.body_id, missing_job(ident))
        elif kind == "body":
            body = session.get(Body, ident)
            missing = "その附属機関はありません。"
            if body is None:
                raise Denied(404, missing)
            check(user, action, body.id, missing)
        elif not allowed(user, action, None):
            raise Denied(403, "この画面は管理者だけが使えます。")
    except Denied as e:
        return e, about
    return None, about


# ---------------------------------------------------------------- what a page may offer

# The meeting list's operations (GET /api/meetings' "can"), each named with the request it makes:
# `meeting_can` puts that request to path_action and check, the guard's own rule, so the list and
# the guard cannot disagree. "{m}" is the meeting, "{j}" one of its jobs.
MEETING_OPS = {
    "detail": ("GET", "/api/meetings/{m}"),  # 詳細, 内容
    "yaml": ("GET", "/api/meetings/{m}/meeting.yaml"),
    "change": ("PUT", "/api/meetings/{m}"),  # 編集 (the form page)
    "record": ("POST", "/api/meetings/{m}/record"),  # 録音 (the microphone page)
    "record_voice": ("POST", "/api/meetings/{m}/voices/{name}/record"),  # 声の登録 (the microphone page)
    "voice": ("PUT", "/api/meetings/{m}/voices/{name}"),  # a voice file (the detail section)
    "upload": ("PUT", "/api/meetings/{m}/recording"),  # 録音を取り込む
    "draft": ("POST", "/api/meetings/{m}/draft"),  # 原稿作成
    "cancel": ("DELETE", "/api/jobs/{j}"),  # 取消
    "done": ("POST", "/api/meetings/{m}/done"),  # 完了にする
    "review": ("GET", "/meetings/{m}/review/"),  # 校正
    "minutes": ("GET", "/api/meetings/{m}/minutes.docx"),  # Word（原稿）, Word（公開用）
    "delete": ("DELETE", "/api/meetings/{m}"),  # 削除
}
# The rig's microphone is at the PC the single-PC app runs on: pipeline.web.app mounts the
# recording pages only without accounts, so a shared server never offers them.
MICROPHONE_OPS = frozenset({"record", "record_voice"})


def meeting_can(user: Principal | None, body_id: int | None) -> list[str]:
    """The MEETING_OPS that `user` may do on a meeting of `body_id` (None: the single-PC app, all)."""
    can = []
    for op, (method, template) in MEETING_OPS.items():
        if user is not None and op in MICROPHONE_OPS:
            continue
        action = path_action(method, template.format(m=0, j=0, name="x"))[0]
        try:
            check(user, action, body_id, "")
        except Denied:
            continue
        can.append(op)
    return can
