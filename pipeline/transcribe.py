"""Japanese speech to words with times and probabilities (faster-whisper)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

from .audio import Audio
from .errors import KaigirokuError
from .hooks import Hook, null_hook
from .models import ResolvedModel
from .privacy import apply_offline_env
from .types import Segment, Transcript, Word

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranscribeOptions:
    model: str  # embedded name, local folder, or (network allowed) hub id
    language: str
    device: str  # cpu | cuda
    compute_type: str  # int8 | int8_float16 | float16 | float32
    beam_size: int
    vad_filter: bool
    vad_min_silence_ms: int
    cpu_threads: int
    vocabulary_prompt: bool  # feed the meeting vocabulary as Whisper's initial prompt
    condition_on_previous_text: bool


def load_whisper(model: ResolvedModel, options: TranscribeOptions):
    apply_offline_env()
    try:
        from faster_whisper import WhisperModel
    except ImportError as e:  # pragma: no cover - install problem
        raise KaigirokuError("faster-whisper が入っていません。`make demo` で環境を作ってください。",
                             str(e)) from e
    try:
        return WhisperModel(model.path, device=options.device, compute_type=options.compute_type,
                            cpu_threads=options.cpu_threads)
    except (RuntimeError, ValueError, OSError) as e:
        raise KaigirokuError(f"音声認識モデル {model.name} を読み込めません（{model.path}）。"
                             "モデルフォルダが壊れていないか `kaigiroku models` で確認してください。",
                             f"{type(e).__name__}: {e}") from e


def initial_prompt(vocabulary: Sequence[str]) -> str | None:
    """Whisper conditions on the prompt's words; a short list of names helps it spell them."""
    words = [v for v in vocabulary if v.strip()]
    return "、".join(words) + "。" if words else None


def transcribe(audio: Audio, model: ResolvedModel, options: TranscribeOptions,
               vocabulary: Sequence[str] = (), hook: Hook = null_hook) -> Transcript:
    whisper = load_whisper(model, options)
    prompt = initial_prompt(vocabulary) if options.vocabulary_prompt else None
    segments_iter, info = whisper.transcribe(
        audio.samples,
        language=options.language,
        beam_size=options.beam_size,
        word_timestamps=True,
        vad_filter=options.vad_filter,
        vad_parameters={"min_silence_duration_ms": options.vad_min_silence_ms},
        initial_prompt=prompt,
        condition_on_previous_text=options.condition_on_previous_text,
    )
    total = audio.duration
    segments: list[Segment] = []
    hook("transcribe", total=total, completed=0.0)
    # Segments come lazily, one decoding window at a time: report progress as they arrive.
    for seg in segments_iter:
        words = tuple(Word(float(w.start), float(w.end), w.word, float(w.probability))
                      for w in (seg.words or ()))
        segments.append(Segment(float(seg.start), float(seg.end), seg.text, words,
                                float(seg.avg_logprob), float(seg.no_speech_prob)))
        hook("transcribe", total=total, completed=min(total, float(seg.end)))
    hook("transcribe", total=total, completed=total)
    logger.info("transcribed %.1f s into %d segments (%s)", total, len(segments), info.language)
    return Transcript(language=info.language, duration=total, segments=tuple(segments))
