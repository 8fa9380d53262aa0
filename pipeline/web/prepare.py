"""会議の準備 (issue 14, page 3) and 完了, in `kaigiroku app`'s JSON API.

    PUT    /api/meetings/{id}              the meeting's new content (meeting.yaml or the same fields as
                                           JSON, as POST /api/meetings); only before its draft
    POST   /api/meetings/{id}/done         完了: the state, then what the corrected result teaches
                                           → {"state", "notices": [Japanese lines], "words", "voices"}
    DELETE /api/meetings/{id}/done         back to 校正中
    GET    /api/meetings/{id}/learning     what 完了 learned: {"words": …, "voices": …} (None before)

Pages: /meetings/new (?body=ID: that body's roster ticked) and /meetings/{id}/edit.

The checks and messages are the CLI's (pipeline.meeting through pipeline.jobs.meetings). The
learning is pipeline.jobs.finish: the words inline, the voices in the worker and only with the
body's consent; a failure there never fails 完了 (it is logged and shown as a notice).
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from ..errors import KaigirokuError
from .access import check_new_meeting
from .api import ApiError, AppContext, _meeting_row, draft_files, read_meeting, roster_body
from .responses import answer, static_page

logger = logging.getLogger(__name__)



def _draft_started(s, meeting_id: int):
    """The job that makes the meeting no longer editable: a draft queued, running or done."""
    from sqlalchemy import select

    from ..jobs.models import Job, JobState

    return s.scalar(select(Job).where(Job.meeting_id == meeting_id,
                                      Job.state.in_((JobState.QUEUED, JobState.RUNNING, JobState.DONE))).limit(1))


def _carry_voices(ctx: AppContext, row, before: dict[str, str]) -> None:
    """This meeting's own clips stay with the same people after an edit. Each kept clip gets a
    name of its own (the upload names clips by position, which an edit changes), and the clips
    of people no longer in the meeting are deleted."""
    folder = ctx.data.folder("voices", f"meeting-{row.id}")
    kept = set()
    for a in row.attendees:
        old = before.get(a.name)
        if old is None:
            continue
        src = ctx.data.path(old)
        if not src.is_file():
            continue
        dst = folder / f"{a.position + 1:02d}-{uuid.uuid4().hex[:8]}{src.suffix}"
        src.replace(dst)
        a.voice = ctx.data.relative(dst)
        kept.add(old)
    for old in set(before.values()) - kept:
        ctx.data.path(old).unlink(missing_ok=True)


def routes(ctx: AppContext) -> list:
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.routing import Route

    from ..jobs import finish
    from ..jobs.meetings import store_meeting
    from ..jobs.models import MeetingState

    page = static_page("meeting.html")

    def edit_page(request: Request):
        with ctx.sessions() as s:
            _meeting_row(s, request.path_params["mid"])  # an unknown meeting: 404 here, not an empty form
        return page(request)

    async def update_meeting(request: Request):
        mid = request.path_params["mid"]
        meeting, has_speakers = await read_meeting(request)
        check_new_meeting(request, meeting.info.body)  # accounts: not moved to another body

        def store() -> dict[str, Any]:
            with ctx.sessions() as s:
                row = _meeting_row(s, mid)
                if _draft_started(s, mid) is not None:
                    raise ApiError(409, "原稿作成を始めた会議は編集できません。内容を変えるには会議を追加し直してください。")
                before = {a.name: a.voice for a in row.attendees if a.voice}
                speakers = list(row.speakers)
                body = roster_body(s, meeting)
                store_meeting(s, meeting, row=row, body=body)
                if not has_speakers:  # the form does not show them: kept as they were
                    row.speakers = speakers
                s.flush()
                _carry_voices(ctx, row, before)
                s.commit()
                return {"id": row.id}

        return answer(await run_in_threadpool(store))

    def mark_done(request: Request):
        mid = request.path_params["mid"]
        from sqlalchemy import select

        from ..jobs.models import Job, JobState

        with ctx.sessions() as s:
            row = _meeting_row(s, mid)
            if s.scalar(select(Job.id).where(Job.meeting_id == mid,
                                             Job.state.in_((JobState.QUEUED, JobState.RUNNING))).limit(1)):
                raise ApiError(409, "原稿を作っている途中です。終わって校正してから完了にしてください。")
            files = draft_files(ctx, mid)
            if files is None:
                raise ApiError(409, "この会議の原稿はまだありません。原稿を作って校正してから完了にしてください。")
            row.state = MeetingState.DONE
            body = row.body
            s.commit()
        words = finish.collect_words(ctx.data, mid, files[0])
        voices = _learn_voices(mid, body, files)
        return answer({"state": MeetingState.DONE.value, "notices": [*words["lines"], *voices["lines"]],
                       "words": words, "voices": voices})

    def _learn_voices(mid: int, body: str, files: tuple[Path, Path]) -> dict[str, Any]:
        try:
            if finish.consent_of(ctx.data, body) is None:
                return finish.voices_skipped(ctx.data, mid, body)
            status = finish.voices_queued(ctx.data, mid)
            ctx.queue.learn(mid, ctx.data.relative(files[0]), ctx.data.relative(files[1]))
            return status
        except Exception as e:  # noqa: BLE001 - 完了 stands: a broken library file, a queue that is down
            logger.exception("meeting %s: voice learning not queued", mid)
            message = e.message if isinstance(e, KaigirokuError) else type(e).__name__
            return {"state": "failed", "lines": [f"声の学習を始められませんでした（{message}）。完了はそのままです。"]}

    def reopen(request: Request):
        with ctx.sessions() as s:
            row = _meeting_row(s, request.path_params["mid"])
            if row.state != MeetingState.DONE:
                raise ApiError(409, "この会議は完了になっていません。")
            row.state = MeetingState.REVIEWING
            s.commit()
            return answer({"state": row.state.value})

    def learning(request: Request):
        mid = request.path_params["mid"]
        with ctx.sessions() as s:
            _meeting_row(s, mid)
        return answer({"words": finish.read_status(ctx.data, mid, finish.WORDS_STATUS),
                       "voices": finish.read_status(ctx.data, mid, finish.VOICES_STATUS)})

    return [
        Route("/meetings/new", page, methods=["GET"]),
        Route("/meetings/{mid:int}/edit", edit_page, methods=["GET"]),
        Route("/api/meetings/{mid:int}", update_meeting, methods=["PUT"]),
        Route("/api/meetings/{mid:int}/done", mark_done, methods=["POST"]),
        Route("/api/meetings/{mid:int}/done", reopen, methods=["DELETE"]),
        Route("/api/meetings/{mid:int}/learning", learning, methods=["GET"]),
    ]
