"""What happens when the editor marks a meeting 完了 (issue 14; the learning of issue #16).

The corrected result (the review page edits OUT.json in place) teaches the committee library
(pipeline/library.py, in the data folder's library/, the CLI's default folder too):

- the editor's word corrections, always: `pipeline.words.collect` — SudachiPy over the text,
  seconds even for a long meeting, so the app runs it inline and shows what it found;
- the members' voices, only when the body has recorded consent (a voiceprint is personal
  data; pipeline.voices): `pipeline.voices.learn` decodes the recording and runs VAD and CAM++,
  minutes of CPU, so it runs in the worker beside the app (a Huey task, `JobQueue.learn`),
  never in the app process where the recorder captures.

Neither may fail the 完了 itself: each part catches its own failure, logs it and leaves one
Japanese line for the page. What the voice part did is kept in the meeting's results folder
(`learning-voices.json`), so the page can show it after the worker is done; learning the same
meeting again replaces its own entries (words count a meeting once, voices replace the same
recording's embeddings), so 完了 can be pressed again after a worker died.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import KaigirokuError
from ..fileio import atomic_path
from .data import DataFolder

logger = logging.getLogger(__name__)

VOICES_STATUS = "learning-voices.json"  # in results/M/
WORDS_STATUS = "learning-words.json"


def library_root(data: DataFolder) -> Path:
    """The committee library of this data folder (created by the first thing learned)."""
    return data.root / "library"


def consent_of(data: DataFolder, body: str) -> dict[str, str] | None:
    """The body's recorded consent to voice learning ({"given", "note"}), or None."""
    from .. import voices

    if not body.strip():
        return None
    return voices.load_body(library_root(data), body).consent


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _write_status(data: DataFolder, meeting_id: int, name: str, status: dict[str, Any]) -> dict[str, Any]:
    path = data.folder("results", meeting_id) / name
    status = {**status, "at": _now()}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(status, ensure_ascii=False), encoding="utf-8")
    return status


def read_status(data: DataFolder, meeting_id: int, name: str) -> dict[str, Any] | None:
    path = data.root / "results" / str(meeting_id) / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def collect_words(data: DataFolder, meeting_id: int, result: Path, options=None) -> dict[str, Any]:
    """The editor's word corrections of `result` into the body's words; never raises.
    Returns (and keeps) {"state": "done"|"failed", "lines": [...], "pairs": n, "offered": n}."""
    from .. import words
    from ..config import load_options

    try:
        clean = options.clean if options is not None else load_options(None).clean
        body, pairs = words.collect(result, library_root(data), clean)
        offered = [p for p in pairs if p.offered]
        line = f"「{body}」の直した語を {len(pairs)} 組記録しました。" if pairs else \
            f"「{body}」: 記録する語の直しはありませんでした。"
        if offered:
            line += (f"うち {len(offered)} 組（{'、'.join(f'{p.wrong}→{p.right}' for p in offered[:5])}）は"
                     "2回以上の会議で同じ直しがあり、採用の候補です（kaigiroku words list）。")
        status = {"state": "done", "lines": [line], "pairs": len(pairs), "offered": len(offered)}
    except KaigirokuError as e:
        logger.warning("meeting %s: words not collected: %s (%s)", meeting_id, e.message, e.detail)
        status = {"state": "failed", "lines": [f"語の直しを記録できませんでした: {e.message}"], "pairs": 0, "offered": 0}
    except Exception as e:  # noqa: BLE001 - 完了 stands whatever the learning does; the log has the traceback
        logger.exception("meeting %s: words not collected", meeting_id)
        status = {"state": "failed", "pairs": 0, "offered": 0,
                  "lines": [f"語の直しを記録できませんでした（{type(e).__name__}）。完了はそのままです。"]}
    return _write_status(data, meeting_id, WORDS_STATUS, status)


def voices_queued(data: DataFolder, meeting_id: int) -> dict[str, Any]:
    return _write_status(data, meeting_id, VOICES_STATUS, {
        "state": "queued", "lines": ["声の学習を作業の順番に加えました（原稿作成と同じ作業者が行います）。"]})


def voices_skipped(data: DataFolder, meeting_id: int, body: str) -> dict[str, Any]:
    why = (f"「{body}」は声の学習に同意が記録されていないため、声は学習しません"
           "（附属機関と名簿の画面で同意を記録できます）。") if body else "附属機関名のない会議なので、声は学習しません。"
    return _write_status(data, meeting_id, VOICES_STATUS, {"state": "skipped", "lines": [why]})


def learn_voices(data: DataFolder, meeting_id: int, result: str, audio: str,
                 overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The worker's part: `voices.learn` on the meeting's corrected result (`result`, `audio`:
    relative to the data folder, so a worker on another machine finds them under its mount).
    Never raises; returns (and keeps) {"state": "done"|"failed", "lines": [...]}."""
    from .. import voices
    from ..config import load_options

    _write_status(data, meeting_id, VOICES_STATUS, {"state": "running", "lines": ["声を学習しています…"]})
    try:
        options = load_options(None, overrides or {})
        outcomes = voices.learn(data.path(result), library_root(data), options, audio=data.path(audio))
        learned = sum(1 for o in outcomes if o.added)
        head = f"{learned} 人の声を学習しました。" if learned else "学習した声はありません。"
        status = {"state": "done", "lines": [head, *(o.line() for o in outcomes)], "learned": learned}
    except KaigirokuError as e:
        logger.warning("meeting %s: voices not learned: %s (%s)", meeting_id, e.message, e.detail)
        status = {"state": "failed", "lines": [f"声を学習できませんでした: {e.message}"]}
    except Exception as e:  # noqa: BLE001 - see collect_words
        logger.exception("meeting %s: voices not learned", meeting_id)
        status = {"state": "failed", "lines": [f"声を学習できませんでした（{type(e).__name__}）。完了はそのままです。"]}
    return _write_status(data, meeting_id, VOICES_STATUS, status)
