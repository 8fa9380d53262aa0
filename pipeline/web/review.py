"""`kaigiroku review OUT.json`: correct the draft against the recording in the browser (issue #8).

A Starlette app served by uvicorn on 127.0.0.1 only, behind `pipeline.web.auth` (shared with
`kaigiroku app`, which mounts `review_app` for a meeting's draft). Every request needs the random token that
the printed URL carries: the first page load trades it for a cookie (HttpOnly, SameSite=Strict,
named after the port so two review pages on one PC do not log each other out). Everything the
page uses is served from `pipeline/web/static/`: the clerks' PCs may be on a closed network.

The page sends one edit at a time ({"op": ..., "rev": ...}); the server applies it with
`pipeline.web.edits` to the saved result and saves through `pipeline.web.store` (atomic, undo history,
409 on a stale revision). Export runs `draft.run_export` on the saved result: the same writers
and the same overwrite rule as `kaigiroku export`.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audio import find_audio
from ..errors import KaigirokuError
from ..types import Minutes, Utterance
from .auth import HOST, OneTimeCode, TokenGate, listen  # noqa: F401 - listen, HOST: used by callers
from .edits import OP_NAMES, EditError, apply_edit, meeting_of, word_spans
from .store import Conflict, ReviewFile, Saved

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
AUDIO_TYPES = {".flac": "audio/flac", ".wav": "audio/wav", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
               ".ogg": "audio/ogg", ".opus": "audio/ogg", ".webm": "audio/webm", ".aac": "audio/aac"}


@dataclass(frozen=True)
class ReviewOptions:
    result: Path  # OUT.json
    audio: Path | None  # the recording, None when it cannot be found
    token: str  # required on every request
    port: int  # where the server listens (for the Host check)
    launch: OneTimeCode = field(default_factory=OneTimeCode, compare=False)  # for the browser we start
    # inside `kaigiroku app` / `kaigiroku server`: the browser may be on another PC, so the page
    # names files, never the server's folders
    in_app: bool = False


def utterance_view(u: Utterance) -> dict[str, Any]:
    """One row: text, flags, word times and which characters show which word."""
    return {"start": u.start, "end": u.end, "speaker": u.speaker, "text": u.text,
            "speaker_uncertain": u.speaker_uncertain, "marks": [mk.to_dict() for mk in u.marks],
            "words": [[round(w.start, 2), round(w.end, 2)] for w in u.words], "spans": word_spans(u)}


def page_data(saved: Saved, options: ReviewOptions, only: int | None = None) -> dict[str, Any]:
    """What the page shows: the header, speakers, participants, utterances and headings; or,
    with `only`, just that utterance (a text edit: a 3-hour meeting is MBs to send and draw)."""
    from ..writers import header_rows

    m = saved.minutes
    state = {"rev": saved.rev, "undo": saved.undo, "undo_what": saved.last}
    if only is not None:
        return {**state, "utterance": {"index": only, **utterance_view(m.utterances[only])}}
    meeting = meeting_of(m)
    return {
        **state, "file": options.result.name if options.in_app else str(options.result),
        "header": header_rows(meeting),
        "audio": {"available": options.audio is not None,
                  "path": Path(m.audio.path).name if options.in_app else m.audio.path,
                  "duration": m.audio.duration},
        "speakers": [{"id": s.id, "label": s.label, "name": s.name, "role": s.role,
                      "used": any(u.speaker == s.id for u in m.utterances)} for s in m.speakers],
        "participants": [{"name": p.name, "role": p.role, "title": p.title} for p in meeting.participants],
        "utterances": [utterance_view(u) for u in m.utterances],
        "headings": [h.to_dict() for h in m.headings],
    }


ROW_OPS = ("text", "check")  # edits that change one utterance and nothing else

_EXPORT_NAME = re.compile(r"^[^/\\\x00-\x1f]+\.docx$")


def export_docx(options: ReviewOptions, name: str, public: bool, force: bool) -> Path:
    """Write NAME (a file name, beside OUT.json) from the saved result, as `kaigiroku export`
    would; an existing file is refused unless `force` (the editor confirmed)."""
    from ..config import load_options
    from ..draft import run_export

    name = str(name).strip()
    if not _EXPORT_NAME.match(name) or name.startswith("."):
        raise EditError("書き出すファイルの名前は「〜.docx」にしてください（フォルダは指定できません。結果ファイルと同じフォルダに書きます）。")
    out = options.result.parent / name
    config = load_options(None, {"export": {"public": True if public else None}})
    run_export(options.result, out, config, formats=("docx",), force=force)
    return out


def create_app(options: ReviewOptions):
    """The review page behind the token gate (`kaigiroku review`)."""
    return TokenGate(review_app(options), token=options.token, port=options.port, launch=options.launch)


def review_app(options: ReviewOptions):
    """The review page's routes without a gate: `kaigiroku app` mounts it for a meeting's
    draft under its own gate. The page names its API relative to its own address."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    store = ReviewFile(options.result)
    no_store = {"Cache-Control": "no-store"}

    def index(request: Request):
        return FileResponse(STATIC / "review.html", headers=no_store)

    def doc(request: Request):
        return JSONResponse(page_data(store.load(), options), headers=no_store)

    def failure(e: Exception) -> JSONResponse:
        if isinstance(e, Conflict):
            return JSONResponse({"error": e.message, "conflict": True, "rev": e.current}, status_code=409)
        if isinstance(e, EditError):
            return JSONResponse({"error": e.message}, status_code=400)
        assert isinstance(e, KaigirokuError)
        logger.warning("review: %s (%s)", e.message, e.detail)
        return JSONResponse({"error": e.message}, status_code=500)

    async def body(request: Request) -> dict[str, Any]:
        # JSON only: a cross-site form cannot send it without a CORS preflight, which we never grant
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise EditError("JSON で送ってください。")
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise EditError("送られた内容が JSON として読めません。") from None
        if not isinstance(data, dict):
            raise EditError("送られた内容が正しくありません。")
        return data

    async def edit(request: Request):
        from starlette.concurrency import run_in_threadpool

        try:
            data = await body(request)
            op, rev = str(data.get("op", "")), str(data.get("rev", ""))
            what = OP_NAMES.get(op, op)
            if isinstance(data.get("index"), int):
                what += f"（発言{data['index'] + 1}）"
            saved = await run_in_threadpool(store.edit, rev, lambda m: apply_edit(m, op, data), what)
        except (Conflict, EditError, KaigirokuError) as e:
            return failure(e)
        only = data["index"] if op in ROW_OPS else None
        return JSONResponse(page_data(saved, options, only), headers=no_store)

    async def undo(request: Request):
        from starlette.concurrency import run_in_threadpool

        try:
            data = await body(request)
            saved = await run_in_threadpool(store.undo, str(data.get("rev", "")))
        except (Conflict, EditError, KaigirokuError) as e:
            return failure(e)
        return JSONResponse(page_data(saved, options), headers=no_store)

    async def export(request: Request):
        from starlette.concurrency import run_in_threadpool

        try:
            data = await body(request)
            out = await run_in_threadpool(export_docx, options, data.get("name", ""),
                                          bool(data.get("public")), bool(data.get("force")))
        except KaigirokuError as e:
            if e.detail == "output exists":
                return JSONResponse({"error": e.message, "exists": True}, status_code=409)
            return failure(e)
        except EditError as e:
            return failure(e)
        return JSONResponse({"path": out.name if options.in_app else str(out)})

    def audio(request: Request):
        if options.audio is None or not options.audio.is_file():
            return PlainTextResponse("録音ファイルが見つかりません。", status_code=404)
        media = AUDIO_TYPES.get(options.audio.suffix.lower()) or mimetypes.guess_type(options.audio.name)[0]
        # FileResponse answers Range requests (206 + Content-Range): a 3-hour file seeks at once
        return FileResponse(options.audio, media_type=media or "application/octet-stream")

    routes = [Route("/", index), Route("/api/doc", doc), Route("/api/edit", edit, methods=["POST"]),
              Route("/api/undo", undo, methods=["POST"]), Route("/api/export", export, methods=["POST"]),
              Route("/audio", audio), Mount("/static", StaticFiles(directory=STATIC), name="static")]
    return Starlette(routes=routes)


def prepare(result: Path, port: int = 0, audio: Path | None = None) -> tuple[ReviewOptions, socket.socket, Minutes]:
    """Check the result and the recording, bind the socket: everything that can fail, before serving."""
    from .store import read_result

    result = Path(result).resolve()
    _, _, minutes = read_result(result)
    if not os.access(result, os.W_OK) or not os.access(result.parent, os.W_OK | os.X_OK):
        raise KaigirokuError(f"{result} を保存できません（書き込みの権限がありません）。書き込めるフォルダにコピーしてから開いてください。")
    if audio is not None and not Path(audio).is_file():
        raise KaigirokuError(f"録音ファイル {audio} が見つかりません。--audio のパスを確認してください。")
    sock = listen(port)
    options = ReviewOptions(result, find_audio(minutes, result, Path(audio) if audio else None),
                            secrets.token_urlsafe(32), sock.getsockname()[1])
    return options, sock, minutes


def make_server(options: ReviewOptions):
    """The uvicorn server for `options`; run it with ``.run(sockets=[sock])``."""
    import uvicorn

    config = uvicorn.Config(create_app(options), log_level="warning", lifespan="off",
                            access_log=False, server_header=False)
    return uvicorn.Server(config)


def serve(options: ReviewOptions, sock: socket.socket, open_browser: bool = True) -> None:
    """Serve until Ctrl-C."""
    if open_browser:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(browser_url(options),)).start()
    make_server(options).run(sockets=[sock])


def url_for(options: ReviewOptions) -> str:
    """The address printed for the clerk (their own terminal): it works for the whole session."""
    return f"http://{HOST}:{options.port}/?token={options.token}"


def browser_url(options: ReviewOptions) -> str:
    """The address the browser is started with: a one-time code, never the token (see OneTimeCode)."""
    return f"http://{HOST}:{options.port}/?code={options.launch.value}"
