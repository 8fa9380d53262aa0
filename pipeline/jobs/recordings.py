"""Recordings of a meeting in the data folder: the recorder's FLAC, a recovered journal, an upload."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ..errors import KaigirokuError
from ..fileio import atomic_path, sha256_file
from .data import DataFolder
from .models import MeetingRow, RecordingRow

logger = logging.getLogger(__name__)

SOURCES = ("recorded", "uploaded", "recovered")


def recording_folder(data: DataFolder, meeting_id: int) -> Path:
    """Where the recorder writes a meeting's recordings (the journal is recovered from there too)."""
    return data.folder("recordings", meeting_id)


def add_recording(session, data: DataFolder, meeting_id: int, path: str | Path, source: str = "uploaded") -> RecordingRow:
    """Register a finished recording. A file outside the data folder (an IC recorder's file on
    this PC) is copied in first; the original is never changed."""
    if source not in SOURCES:
        raise ValueError(source)
    meeting = session.get(MeetingRow, meeting_id)
    if meeting is None:
        raise KaigirokuError(f"会議 {meeting_id} がありません。会議一覧から選び直してください。")
    path = Path(path)
    if not path.is_file():
        raise KaigirokuError(f"録音ファイル {path} が見つかりません。")
    folder = recording_folder(data, meeting_id)
    if path.resolve().parent != folder.resolve():
        dst = folder / path.name
        if dst.exists():
            dst = folder / f"{path.stem}-{len(meeting.recordings) + 1}{path.suffix}"
        with atomic_path(dst) as tmp:
            shutil.copyfile(path, tmp)
        path = dst
    row = RecordingRow(meeting_id=meeting_id, path=data.relative(path), sha256=sha256_file(path),
                       duration=_duration(path), source=source)
    session.add(row)
    session.flush()
    return row


def _duration(path: Path) -> float | None:
    try:
        import soundfile as sf

        return float(sf.info(str(path)).duration)
    except Exception as e:  # noqa: BLE001 - a format libsndfile does not read (m4a): the draft decodes it anyway
        logger.info("duration of %s unknown: %s", path, e)
        return None
