"""附属機関と名簿 (issue 14, page 2): bodies and their rosters, in `kaigiroku app`'s JSON API.

    GET    /api/bodies                                   bodies, with counts and the learning consent
    POST   /api/bodies                                   {"name", "kind", "member_labels"} → {"id"}
    GET    /api/bodies/{id}                              the body, its members and its last meeting
    PATCH  /api/bodies/{id}                              rename, kind, member_labels (PUT: the same)
    PUT    /api/bodies/{id}/consent                      {"note"}: the members agreed to voice learning
    DELETE /api/bodies/{id}/consent                      withdrawn: the learned voices are deleted
    POST   /api/bodies/{id}/members                      {"name", "role", "title", "label"} → {"id"}
    PATCH  /api/bodies/{id}/members/{member}             any of those, and "active" (false: 退任)
    DELETE /api/bodies/{id}/members/{member}             only a member no meeting names (else 409: 退任)
    PUT    /api/bodies/{id}/order                        {"members": [ids in their new order]}
    PUT    /api/bodies/{id}/members/{member}/voice       a voice clip (audio body), ?consent=1 required
    DELETE /api/bodies/{id}/members/{member}/voice       the clip and its consent removed

A member is never deleted once a meeting names them: old meetings keep their attendees, and a
person who left is marked 退任 (inactive), which keeps them out of the next meeting's ticks.
Errors: one Japanese line; 422 for what cannot be stored as sent.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from ..errors import KaigirokuError
from ..meeting import MEMBER_LABEL_STYLES, ROLES
from .access import Denied, current, visible_bodies
from .responses import answer, static_page
from .api import VOICE_BYTES, ApiError, AppContext, _audio_suffix, check_voice, keep_in_roster, read_capped, stream_to

logger = logging.getLogger(__name__)

JSON_BYTES = 64 << 10  # a body or a member is a few hundred bytes
LABEL_STYLE_NAMES = {"letters": "A委員・B委員…（発言順）", "plain": "委員", "names": "氏名"}


async def read_json_object(request) -> dict[str, Any]:
    raw = await read_capped(request, JSON_BYTES)
    try:
        data = json.loads(raw.decode("utf-8-sig") or "{}")
    except (UnicodeDecodeError, ValueError):
        raise ApiError(422, "送られた内容が JSON として読めません。") from None
    if not isinstance(data, dict):
        raise ApiError(422, "送られた内容は {\"name\": …} の形の JSON にしてください。")
    return data


def _text(data: dict[str, Any], key: str, what: str, limit: int, required: bool = False) -> str | None:
    """A text field: stripped; None when absent (or empty and optional)."""
    if key not in data or data[key] is None:
        if required:
            raise ApiError(422, f"{what}を入力してください。")
        return None
    if not isinstance(data[key], (str, int, float)) or isinstance(data[key], bool):
        raise ApiError(422, f"{what}は文字で入力してください。")
    text = " ".join(str(data[key]).split())  # one line: a name is printed in the header
    if required and not text:
        raise ApiError(422, f"{what}を入力してください。")
    if len(text) > limit:
        raise ApiError(422, f"{what}が長すぎます（{limit}文字まで）。")
    return text


def _label_style(data: dict[str, Any]) -> str | None:
    style = data.get("member_labels")
    if style is None:
        return None
    if style not in MEMBER_LABEL_STYLES:
        raise ApiError(422, f"委員の表記「{style}」は使えません。{' / '.join(MEMBER_LABEL_STYLES)} のどれかにしてください。")
    return str(style)


def _role(data: dict[str, Any], required: bool) -> str | None:
    role = _text(data, "role", "役割", 16, required)
    if role is not None and role not in ROLES:
        raise ApiError(422, f"役割「{role}」は使えません。{'、'.join(ROLES)} のどれかにしてください。")
    return role


def _same_name(a: str, b: str) -> bool:
    from ..library import normalise

    return normalise(a) == normalise(b)


# ---------------------------------------------------------------- views

def member_view(m, meetings: int) -> dict[str, Any]:
    return {"id": m.id, "position": m.position, "name": m.name, "role": m.role, "title": m.title,
            "label": m.label, "active": m.active, "voice": bool(m.voice), "voice_consent": m.voice_consent,
            "voice_consent_at": m.voice_consent_at.isoformat() if m.voice_consent_at else None,
            "meetings": meetings}


def learning_view(ctx: AppContext, name: str) -> dict[str, Any]:
    """What the committee library holds for the body: consent and how many voices per person."""
    from .. import voices
    from ..jobs.finish import library_root

    try:
        v = voices.load_body(library_root(ctx.data), name)
    except KaigirokuError as e:
        return {"consent": None, "people": {}, "error": e.message}
    return {"consent": v.consent, "people": {n: len(es) for n, es in sorted(v.people.items())}}


def _attendance(s, body_id: int) -> dict[int, int]:
    from sqlalchemy import func, select

    from ..jobs.models import Attendee, Member

    rows = s.execute(select(Attendee.member_id, func.count()).join(Member, Attendee.member_id == Member.id)
                     .where(Member.body_id == body_id).group_by(Attendee.member_id))
    return {mid: n for mid, n in rows}


def _last_meeting(s, body_id: int) -> dict[str, Any] | None:
    from sqlalchemy import select

    from ..jobs.models import MeetingRow

    row = s.scalar(select(MeetingRow).where(MeetingRow.body_id == body_id)
                   .order_by(MeetingRow.held_on.desc().nulls_last(), MeetingRow.id.desc()))
    if row is None:
        return None
    return {"id": row.id, "session": row.session, "date": row.date, "place": row.place,
            "agenda": list(row.agenda), "vocabulary": list(row.vocabulary), "member_labels": row.member_labels}


def body_view(ctx: AppContext, s, body) -> dict[str, Any]:
    attended = _attendance(s, body.id)
    return {"id": body.id, "name": body.name, "kind": body.kind, "member_labels": body.member_labels,
            "members": [member_view(m, attended.get(m.id, 0)) for m in body.members],
            "meetings": len(body.meetings), "last_meeting": _last_meeting(s, body.id),
            "learning": learning_view(ctx, body.name)}


# ---------------------------------------------------------------- helpers

def _body(s, bid: int):
    from ..jobs.models import Body

    body = s.get(Body, bid)
    if body is None:
        raise ApiError(404, f"附属機関 {bid} はありません。附属機関の一覧から選び直してください。")
    return body


def _member(s, bid: int, mid: int):
    from ..jobs.models import Member

    member = s.get(Member, mid)
    if member is None or member.body_id != bid:
        raise ApiError(404, f"名簿に番号 {mid} の人はいません。ページを再読み込みしてください。")
    return member


def _name_free(s, name: str, exclude: int | None = None) -> None:
    from sqlalchemy import select

    from ..jobs.models import Body

    for other in s.scalars(select(Body)):
        if other.id != exclude and _same_name(other.name, name):
            raise ApiError(422, f"「{other.name}」はもう登録されています。一覧から選ぶか、別の名前にしてください。")


def _member_free(body, name: str, exclude: int | None = None) -> None:
    for m in body.members:
        if m.id != exclude and _same_name(m.name, name):
            raise ApiError(422, f"「{body.name}」の名簿に「{m.name}」はもういます。"
                                f"{'退任の人なら「在任に戻す」を押してください。' if not m.active else ''}")


def rename_body(ctx: AppContext, s, body, name: str) -> list[str]:
    """A new name for the body: what the library learned under the old name moves with it, and
    its meetings not yet drafted print the new name (drafted ones keep what they printed)."""
    from ..jobs.finish import library_root
    from ..jobs.models import MeetingState
    from ..library import rename_body as move_learned

    old = body.name
    try:
        moved = move_learned(library_root(ctx.data), old, name)
    except KaigirokuError as e:
        raise ApiError(422, e.message) from None
    body.name = name
    for row in body.meetings:
        if row.state in (MeetingState.PREPARING, MeetingState.RECORDING, MeetingState.WAITING) and row.body == old:
            row.body = name
    return moved


# ---------------------------------------------------------------- routes

def routes(ctx: AppContext) -> list:
    from sqlalchemy import select
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.routing import Route

    from ..jobs.models import Attendee, Body, Member

    page = static_page("bodies.html")

    def with_json(fn):
        """A route whose JSON object is read here and handled in the thread pool (the
        database and the library files are blocking calls)."""
        async def route(request: Request):
            data = await read_json_object(request)
            return await run_in_threadpool(fn, request, data)

        return route

    def list_bodies(request: Request):
        with ctx.sessions() as s:
            out = []
            for b in s.scalars(visible_bodies(request, select(Body).order_by(Body.name))):
                out.append({"id": b.id, "name": b.name, "kind": b.kind, "member_labels": b.member_labels,
                            "members": sum(1 for m in b.members if m.active), "left": sum(1 for m in b.members if not m.active),
                            "meetings": len(b.meetings), "consent": learning_view(ctx, b.name)["consent"] is not None})
            return answer({"bodies": out, "roles": list(ROLES), "label_styles": LABEL_STYLE_NAMES})

    def create_body(request: Request, data: dict[str, Any]):
        user = current(request)
        if user is not None and user.role != "admin":  # the service: a user belongs to one body
            raise Denied(403, "附属機関を追加できるのは管理者だけです。管理者に依頼してください。")
        name = _text(data, "name", "附属機関名", 200, required=True)
        kind = _text(data, "kind", "種別", 40) or ""
        style = _label_style(data) or "letters"
        with ctx.sessions() as s:
            _name_free(s, name)
            body = Body(name=name, kind=kind, member_labels=style)
            s.add(body)
            s.commit()
            return answer({"id": body.id}, 201)

    def get_body(request: Request):
        with ctx.sessions() as s:
            return answer(body_view(ctx, s, _body(s, request.path_params["bid"])))

    def update_body(request: Request, data: dict[str, Any]):
        name = _text(data, "name", "附属機関名", 200, required="name" in data)
        kind = _text(data, "kind", "種別", 40)
        style = _label_style(data)
        with ctx.sessions() as s:
            body = _body(s, request.path_params["bid"])
            if name is not None and name != body.name:
                _name_free(s, name, exclude=body.id)
                rename_body(ctx, s, body, name)
            if kind is not None:
                body.kind = kind
            if style is not None:
                body.member_labels = style
            s.commit()
            return answer(body_view(ctx, s, body))

    def set_consent(request: Request, data: dict[str, Any]):
        from .. import voices
        from ..jobs.finish import library_root

        note = _text(data, "note", "同意の記録", 500) or ""
        with ctx.sessions() as s:
            body = _body(s, request.path_params["bid"])
            try:
                voices.set_consent(library_root(ctx.data), body.name, note)
            except KaigirokuError as e:
                raise ApiError(422, e.message) from None
            return answer(learning_view(ctx, body.name))

    def withdraw_consent(request: Request):
        from .. import voices
        from ..jobs.finish import library_root

        with ctx.sessions() as s:
            body = _body(s, request.path_params["bid"])
            voices.delete_body(library_root(ctx.data), body.name)
            return answer(learning_view(ctx, body.name))

    def add_member(request: Request, data: dict[str, Any]):
        name = _text(data, "name", "氏名", 100, required=True)
        role = _role(data, required=True)
        title, label = _text(data, "title", "職名", 100) or None, _text(data, "label", "表示名", 100) or None
        with ctx.sessions() as s:
            body = _body(s, request.path_params["bid"])
            _member_free(body, name)
            member = Member(name=name, role=role, title=title, label=label,
                            position=max((m.position for m in body.members), default=-1) + 1)
            body.members.append(member)
            s.commit()
            return answer({"id": member.id}, 201)

    def update_member(request: Request, data: dict[str, Any]):
        name = _text(data, "name", "氏名", 100, required="name" in data)
        role = _role(data, required=False)
        active = data.get("active")
        if active is not None and not isinstance(active, bool):
            raise ApiError(422, "在任か退任かは true / false で送ってください。")
        with ctx.sessions() as s:
            member = _member(s, request.path_params["bid"], request.path_params["mid"])
            if name is not None:
                _member_free(member.body, name, exclude=member.id)
                member.name = name
            if role is not None:
                member.role = role
            for key, what in (("title", "職名"), ("label", "表示名")):
                if key in data:
                    setattr(member, key, _text(data, key, what, 100) or None)
            if active is not None:
                member.active = active
            s.commit()
            return answer(member_view(member, _attendance(s, member.body_id).get(member.id, 0)))

    def delete_member(request: Request):
        with ctx.sessions() as s:
            member = _member(s, request.path_params["bid"], request.path_params["mid"])
            named = s.scalar(select(Attendee.id).where(Attendee.member_id == member.id).limit(1))
            if named is not None:
                raise ApiError(409, f"「{member.name}」は過去の会議の出席者です。名簿から消さず「退任」にしてください。")
            clip = ctx.data.path(member.voice) if member.voice else None
            s.delete(member)
            s.commit()
        if clip is not None:
            clip.unlink(missing_ok=True)
        return answer({"deleted": request.path_params["mid"]})

    def reorder(request: Request, data: dict[str, Any]):
        ids = data.get("members")
        with ctx.sessions() as s:
            body = _body(s, request.path_params["bid"])
            if not isinstance(ids, list) or sorted(map(str, ids)) != sorted(str(m.id) for m in body.members) \
                    or len(set(map(str, ids))) != len(ids):
                raise ApiError(422, "名簿の並びが今の名簿と合いません。ページを再読み込みしてから並べ直してください。")
            where = {str(i): n for n, i in enumerate(ids)}
            for m in body.members:
                m.position = where[str(m.id)]
            s.commit()
            s.refresh(body)
            return answer(body_view(ctx, s, body))

    async def put_member_voice(request: Request):
        bid, mid = request.path_params["bid"], request.path_params["mid"]
        if request.query_params.get("consent") not in ("1", "true", "yes"):
            raise ApiError(422, "名簿に声を残すには本人の同意が必要です。同意を確かめて「本人の同意あり」を選んでから登録してください。")

        def member_name() -> str:
            with ctx.sessions() as s:
                return _member(s, bid, mid).name

        name = await run_in_threadpool(member_name)
        incoming = ctx.data.folder("voices", bid) / f"incoming-{uuid.uuid4().hex}{_audio_suffix(request)}"
        await stream_to(request, incoming, VOICE_BYTES)

        def keep() -> dict[str, Any]:
            try:
                check_voice(incoming, name)
                with ctx.sessions() as s:
                    member = _member(s, bid, mid)
                    keep_in_roster(ctx.data, member, incoming)
                    s.commit()
                    return member_view(member, _attendance(s, bid).get(mid, 0))
            finally:
                incoming.unlink(missing_ok=True)

        return answer(await run_in_threadpool(keep))

    def delete_member_voice(request: Request):
        with ctx.sessions() as s:
            member = _member(s, request.path_params["bid"], request.path_params["mid"])
            clip = ctx.data.path(member.voice) if member.voice else None
            member.voice = member.voice_sha256 = member.voice_consent_at = None
            member.voice_consent = False
            s.commit()
            if clip is not None:
                clip.unlink(missing_ok=True)
            return answer(member_view(member, _attendance(s, member.body_id).get(member.id, 0)))

    base, one = "/api/bodies", "/api/bodies/{bid:int}"
    person = one + "/members/{mid:int}"
    return [
        Route("/bodies", page, methods=["GET"]),
        Route(base, list_bodies, methods=["GET"]),
        Route(base, with_json(create_body), methods=["POST"]),
        Route(one, get_body, methods=["GET"]),
        Route(one, with_json(update_body), methods=["PATCH", "PUT"]),
        Route(one + "/consent", with_json(set_consent), methods=["PUT"]),
        Route(one + "/consent", withdraw_consent, methods=["DELETE"]),
        Route(one + "/members", with_json(add_member), methods=["POST"]),
        Route(person, with_json(update_member), methods=["PATCH", "PUT"]),
        Route(person, delete_member, methods=["DELETE"]),
        Route(one + "/order", with_json(reorder), methods=["PUT"]),
        Route(person + "/voice", put_member_voice, methods=["PUT"]),
        Route(person + "/voice", delete_member_voice, methods=["DELETE"]),
    ]
