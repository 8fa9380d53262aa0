"""The JSON API of `kaigiroku app` under /api/ (issue 14): what the app's own page uses, and
what a script may use with the header X-Kaigiroku-Token.

    GET    /api/meetings                       meetings (?q= body or date, ?date=YYYY-MM-DD)
    POST   /api/meetings                       meeting.yaml (application/yaml) or the same fields as JSON → {"id"}
    GET    /api/meetings/{id}                  its fields, state, recordings and jobs
    DELETE /api/meetings/{id}                  the meeting with its files (409 while recording or drafting)
    GET    /api/meetings/{id}/meeting.yaml     export, for the CLI
    PUT    /api/meetings/{id}/voices/{name}    a participant's voice clip (audio body)
    PUT    /api/meetings/{id}/recording        the meeting's recording (audio body, e.g. an IC recorder's file)
    POST   /api/meetings/{id}/draft            → {"job"}: queue the draft
    GET    /api/jobs/{job}                     state, stage, progress, eta_s, error, attempts
    DELETE /api/jobs/{job}                     cancel
    GET    /api/meetings/{id}/minutes.docx     the draft as Word (?public=1: 公開用), with the review's edits

Bodies and rosters (/api/bodies…) are in `pipeline.web.roster`; editing a meeting before its
draft (PUT /api/meetings/{id}) and 完了 (/api/meetings/{id}/done) in `pipeline.web.prepare`.

Recording in the app (`pipeline.web.capture`; one recording at a time, kept by the app process):

    GET    /api/devices                        the inputs that can record (index, name, channels, rate)
    POST   /api/meetings/{id}/record           {"device", "channels"} → start recording the meeting
    POST   /api/meetings/{id}/voices/{name}/record   {"device", "channels"} → start a voice take (≤ 90 s)
    POST   /api/bodies/{id}/members/{member}/voice/record   the same for a roster member (kept with ?consent=1)
    GET    /api/recorder                       {"active": what, info, status (levels, elapsed, disk_left,
                                               warnings, markers, paused) | null, "last": how the last one ended}
    POST   /api/recorder/marker                {"label"} → a heading at the current audio time
    POST   /api/recorder/pause | /resume       a break: nothing is recorded, the meter stays live
    POST   /api/recorder/stop                  → the meeting's recording {"id", "duration", "markers"}, or a
                                               checked voice take {"take", "duration"} (422: the reason)
    GET    /api/takes/{take}                   the take's audio, to listen to; DELETE discards it
    POST   /api/takes/{take}/keep              keep it as the person's voice (?consent=1: in the roster too)
    GET    /api/recoveries                     recordings a crash left unfinished {"meeting", "file", "seconds"}
    POST   /api/meetings/{id}/recover          → those recordings of the meeting, kept (source "recovered")

Errors are one Japanese line, {"error": "..."}, with the status that says why (404 no such
thing, 409 not now, 413 too large, 415 wrong type, 422 unusable content).

A server must not open a path that a request names: `voice:` paths in a posted meeting are
kept as written (for the export) and never read; clips and recordings arrive as request
bodies, streamed into the data folder with a size cap.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import KaigirokuError
from ..fileio import atomic_path, sha256_file
from .responses import NO_STORE, answer

logger = logging.getLogger(__name__)

# Request body caps. A meeting file is a few KB; a voice clip 20–60 s (a minute of 48 kHz
# stereo WAV is 11 MB); a recording up to a long day: 6 h of 48 kHz stereo 16-bit WAV is 4.1 GB.
MEETING_BYTES = 1 << 20
VOICE_BYTES = 64 << 20
RECORDING_BYTES = 6 << 30

YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
AUDIO_SUFFIXES = {"audio/flac": ".flac", "audio/x-flac": ".flac", "audio/wav": ".wav", "audio/x-wav": ".wav",
                  "audio/wave": ".wav", "audio/vnd.wave": ".wav", "audio/mpeg": ".mp3", "audio/mp3": ".mp3",
                  "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "audio/aac": ".aac", "audio/ogg": ".ogg",
                  "audio/opus": ".opus", "audio/webm": ".webm"}
KNOWN_SUFFIXES = set(AUDIO_SUFFIXES.values()) | {".wma"}


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class AppContext:
    """What the app's routes share: the data folder, its database, the queue, the draft options."""

    data: Any  # pipeline.jobs.data.DataFolder
    db_url: str
    queue: Any  # pipeline.jobs.queue.JobQueue (enqueues; the worker process runs)
    model: str | None = None  # --model: the ASR model of the drafts this app starts

    def __post_init__(self) -> None:
        from ..jobs.db import session_factory

        self.sessions = session_factory(self.db_url)

    def overrides(self) -> dict[str, dict[str, Any]]:
        return {"transcribe": {"model": self.model}} if self.model else {}


# ---------------------------------------------------------------- views

def meeting_summary(row, job) -> dict[str, Any]:
    from ..jobs.runner import job_view

    return {"id": row.id, "body": row.body, "session": row.session, "date": row.date, "place": row.place,
            "held_on": row.held_on.isoformat() if row.held_on else None, "state": row.state.value,
            "recordings": len(row.recordings), "job": job_view(job) if job is not None else None,
            "draft": _draft_job(row) is not None}


def meeting_detail(row, jobs) -> dict[str, Any]:
    from ..jobs.runner import job_view

    latest = jobs[-1] if jobs else None
    from ..agenda import agenda_items

    return {**meeting_summary(row, latest), "agenda": list(row.agenda), "member_labels": row.member_labels,
            # the headings the recorder's buttons place, as `kaigiroku record`'s keys 1–9 do
            "agenda_items": agenda_items(row.agenda),
            "participants": [{"name": a.name, "role": a.role, "title": a.title, "label": a.label,
                              "voice": bool(a.voice or (a.member is not None and a.member.voice
                                                        and a.member.voice_consent))}
                             for a in row.attendees],
            "absent": list(row.absent), "vocabulary": list(row.vocabulary),
            "recording_list": [{"id": r.id, "duration": r.duration, "source": r.source,
                                "created": r.created.isoformat()} for r in row.recordings],
            "jobs": [job_view(j) for j in jobs]}


def _draft_job(row):
    """The meeting's latest finished draft (its job), or None."""
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from ..jobs.models import Job, JobState

    return object_session(row).scalar(select(Job).where(Job.meeting_id == row.id, Job.state == JobState.DONE,
                                                        Job.result.is_not(None)).order_by(Job.id.desc()))


def draft_files(ctx: AppContext, meeting_id: int) -> tuple[Path, Path] | None:
    """(OUT.json, recording) of the meeting's latest draft, or None before one is done."""
    from ..jobs.models import MeetingRow

    with ctx.sessions() as s:
        row = s.get(MeetingRow, meeting_id)
        job = _draft_job(row) if row is not None else None
        if job is None:
            return None
        result = ctx.data.path(job.result).with_suffix(".json")
        return (result, ctx.data.path(job.recording.path)) if result.is_file() else None


# ---------------------------------------------------------------- helpers

def _meeting_row(s, meeting_id: int):
    from ..jobs.models import MeetingRow

    row = s.get(MeetingRow, meeting_id)
    if row is None:
        raise ApiError(404, f"会議 {meeting_id} はありません。会議一覧から選び直してください。")
    return row


def roster_body(s, meeting):
    """The body (附属機関) the meeting belongs to, created with its participants as the roster
    the first time; people new to an existing body join its roster."""
    from sqlalchemy import select

    from ..jobs.models import Body, Member

    name = meeting.info.body
    if not name:
        return None
    body = s.scalar(select(Body).where(Body.name == name))
    if body is None:
        body = Body(name=name, member_labels=meeting.info.member_labels)
        s.add(body)
    known = {m.name for m in body.members}
    for p in meeting.participants:
        if p.name not in known:
            body.members.append(Member(name=p.name, role=p.role, title=p.title, label=p.label,
                                       position=len(body.members)))
    s.flush()
    return body


def _media_type(request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_capped(request, cap: int) -> bytes:
    size = request.headers.get("content-length")
    if size and size.isdigit() and int(size) > cap:
        raise ApiError(413, f"送られた内容が大きすぎます（上限 {cap >> 20} MB）。")
    chunks, n = [], 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > cap:
            raise ApiError(413, f"送られた内容が大きすぎます（上限 {cap >> 20} MB）。")
        chunks.append(chunk)
    return b"".join(chunks)


def _audio_suffix(request) -> str:
    name = request.query_params.get("name", "")
    suffix = Path(name).suffix.lower() if name else ""
    if suffix in KNOWN_SUFFIXES:
        return suffix
    return AUDIO_SUFFIXES.get(_media_type(request), ".audio")  # the decoder probes the content anyway


async def stream_to(request, path: Path, cap: int) -> int:
    """The request body into `path` (0600, atomic), at most `cap` bytes; returns its size."""
    size = request.headers.get("content-length")
    if size and size.isdigit() and int(size) > cap:
        raise ApiError(413, f"送られたファイルが大きすぎます（上限 {cap >> 30 or cap >> 20} {'GB' if cap >> 30 else 'MB'}）。")
    n = 0
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            async for chunk in request.stream():
                n += len(chunk)
                if n > cap:
                    raise ApiError(413, f"送られたファイルが大きすぎます（上限 {cap >> 30 or cap >> 20} "
                                        f"{'GB' if cap >> 30 else 'MB'}）。")
                f.write(chunk)
        if n == 0:
            raise ApiError(422, "送られたファイルが空です（0バイト）。録音ファイルを選び直してください。")
    return n


def check_decodable(path: Path) -> None:
    """The file holds audio that the draft's decoder (PyAV) can read: its first frame decodes."""
    import av

    unreadable = ApiError(422, "送られたファイルは音声として読めません。wav, flac, mp3, m4a, ogg などの録音ファイルを送ってください。")
    try:
        with av.open(str(path)) as container:
            stream = next((st for st in container.streams if st.type == "audio"), None)
            if stream is None:
                raise unreadable
            for _ in container.decode(stream):
                return
    except ApiError:
        raise
    except Exception as e:  # noqa: BLE001 - PyAV raises many kinds for a file that is not audio
        logger.info("upload %s not decodable: %s", path, e)
        raise unreadable from None
    raise unreadable


def check_voice(path: Path, name: str) -> None:
    """The same checks as a meeting file's enrollment clip (pipeline.identify): decodable, not
    silent, enough speech; and not clipped (a voice print of a distorted voice names nobody)."""
    from ..config import load_options
    from ..identify import load_voice_clips
    from ..meeting import Participant

    options = load_options(None)
    try:
        load_voice_clips([Participant(name=name, role="委員", voice=path)], options.audio, options.identify)
    except KaigirokuError as e:
        # the message names the upload's temporary file: name what the clerk sent instead
        message = (e.message.replace(f"音声ファイル {path} ", "送られたファイル").replace(f"の声の録音 {path} ", "の声の録音")
                   .replace(str(path), "送られたファイル"))
        raise ApiError(422, message) from None
    share = clipped_share(path)
    if share > CLIPPED_SHARE:
        raise ApiError(422, f"参加者 {name} の声の録音は音が割れています（最大音量の音が {share:.1%}）。"
                            "マイクから少し離れるか、ミキサーの入力レベルを下げて録り直してください。")


# A voice clip is refused as clipped when more than this share of its samples sit at full scale.
# Speech recorded at a sane level has none (the bundled clips: 0 of 2.6 M samples; their peaks
# are −3 to −6 dBFS); a level set too high flattens every loud syllable, several per cent of the
# samples. One in a thousand lets a single cough at the top through.
CLIPPED_SHARE = 0.001
FULL_SCALE = 0.999  # of the format's largest value


def clipped_share(path: Path) -> float:
    """Share of the file's samples at full scale, read in its own format (no resampling, which
    would round a flattened peak off): libsndfile for wav/flac/ogg, else PyAV's decoder."""
    import numpy as np
    import soundfile as sf

    at, total = 0, 0
    try:
        for block in sf.blocks(str(path), blocksize=1 << 16, dtype="float32", always_2d=True):
            at += int(np.count_nonzero(np.abs(block) >= FULL_SCALE))
            total += block.size
        return at / total if total else 0.0
    except RuntimeError:  # LibsndfileError; mp3/m4a on an older libsndfile: decode with PyAV
        pass
    import av

    with av.open(str(path)) as container:
        stream = next(st for st in container.streams if st.type == "audio")
        for frame in container.decode(stream):
            x = frame.to_ndarray()
            if np.issubdtype(x.dtype, np.integer):
                x = x.astype(np.float32) / (np.iinfo(x.dtype).max + 1)
            at += int(np.count_nonzero(np.abs(x) >= FULL_SCALE))
            total += x.size
    return at / total if total else 0.0


def keep_voice(ctx: AppContext, mid: int, name: str, position: int, checked: Path, consent: bool) -> dict[str, Any]:
    """Keep a checked clip (an upload, a take recorded in the app) as the voice of participant
    `name` of meeting `mid`, and in the body's roster with the person's consent; `checked` is
    moved or copied, never left in its place."""
    from ..jobs.models import Member

    folder = ctx.data.folder("voices", f"meeting-{mid}")
    with ctx.sessions() as s:
        row = _meeting_row(s, mid)
        attendee = next((a for a in row.attendees if a.position == position and a.name == name), None)
        if attendee is None:
            raise ApiError(404, f"この会議の参加者に「{name}」はいません。会議の参加者の名前で送ってください。")
        clip = folder / f"{position + 1:02d}{checked.suffix}"
        checked.replace(clip)
        attendee.voice = ctx.data.relative(clip)
        kept = "meeting"
        member: Member | None = attendee.member
        if consent and member is not None:
            keep_in_roster(ctx.data, member, clip)
            kept = "roster"
        s.commit()
        return {"name": name, "kept": kept}


def attendee_position(ctx: AppContext, mid: int, name: str) -> int:
    with ctx.sessions() as s:
        row = _meeting_row(s, mid)
        found = next((a for a in row.attendees if a.name == name), None)
        if found is None:
            raise ApiError(404, f"この会議の参加者に「{name}」はいません。会議の参加者の名前で送ってください。")
        return found.position


def keep_in_roster(data, member, clip: Path) -> None:
    """A checked clip kept with the person in the body's roster (voices/B/member-N.ext). Only
    with the person's consent, which the caller has asked for: a voice print is personal data."""
    from ..jobs.models import utcnow

    own = data.folder("voices", member.body_id) / f"member-{member.id}{clip.suffix}"
    with atomic_path(own) as tmp:
        tmp.write_bytes(clip.read_bytes())
    if member.voice and member.voice != data.relative(own):
        data.path(member.voice).unlink(missing_ok=True)  # the previous clip, of another file type
    member.voice, member.voice_sha256 = data.relative(own), sha256_file(own)
    member.voice_consent, member.voice_consent_at = True, utcnow()


# ---------------------------------------------------------------- routes

async def read_meeting(request):
    """A posted meeting: meeting.yaml text or JSON with its fields, checked as the CLI checks a
    meeting file: (Meeting, whether `speakers` was given). 415/422 with the Japanese line."""
    from ..meeting import meeting_from_data, parse_meeting

    kind = _media_type(request)
    raw = await read_capped(request, MEETING_BYTES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(422, "会議ファイルは UTF-8 の文字で送ってください。") from None
    try:
        if kind in YAML_TYPES:
            import yaml

            try:
                given = yaml.safe_load(text)
            except yaml.YAMLError:
                given = None  # parse_meeting says where the YAML is broken
            return parse_meeting(text, "会議ファイル"), isinstance(given, dict) and "speakers" in given
        if kind == "application/json":
            try:
                data = json.loads(text)
            except ValueError:
                raise ApiError(422, "送られた内容が JSON として読めません。") from None
            return meeting_from_data(data, "会議ファイル"), isinstance(data, dict) and "speakers" in data
        raise ApiError(415, "会議は meeting.yaml（Content-Type: application/yaml）か JSON で送ってください。")
    except KaigirokuError as e:
        raise ApiError(422, e.message) from None
    raise ApiError(415, "会議は meeting.yaml（Content-Type: application/yaml）か JSON で送ってください。")



def routes(ctx: AppContext) -> list:
    from sqlalchemy import or_, select
    from starlette.background import BackgroundTask
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, Response
    from starlette.routing import Route

    from ..jobs.meetings import export_meeting, held_on, store_meeting
    from ..jobs.models import Job, MeetingRow, MeetingState
    from ..jobs.recordings import add_recording, recording_folder
    from ..jobs.runner import job_view
    from .access import check_new_meeting, current, meeting_can, visible_meetings

    def list_meetings(request: Request):
        q = request.query_params.get("q", "").strip()
        day = request.query_params.get("date", "").strip()
        with ctx.sessions() as s:
            query = select(MeetingRow).order_by(MeetingRow.held_on.desc().nulls_last(), MeetingRow.id.desc())
            for is_day, text in ((False, q), (True, day)):
                if not text:
                    continue
                when = held_on(text)
                if when is not None:
                    query = query.where(MeetingRow.held_on == when)
                elif is_day:
                    raise ApiError(422, f"日付「{day}」が読めません。2024-10-15 か 令和6年10月15日 の形にしてください。")
                else:
                    like = f"%{text}%"
                    query = query.where(or_(MeetingRow.body.like(like), MeetingRow.session.like(like),
                                            MeetingRow.date.like(like), MeetingRow.place.like(like)))
            rows = s.scalars(visible_meetings(request, query)).all()
            latest: dict[int, Job] = {}
            if rows:
                for job in s.scalars(select(Job).where(Job.meeting_id.in_([r.id for r in rows])).order_by(Job.id)):
                    latest[job.meeting_id] = job
            user = current(request)  # "can": the operations the page may offer (pipeline.web.access)
            return answer({"meetings": [{**meeting_summary(r, latest.get(r.id)), "can": meeting_can(user, r.body_id)}
                                        for r in rows]})

    async def create_meeting(request: Request):
        meeting, _ = await read_meeting(request)

        def store() -> int:
            check_new_meeting(request, meeting.info.body)  # accounts: only for one's own body
            with ctx.sessions() as s:
                body = roster_body(s, meeting)
                row = MeetingRow()
                s.add(row)  # in the session before it joins the body's meetings
                row = store_meeting(s, meeting, row=row, body=body)
                s.commit()
                return row.id

        return answer({"id": await run_in_threadpool(store)}, 201)

    def get_meeting(request: Request):
        with ctx.sessions() as s:
            row = _meeting_row(s, request.path_params["mid"])
            jobs = s.scalars(select(Job).where(Job.meeting_id == row.id).order_by(Job.id)).all()
            return answer({**meeting_detail(row, jobs), "can": meeting_can(current(request), row.body_id)})

    def meeting_yaml(request: Request):
        with ctx.sessions() as s:
            text = export_meeting(_meeting_row(s, request.path_params["mid"]), ctx.data)
        return Response(text, media_type="application/yaml; charset=utf-8", headers=NO_STORE)

    async def put_voice(request: Request):
        mid, name = request.path_params["mid"], request.path_params["name"]
        consent = request.query_params.get("consent") in ("1", "true", "yes")
        position = await run_in_threadpool(attendee_position, ctx, mid, name)
        folder = ctx.data.folder("voices", f"meeting-{mid}")
        incoming = folder / f"incoming-{uuid.uuid4().hex}{_audio_suffix(request)}"
        await stream_to(request, incoming, VOICE_BYTES)

        def keep() -> dict[str, Any]:
            try:
                check_voice(incoming, name)
                return keep_voice(ctx, mid, name, position, incoming, consent)
            finally:
                incoming.unlink(missing_ok=True)

        return answer(await run_in_threadpool(keep))

    async def put_recording(request: Request):
        mid = request.path_params["mid"]
        await run_in_threadpool(lambda: _meeting_row_closed(mid))
        folder = recording_folder(ctx.data, mid)
        incoming = folder / f"incoming-{uuid.uuid4().hex}{_audio_suffix(request)}"
        await stream_to(request, incoming, RECORDING_BYTES)

        def keep() -> dict[str, Any]:
            try:
                check_decodable(incoming)
                with ctx.sessions() as s:
                    row = _meeting_row(s, mid)
                    final = folder / f"upload-{len(row.recordings) + 1}{incoming.suffix}"
                    incoming.replace(final)
                    rec = add_recording(s, ctx.data, mid, final, "uploaded")
                    if row.state in (MeetingState.PREPARING, MeetingState.RECORDING):
                        row.state = MeetingState.WAITING
                    s.commit()
                    return {"id": rec.id, "duration": rec.duration, "sha256": rec.sha256}
            finally:
                incoming.unlink(missing_ok=True)

        return answer(await run_in_threadpool(keep), 201)

    def _meeting_row_closed(mid: int) -> None:
        with ctx.sessions() as s:
            _meeting_row(s, mid)

    def start_draft(request: Request):
        mid = request.path_params["mid"]
        with ctx.sessions() as s:
            _meeting_row(s, mid)
        try:
            job = ctx.queue.submit(mid, overrides=ctx.overrides())
        except KaigirokuError as e:
            raise ApiError(409, e.message) from None
        return answer({"job": job.id}, 202)

    def get_job(request: Request):
        with ctx.sessions() as s:
            job = s.get(Job, request.path_params["jid"])
            if job is None:
                raise ApiError(404, f"作業 {request.path_params['jid']} はありません。")
            return answer(job_view(job))

    def cancel(request: Request):
        try:
            ctx.queue.cancel(request.path_params["jid"])
        except KaigirokuError as e:
            raise ApiError(404, e.message) from None
        with ctx.sessions() as s:
            return answer(job_view(s.get(Job, request.path_params["jid"])))

    def delete_meeting(request: Request):
        """A meeting added by mistake, or one whose retention ended: its rows, recordings, clips,
        drafts and corrections. Never while it records or drafts (409), never a roster's clip or
        what the library learned (those belong to the body)."""
        import shutil

        from ..jobs.models import JobState

        mid = request.path_params["mid"]
        with ctx.sessions() as s:
            row = _meeting_row(s, mid)
            if row.state == MeetingState.RECORDING:
                raise ApiError(409, "録音中（または復元待ち）の会議は削除できません。録音を終了するか復元してから削除してください。")
            if any(j.state in (JobState.QUEUED, JobState.RUNNING) for j in s.scalars(select(Job).where(Job.meeting_id == mid))):
                raise ApiError(409, "原稿作成中の会議は削除できません。原稿作成を取り消してから削除してください。")
            s.delete(row)
            s.commit()
        for folder in (ctx.data.root / "recordings" / str(mid), ctx.data.root / "results" / str(mid),
                       ctx.data.root / "voices" / f"meeting-{mid}"):
            shutil.rmtree(folder, ignore_errors=True)
        logger.info("meeting %s deleted", mid)
        return answer({"deleted": mid})

    def minutes(request: Request):
        from ..config import load_options
        from ..draft import run_export

        mid = request.path_params["mid"]
        public = request.query_params.get("public") in ("1", "true", "yes")
        with ctx.sessions() as s:
            row = _meeting_row(s, mid)
            title = re.sub(r"[\\/:*?\"<>|\x00-\x1f]", "_", " ".join(x for x in (row.body, row.session) if x)) \
                or f"会議{mid}"
        files = draft_files(ctx, mid)
        if files is None:
            raise ApiError(404, "この会議の原稿はまだありません。原稿作成を押して、終わるのを待ってください。")
        out = ctx.data.folder("results", mid, "exports") / f"{uuid.uuid4().hex}.docx"
        config = load_options(None, {"export": {"public": True if public else None}})
        try:
            run_export(files[0], out, config, formats=("docx",), force=True)
        except KaigirokuError as e:
            raise ApiError(500, e.message) from None
        name = f"{title} 会議録（{'公開用' if public else '原稿'}）.docx"
        return FileResponse(out, filename=name, headers=NO_STORE,
                            media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                            background=BackgroundTask(out.unlink, missing_ok=True))

    return [
        Route("/api/meetings", list_meetings, methods=["GET"]),
        Route("/api/meetings", create_meeting, methods=["POST"]),
        Route("/api/meetings/{mid:int}", get_meeting, methods=["GET"]),
        Route("/api/meetings/{mid:int}", delete_meeting, methods=["DELETE"]),
        Route("/api/meetings/{mid:int}/meeting.yaml", meeting_yaml, methods=["GET"]),
        Route("/api/meetings/{mid:int}/voices/{name}", put_voice, methods=["PUT"]),
        Route("/api/meetings/{mid:int}/recording", put_recording, methods=["PUT"]),
        Route("/api/meetings/{mid:int}/draft", start_draft, methods=["POST"]),
        Route("/api/meetings/{mid:int}/minutes.docx", minutes, methods=["GET"]),
        Route("/api/jobs/{jid:int}", get_job, methods=["GET"]),
        Route("/api/jobs/{jid:int}", cancel, methods=["DELETE"]),
    ]
