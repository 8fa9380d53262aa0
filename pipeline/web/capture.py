"""Recording inside `kaigiroku app` (issue 14 pages 4 and 5): the app drives the same capture
core as `kaigiroku record` (`pipeline.recorder`: start → status → markers → pause/resume →
stop), so its files are the recorder's — a crash-safe journal while recording, FLAC with the
markers sidecar the draft reads at the stop.

One recording at a time per app (one input rig): a meeting's, or a person's voice take. It
belongs to the app process, not to a page: the page polls the status and may be closed and
opened again. A meeting's recording becomes a RecordingRow (source ``recorded``); a voice take
is checked like an uploaded clip and waits for the clerk to listen and keep it.

If the app (or the PC) dies while recording, the journal stays in
``recordings/M/rec-….flac.rec.pcm``; `recoverable` finds it at the next start and `recover`
makes it a RecordingRow (source ``recovered``) through `pipeline.recorder.recover`, losing at
most the last ``record.fsync_interval`` s.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import KaigirokuError
from .api import ApiError, AppContext, attendee_position, check_voice, keep_in_roster, keep_voice
from .responses import NO_STORE, answer

logger = logging.getLogger(__name__)

# A voice take stops by itself after this long: the text to read takes 20–60 s, and a take
# nobody stops must not fill the disk.
VOICE_MAX_S = 90.0
TAKE_PREFIX = "take-"
# s the start waits for the driver's first block; after that it answers anyway and the status
# carries the recorder's "no audio from the device" warning
FIRST_BLOCK_S = 5.0


@dataclass(frozen=True)
class Take:
    """What the app is recording: a meeting (kind "meeting") or a person's voice (kind "voice")."""

    kind: str
    meeting_id: int | None  # None: a roster member's voice, outside any meeting
    name: str  # the participant or member, for a voice take
    out: Path
    member_id: int | None = None  # a roster member's voice take (kept in the roster only)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "meeting": self.meeting_id, "member": self.member_id, "name": self.name,
                "file": self.out.name}


@dataclass(frozen=True)
class PendingVoice:
    """A voice take that passed the checks, waiting to be heard and kept (or recorded again)."""

    id: str
    meeting_id: int | None
    name: str
    path: Path
    duration: float
    member_id: int | None = None


class CaptureSlot:
    """The app's one recorder. Every method is safe from any thread (the API's thread pool)."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self._lock = threading.RLock()
        self._rec = None  # pipeline.recorder.Recording
        self._take: Take | None = None
        self._last: dict[str, Any] | None = None  # how the last recording ended, for the page
        self._pending: dict[str, PendingVoice] = {}
        self._saved = threading.Event()  # set when the last recording's FLAC is written and kept
        self._saved.set()
        self._clear_takes()

    def _clear_takes(self) -> None:
        """Voice takes an earlier run left (not kept, or its journal after a crash): a voice is
        personal data kept only when the clerk keeps it, and a take is read again in a minute."""
        for take in (self.ctx.data.root / "voices").glob(f"*/{TAKE_PREFIX}*"):
            try:
                take.unlink()
            except OSError as e:  # another app on the same folder is recording it (Windows) …
                logger.info("take %s left: %s", take, e)

    # ---- starting

    def start_meeting(self, mid: int, device: str | int | None, channels: int | None) -> dict[str, Any]:
        from ..jobs.models import MeetingState
        from ..jobs.recordings import recording_folder

        with self.ctx.sessions() as s:
            row = _meeting(s, mid)
            if row.state in (MeetingState.DRAFTING,):
                raise ApiError(409, "この会議は原稿の作成中です。終わってから録音してください。")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = recording_folder(self.ctx.data, mid) / f"rec-{stamp}.flac"
        info = self._start(Take("meeting", mid, "", out), device, channels, None)
        with self.ctx.sessions() as s:
            _meeting(s, mid).state = MeetingState.RECORDING
            s.commit()
        return info

    def start_voice(self, mid: int, name: str, device: str | int | None, channels: int | None) -> dict[str, Any]:
        attendee_position(self.ctx, mid, name)  # 404 for a name that is not a participant
        out = self.ctx.data.folder("voices", f"meeting-{mid}") / f"{TAKE_PREFIX}{uuid.uuid4().hex}.flac"
        return self._start(Take("voice", mid, name, out), device, channels, VOICE_MAX_S)

    def start_member_voice(self, bid: int, member_id: int, device: str | int | None,
                           channels: int | None) -> dict[str, Any]:
        """A roster member's voice, recorded on the roster page (kept only with consent)."""
        name = _member(self.ctx, bid, member_id).name
        out = self.ctx.data.folder("voices", bid) / f"{TAKE_PREFIX}{uuid.uuid4().hex}.flac"
        return self._start(Take("voice", None, name, out, member_id), device, channels, VOICE_MAX_S)

    def _start(self, take: Take, device, channels, duration: float | None) -> dict[str, Any]:
        from ..config import load_options
        from ..recorder import start

        with self._lock:
            if self._take is not None:  # recording, or its FLAC still being written
                raise ApiError(409, self._busy())
            options = load_options(None).record
            try:
                rec = start(take.out, options, device=device if device not in (None, "") else None,
                            channels=channels or None, duration=duration)
            except KaigirokuError as e:
                raise ApiError(422, e.message) from None
            # answer once audio flows, as `kaigiroku record` says 録音開始 only then: a driver may
            # take a second to deliver, and the page must not say 録音中 before anything is kept
            deadline = time.monotonic() + FIRST_BLOCK_S
            while not rec.capturing and not rec.wait(0.02) and time.monotonic() < deadline:
                pass
            self._rec, self._take, self._last = rec, take, None
            # the recording may end by itself (duration, a full disk, the device gone): keep it then
            threading.Thread(target=self._end_when_done, args=(rec,), name="kaigiroku-app-recording",
                             daemon=True).start()
            logger.info("app: recording %s (%s)", take.out, take.kind)
            return {"recording": take.to_dict(), "info": rec.info.to_dict()}

    def _busy(self) -> str:
        t = self._take
        what = "会議の録音" if t is not None and t.kind == "meeting" else f"{t.name if t else ''} さんの声の録音"
        return f"{what}をしています。録音画面で終了してから始めてください（録音は一度に一つです）。"

    # ---- while recording

    def status(self) -> dict[str, Any]:
        with self._lock:
            rec, take = self._rec, self._take
            if rec is None and take is not None:  # stopped, its FLAC being written
                return {"active": None, "saving": take.to_dict(), "last": None}
            if rec is None:
                return {"active": None, "last": self._last}
            return {"active": {**take.to_dict(), "info": rec.info.to_dict(), "status": rec.status().to_dict()},
                    "last": None}

    def _active(self):
        rec = self._rec
        if rec is None:
            raise ApiError(409, "録音していません。録音画面で「開始」を押してください。")
        return rec

    def marker(self, label: str) -> dict[str, Any]:
        with self._lock:
            rec = self._active()
            if self._take.kind != "meeting":
                raise ApiError(409, "見出しは会議の録音にだけ付けられます。")
            try:
                return rec.add_marker(label).to_dict()
            except KaigirokuError as e:
                raise ApiError(422, e.message) from None

    def pause(self, on: bool) -> dict[str, Any]:
        with self._lock:
            rec = self._active()
            rec.pause() if on else rec.resume()
            return rec.status().to_dict()

    # ---- ending

    def stop(self) -> dict[str, Any]:
        """End the recording and keep it: the meeting's RecordingRow, or a checked voice take."""
        with self._lock:
            if self._rec is None and self._take is None:
                raise ApiError(409, "録音していません。録音画面で「開始」を押してください。")
            if self._rec is not None:
                self._rec.request_stop("stop")
        return self._finish()  # (if it is being saved already: that one's result)

    def _end_when_done(self, rec) -> None:
        rec.wait()
        with self._lock:
            if self._rec is not rec:  # stopped through the API meanwhile
                return
        try:
            self._finish()
        except ApiError:
            pass  # said in `last` for the page
        except Exception:  # noqa: BLE001 - a thread with nobody to tell but the log and the page
            logger.exception("app: keeping the recording failed")

    def _finish(self) -> dict[str, Any]:
        """Stop, write the FLAC and keep it. The slot's lock is not held while the FLAC is
        written (minutes for a long meeting): the page's status polls answer "saving" meanwhile,
        and a second caller waits for the first one's result."""
        with self._lock:
            rec, take, saved = self._rec, self._take, self._saved
            if rec is not None:
                self._rec, saved = None, threading.Event()
                self._saved = saved
                mine = True
            else:
                mine = False
        if not mine:
            saved.wait()
            with self._lock:
                last = self._last or {}
            if "error" in last:
                raise ApiError(last.get("status", 422), last["error"])
            return last
        last: dict[str, Any] = {**take.to_dict(), "error": "録音を保存できませんでした。", "status": 500}
        try:
            try:
                result = rec.stop()
            except KaigirokuError as e:  # the FLAC could not be written: the journal stays for recovery
                last = {**take.to_dict(), "error": e.message, "status": 500}
                raise ApiError(500, e.message) from None
            try:
                keep = self._keep_meeting if take.kind == "meeting" else self._check_take
                last = {**take.to_dict(), **keep(take, result)}
            except ApiError as e:
                last = {**take.to_dict(), "error": e.message, "status": e.status}
                raise
            return last
        finally:
            with self._lock:
                self._last, self._take = last, None
            saved.set()

    def _keep_meeting(self, take: Take, result) -> dict[str, Any]:
        from ..jobs.recordings import add_recording

        with self.ctx.sessions() as s:
            row = add_recording(s, self.ctx.data, take.meeting_id, take.out, "recorded")
            _now_waiting(s, take.meeting_id)
            s.commit()
            return {"id": row.id, "duration": row.duration, "markers": [m.to_dict() for m in result.markers],
                    "stopped_by": result.stopped_by, "source": "recorded"}

    def _check_take(self, take: Take, result) -> dict[str, Any]:
        duration = result.duration
        try:
            check_voice(take.out, take.name)
        except ApiError:
            take.out.unlink(missing_ok=True)
            raise
        pending = PendingVoice(uuid.uuid4().hex, take.meeting_id, take.name, take.out, duration, take.member_id)
        self._pending[pending.id] = pending
        return {"take": pending.id, "duration": round(duration, 1)}

    def take(self, take_id: str) -> PendingVoice:
        with self._lock:
            found = self._pending.get(take_id)
        if found is None or not found.path.is_file():
            raise ApiError(404, "この声の録音はもうありません。もう一度録音してください。")
        return found

    def keep_take(self, take_id: str, consent: bool) -> dict[str, Any]:
        take = self.take(take_id)
        if take.member_id is not None and not consent:  # as the roster's own upload asks
            raise ApiError(422, "名簿に声を残すには本人の同意が必要です。同意を確かめて「本人の同意あり」を選んでから登録してください。")
        with self._lock:
            self._pending.pop(take_id, None)
        if take.member_id is not None:
            try:
                return self._keep_member(take)
            finally:
                take.path.unlink(missing_ok=True)
        position = attendee_position(self.ctx, take.meeting_id, take.name)
        try:
            return keep_voice(self.ctx, take.meeting_id, take.name, position, take.path, consent)
        finally:
            take.path.unlink(missing_ok=True)

    def _keep_member(self, take: PendingVoice) -> dict[str, Any]:
        from ..jobs.models import Member

        with self.ctx.sessions() as s:
            member = s.get(Member, take.member_id)
            if member is None:
                raise ApiError(404, "この人は名簿にもういません。ページを再読み込みしてください。")
            keep_in_roster(self.ctx.data, member, take.path)
            s.commit()
        return {"name": take.name, "kept": "roster"}

    def discard_take(self, take_id: str) -> None:
        with self._lock:
            take = self._pending.pop(take_id, None)
        if take is not None:
            take.path.unlink(missing_ok=True)

    def shutdown(self) -> None:
        """The app is ending (Ctrl-C, the window's close): keep a meeting's recording as FLAC;
        if even that fails, the journal stays for the next start to offer."""
        with self._lock:
            rec = self._rec
        if rec is None:
            return
        try:
            self._finish()
        except Exception:  # noqa: BLE001 - ending anyway; the journal (if any) is offered next time
            logger.exception("app: the recording could not be kept at exit")
            rec.close()
        for take in list(self._pending):
            self.discard_take(take)

    # ---- recovery

    def recoverable(self) -> list[dict[str, Any]]:
        """The meetings' journals that no recording of this app is writing: what a crash left."""
        from ..recorder import unrecovered
        from ..recorder.journal import read_journal

        with self._lock:
            active = self._take.out if self._take is not None else None
        found = []
        root = self.ctx.data.root / "recordings"
        for folder in sorted(root.iterdir()) if root.is_dir() else ():
            if not folder.name.isdigit():
                continue
            for out in unrecovered(folder):
                if out == active:
                    continue
                try:
                    meta, pcm, _ = read_journal(out)
                    frame = int(meta["channels"]) * (2 if meta["dtype"] == "int16" else 4)
                    seconds = pcm.stat().st_size // frame / int(meta["sample_rate"])
                except (KaigirokuError, OSError):
                    meta, seconds = {}, None
                found.append({"meeting": int(folder.name), "file": out.name, "started": meta.get("start"),
                              "seconds": seconds})
        return found

    def recover(self, mid: int) -> list[dict[str, Any]]:
        """Every journal a crash left for meeting `mid` → FLAC → RecordingRow (source recovered)."""
        from ..jobs.recordings import add_recording
        from ..recorder import recover

        with self.ctx.sessions() as s:
            _meeting(s, mid)
        files = [r["file"] for r in self.recoverable() if r["meeting"] == mid]
        if not files:
            raise ApiError(404, "この会議に復元する録音はありません。")
        from ..jobs.recordings import recording_folder

        folder, kept = recording_folder(self.ctx.data, mid), []
        for name in files:
            try:
                out = recover(folder / name)
            except KaigirokuError as e:
                raise ApiError(500, e.message) from None
            with self.ctx.sessions() as s:
                row = add_recording(s, self.ctx.data, mid, out, "recovered")
                _now_waiting(s, mid)
                s.commit()
                kept.append({"id": row.id, "duration": row.duration, "source": "recovered"})
            logger.info("app: recovered %s", out)
        return kept


def _meeting(s, mid: int):
    from ..jobs.models import MeetingRow

    row = s.get(MeetingRow, mid)
    if row is None:
        raise ApiError(404, f"会議 {mid} はありません。会議一覧から選び直してください。")
    return row


def _member(ctx: AppContext, bid: int, member_id: int):
    from ..jobs.models import Member

    with ctx.sessions() as s:
        member = s.get(Member, member_id)
        if member is None or member.body_id != bid:
            raise ApiError(404, f"名簿に番号 {member_id} の人はいません。ページを再読み込みしてください。")
        s.expunge(member)
        return member


def _now_waiting(s, mid: int) -> None:
    from ..jobs.models import MeetingState

    row = _meeting(s, mid)
    if row.state in (MeetingState.PREPARING, MeetingState.RECORDING):
        row.state = MeetingState.WAITING


# ---------------------------------------------------------------- routes

def routes(ctx: AppContext, slot: CaptureSlot) -> list:
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse
    from starlette.routing import Route

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        try:
            import json

            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise ApiError(422, "送られた内容が JSON として読めません。") from None
        if not isinstance(data, dict):
            raise ApiError(422, "送られた内容が JSON のオブジェクトではありません。")
        return data

    def device_args(data: dict[str, Any]) -> tuple[str | int | None, int | None]:
        device = data.get("device")
        channels = data.get("channels")
        if channels not in (None, ""):
            try:
                channels = int(channels)
            except (TypeError, ValueError):
                raise ApiError(422, f"チャンネル数「{channels}」が読めません。1 以上の数にしてください。") from None
        return (device if device not in ("", None) else None), (channels or None)

    def devices(request: Request):
        from ..recorder import list_devices

        try:
            found = list_devices()
        except KaigirokuError as e:
            raise ApiError(503, e.message) from None
        return answer({"devices": [d.to_dict() for d in found]})

    def status(request: Request):
        return answer(slot.status())

    async def record_meeting(request: Request):
        device, channels = device_args(await body(request))
        mid = request.path_params["mid"]
        return answer(await run_in_threadpool(slot.start_meeting, mid, device, channels), 201)

    async def record_voice(request: Request):
        device, channels = device_args(await body(request))
        mid, name = request.path_params["mid"], request.path_params["name"]
        return answer(await run_in_threadpool(slot.start_voice, mid, name, device, channels), 201)

    async def record_member_voice(request: Request):
        device, channels = device_args(await body(request))
        bid, member = request.path_params["bid"], request.path_params["member"]
        return answer(await run_in_threadpool(slot.start_member_voice, bid, member, device, channels), 201)

    async def marker(request: Request):
        label = str((await body(request)).get("label", ""))
        return answer(await run_in_threadpool(slot.marker, label), 201)

    def pause(request: Request):
        return answer(slot.pause(True))

    def resume(request: Request):
        return answer(slot.pause(False))

    async def stop(request: Request):
        return answer(await run_in_threadpool(slot.stop))

    def take_audio(request: Request):
        take = slot.take(request.path_params["take"])
        return FileResponse(take.path, media_type="audio/flac", headers=NO_STORE)

    async def keep_take(request: Request):
        consent = request.query_params.get("consent") in ("1", "true", "yes")
        return answer(await run_in_threadpool(slot.keep_take, request.path_params["take"], consent))

    def discard_take(request: Request):
        slot.discard_take(request.path_params["take"])
        return answer({"discarded": True})

    async def recoveries(request: Request):
        return answer({"recordings": await run_in_threadpool(slot.recoverable)})

    async def recover(request: Request):
        return answer({"recordings": await run_in_threadpool(slot.recover, request.path_params["mid"])}, 201)

    return [
        Route("/api/devices", devices, methods=["GET"]),
        Route("/api/recorder", status, methods=["GET"]),
        Route("/api/recorder/marker", marker, methods=["POST"]),
        Route("/api/recorder/pause", pause, methods=["POST"]),
        Route("/api/recorder/resume", resume, methods=["POST"]),
        Route("/api/recorder/stop", stop, methods=["POST"]),
        Route("/api/meetings/{mid:int}/record", record_meeting, methods=["POST"]),
        Route("/api/meetings/{mid:int}/voices/{name}/record", record_voice, methods=["POST"]),
        Route("/api/bodies/{bid:int}/members/{member:int}/voice/record", record_member_voice, methods=["POST"]),
        Route("/api/takes/{take}", take_audio, methods=["GET"]),
        Route("/api/takes/{take}", discard_take, methods=["DELETE"]),
        Route("/api/takes/{take}/keep", keep_take, methods=["POST"]),
        Route("/api/recoveries", recoveries, methods=["GET"]),
        Route("/api/meetings/{mid:int}/recover", recover, methods=["POST"]),
    ]
