"""The composition module: recording in, draft 会議録 out. It composes the stages, nothing else.

decode → transcribe → (diarize) → assign words to speakers → label → write each format.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

from .audio import load_audio
from .config import Options
from .fileio import check_writable
from .hooks import Hook, null_hook
from .meeting import empty_meeting, load_meeting
from .models import resolve
from .speakers import assign_speakers, placeholder_speakers, single_speaker_turns
from .transcribe import transcribe
from .types import Minutes, ModelInfo, StageTime
from .writers import get_writer

logger = logging.getLogger(__name__)


def output_paths(out: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    """OUT.docx → {docx: OUT.docx, json: OUT.json, …}: every format beside the draft."""
    return {fmt: out.with_suffix(f".{fmt}") for fmt in formats}


def default_output(audio_path: Path) -> Path:
    return audio_path.with_suffix(".docx")


def run_draft(audio_path: str | Path, meeting_path: str | Path | None, out: str | Path | None,
              options: Options, *, force: bool = False, hook: Hook = null_hook) -> Minutes:
    audio_path = Path(audio_path)
    out = Path(out) if out else default_output(audio_path)
    # Everything that can be checked cheaply is checked before the long stages start.
    meeting = load_meeting(meeting_path) if meeting_path else empty_meeting()
    outputs = output_paths(out, options.export.formats)
    writers = {fmt: get_writer(fmt) for fmt in outputs}
    for path in outputs.values():
        check_writable(path, force)
    asr_model = resolve(options.transcribe.model, "asr")

    timings: list[StageTime] = []
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings.append(StageTime(stage, now - clock))
        clock = now

    hook("decode")
    audio = load_audio(audio_path, options.audio)
    lap("decode")
    transcript = transcribe(audio, asr_model, options.transcribe, meeting.vocabulary, hook)
    lap("transcribe")
    if not any(True for _ in transcript.words()):
        logger.warning("%s: 発言が見つかりませんでした。原稿は見出しだけになります。", audio_path)
    # Speakers issue (#3) replaces these two with diarization and enrollment.
    turns = single_speaker_turns(audio.duration)
    speakers = placeholder_speakers()
    utterances = assign_speakers(transcript, turns, options.speakers)
    lap("assign")
    minutes = Minutes(
        audio=audio.info,
        meeting=meeting.to_dict(),
        transcript=transcript,
        speakers=speakers,
        utterances=utterances,
        models=(ModelInfo(asr_model.name, asr_model.source, asr_model.path),),
        timings=tuple(timings),
        created=datetime.now().astimezone().isoformat(timespec="seconds"),
    )
    for fmt, path in outputs.items():
        hook("write", path)
        writers[fmt](minutes, path, options.export)
    return minutes
