"""Japanese speech to words with times and probabilities (faster-whisper)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .audio import Audio, speech_spans
from .errors import KaigirokuError
from .hooks import Hook, null_hook
from .memory import release_freed_memory
from .models import LOADED, ResolvedModel
from .privacy import apply_offline_env
from .types import Segment, Transcript, Word

logger = logging.getLogger(__name__)

# The stage cache (pipeline/cache.py) keys a transcript by this: bump it whenever a change here
# changes the words this stage returns, so an upgraded kaigiroku never reuses an old result.
CACHE_VERSION = 1


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
    block_minutes: float  # longer recordings are transcribed in blocks of about this length
    recover_missed_s: float  # re-transcribe speech spans at least this long left without words (0: off)


def load_whisper(model: ResolvedModel, options: TranscribeOptions):
    apply_offline_env()
    try:
        from faster_whisper import WhisperModel
    except ImportError as e:  # pragma: no cover - install problem
        raise KaigirokuError("faster-whisper が入っていません。`make demo` で環境を作ってください。",
                             str(e)) from e
    try:
        whisper = WhisperModel(model.path, device=options.device, compute_type=options.compute_type,
                               cpu_threads=options.cpu_threads)
        whisper.feature_extractor = PiecewiseFeatures(whisper.feature_extractor)
        return whisper
    except (RuntimeError, ValueError, OSError) as e:
        raise KaigirokuError(f"音声認識モデル {model.name} を読み込めません（{model.path}）。"
                             "モデルフォルダが壊れていないか `kaigiroku models` で確認してください。",
                             f"{type(e).__name__}: {e}") from e


class PiecewiseFeatures:
    """faster-whisper's log-mel features computed two minutes at a time (equal up to float32
    rounding in the mel matrix product, which the test checks).

    faster-whisper's FeatureExtractor computes the whole input's spectrogram in one go: the
    windowed frames, their FFT and the power spectrum of 30 minutes take +1.45 GiB at once
    (measured; two-minute pieces: +0.34 GiB). Each frame depends only on its own 400 samples, so the
    frames can be taken a piece at a time; only the final clamp (8 decades below the loudest
    value) needs the whole, and it runs on the small mel array. Everything else is delegated.
    """

    PIECE_FRAMES = 12_000  # 2 minutes of 10 ms frames

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __call__(self, waveform: np.ndarray, padding: int = 160, chunk_length: int | None = None) -> np.ndarray:
        fe = self._inner
        if chunk_length is not None:  # the side effect faster-whisper relies on
            fe.n_samples = chunk_length * fe.sampling_rate
            fe.nb_max_frames = fe.n_samples // fe.hop_length
        n_fft, hop = fe.n_fft, fe.hop_length
        x = np.asarray(waveform, dtype=np.float32)
        if padding:
            x = np.pad(x, (0, padding))
        x = np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect")  # stft(center=True)
        frames = 1 + (len(x) - n_fft) // hop - 1  # the last frame is dropped, as upstream does
        window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
        mel = np.empty((fe.mel_filters.shape[0], max(frames, 0)), np.float32)
        for a in range(0, frames, self.PIECE_FRAMES):
            b = min(a + self.PIECE_FRAMES, frames)
            piece = np.lib.stride_tricks.as_strided(x[a * hop:], (b - a, n_fft), (hop * x.strides[0], x.strides[0]))
            spectrum = np.fft.rfft(piece * window, n=n_fft, axis=-1).astype(np.complex64)
            mel[:, a:b] = fe.mel_filters @ (np.abs(spectrum) ** 2).T
        log_spec = np.log10(np.clip(mel, a_min=1e-10, a_max=None))
        log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
        return (log_spec + 4.0) / 4.0


def initial_prompt(vocabulary: Sequence[str]) -> str | None:
    """Whisper conditions on the prompt's words; a short list of names helps it spell them."""
    words = [v for v in vocabulary if v.strip()]
    return "、".join(words) + "。" if words else None


def blocks(samples: np.ndarray, rate: int, block_s: float, search_s: float = 60.0) -> list[tuple[int, int]]:
    """[start, end) sample ranges of about `block_s`, each cut at the quietest 0.5 s of the
    last `search_s` before the block's end, so no word is cut in two.

    faster-whisper computes the log-mel features of everything it is given at once, through a
    float64 spectrogram (measured: +0.48 GiB for 10 minutes, +1.45 GiB for 30): blocks bound that.
    A tail shorter than a quarter block is kept with the block before it.
    """
    n, size = len(samples), int(block_s * rate)
    if size <= 0 or n <= size * 1.25:
        return [(0, n)]
    win, hop = rate // 2, rate // 10
    out, start = [], 0
    while n - start > size * 1.25:
        lo = start + size - int(search_s * rate)
        lo = max(lo, start + size // 2)
        piece = samples[lo:start + size]
        frames = (len(piece) - win) // hop + 1
        if frames <= 0:
            cut = start + size
        else:
            energy = np.array([float(np.mean(np.square(piece[i * hop:i * hop + win], dtype=np.float64)))
                               for i in range(frames)])
            cut = lo + int(energy.argmin()) * hop + win // 2
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def _decode(whisper, samples: np.ndarray, options: TranscribeOptions, prompt: str | None):
    """faster-whisper over `samples` with the draft's settings: (lazy segments, info)."""
    return whisper.transcribe(
        samples,
        language=options.language,
        beam_size=options.beam_size,
        word_timestamps=True,
        vad_filter=options.vad_filter,
        vad_parameters={"min_silence_duration_ms": options.vad_min_silence_ms},
        initial_prompt=prompt,
        condition_on_previous_text=options.condition_on_previous_text,
    )


def _words(seg, offset: float, keep=lambda w: True) -> tuple[Word, ...]:
    """A faster-whisper segment's words, `offset` s later in the recording."""
    return tuple(Word(offset + float(w.start), offset + float(w.end), w.word, float(w.probability))
                 for w in (seg.words or ()) if keep(w))


def missed_speech(speech: Sequence[tuple[float, float]], words: Sequence[Word], min_s: float,
                  slack: float = 0.5, join: float = 1.0) -> list[tuple[float, float]]:
    """Spans of speech that no recognized word is near, holding at least `min_s` of such speech.

    Whisper may end a 30-s window early ("nothing more here") and skip to the next one: the
    speech in between never appears, with no flag for the editor. On the 3-hour benchmark it
    dropped 23 s where a quiet meeting was followed by a noisy one, three times. Words reach
    `slack` s either side (their edges are loose); uncovered pieces closer than `join` s form one
    span (VAD splits a turn at its pauses).
    """
    if min_s <= 0 or not speech:
        return []
    step = 0.01
    n = int(max(e for _, e in speech) / step) + 2
    uncovered = np.zeros(n, bool)
    for a, b in speech:
        uncovered[int(a / step):int(b / step) + 1] = True
    for w in words:
        uncovered[max(0, int((w.start - slack) / step)):max(0, int((w.end + slack) / step) + 1)] = False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], uncovered.view(np.int8), [0]])))
    runs = list(zip(edges[::2], edges[1::2]))  # [start, end) in steps
    spans: list[list[int]] = []
    for a, b in runs:
        if spans and (a - spans[-1][1]) * step < join:
            spans[-1][1] = b
            spans[-1][2] += b - a
        else:
            spans.append([a, b, b - a])
    return [(a * step, b * step) for a, b, held in spans if held * step >= min_s]


def _recover(whisper, samples: np.ndarray, rate: int, span: tuple[float, float], have: Sequence[Word],
             options: TranscribeOptions, prompt: str | None, offset: float) -> list[Segment]:
    """Transcribe one missed span on its own; keep only words the first pass does not have.

    The clip reaches a second beyond the span so that its last word is not cut in two (Whisper
    writes a cut word as "…"); words are kept within `pad` of the span and where no word of the
    first pass already is."""
    pad, reach = 0.3, 1.0
    a, b = max(0.0, span[0] - reach), min(len(samples) / rate, span[1] + reach)
    found, _ = _decode(whisper, samples[int(a * rate):int(b * rate)], options, prompt)
    taken = [(w.start, w.end) for w in have if w.end > a - 1 and w.start < b + 1]

    def new(w) -> bool:
        mid = a + (float(w.start) + float(w.end)) / 2
        return span[0] - pad <= mid <= span[1] + pad and not any(s <= mid <= e for s, e in taken)

    out = []
    for seg in found:
        # Whisper drops a window only when it is both likely silent and unsure of its text; a span
        # that the first pass left empty is suspect already, so either one drops it here (noise
        # that VAD took for speech turns into stock phrases otherwise). Whisper's own thresholds.
        if seg.no_speech_prob > 0.6 or seg.avg_logprob < -1.0:
            continue
        words = _words(seg, offset + a, new)
        if words:
            out.append(Segment(words[0].start, words[-1].end, "".join(w.text for w in words), words,
                               float(seg.avg_logprob), float(seg.no_speech_prob)))
    return out


def _second_look(whisper, samples: np.ndarray, rate: int, block: list[Segment], options: TranscribeOptions,
                 prompt: str | None, offset: float) -> list[Segment]:
    """The block's segments plus what a second pass finds in speech the first pass skipped."""
    words = [Word(w.start - offset, w.end - offset, w.text, w.probability) for seg in block for w in seg.words]
    # the VAD faster-whisper filtered with, with the same settings
    missed = missed_speech(speech_spans(samples, rate, options.vad_min_silence_ms), words, options.recover_missed_s)
    if not missed:
        return block
    found = [seg for span in missed
             for seg in _recover(whisper, samples, rate, span, words, options, prompt, offset)]
    logger.info("second look at %d span(s) of speech without words (%.1f s): %d segment(s), %d character(s) "
                "recovered", len(missed), sum(b - a for a, b in missed), len(found),
                sum(len(seg.text) for seg in found))
    return sorted(block + found, key=lambda seg: seg.start)


def transcribe(audio: Audio, model: ResolvedModel, options: TranscribeOptions,
               vocabulary: Sequence[str] = (), hook: Hook = null_hook) -> Transcript:
    with borrow_whisper(model, options) as whisper:
        return _transcribe(whisper, audio, options, vocabulary, hook)


def borrow_whisper(model: ResolvedModel, options: TranscribeOptions):
    """Context manager: Whisper for these weights, loaded now, or kept from this process's last
    draft by a worker (models.LOADED; the CLI loads it each time)."""
    key = ("asr", model, options.device, options.compute_type, options.cpu_threads)
    return LOADED.borrow(key, lambda: load_whisper(model, options))


def _transcribe(whisper, audio: Audio, options: TranscribeOptions, vocabulary: Sequence[str],
                hook: Hook) -> Transcript:
    prompt = initial_prompt(vocabulary) if options.vocabulary_prompt else None
    total = audio.duration
    segments: list[Segment] = []
    language = options.language
    hook("transcribe", total=total, completed=0.0)
    for first, last in blocks(audio.samples, audio.sample_rate, options.block_minutes * 60):
        offset = first / audio.sample_rate
        segments_iter, info = _decode(whisper, audio.samples[first:last], options, prompt)  # a view, not a copy
        language = info.language
        block: list[Segment] = []
        # Segments come lazily, one decoding window at a time: report progress as they arrive.
        for seg in segments_iter:
            block.append(Segment(offset + float(seg.start), offset + float(seg.end), seg.text, _words(seg, offset),
                                 float(seg.avg_logprob), float(seg.no_speech_prob)))
            hook("transcribe", total=total, completed=min(total, block[-1].end))
        if options.recover_missed_s > 0:
            block = _second_look(whisper, audio.samples[first:last], audio.sample_rate, block, options,
                                 prompt, offset)
        segments.extend(block)
        release_freed_memory()  # the block's speech copy and spectrogram are gone now
    hook("transcribe", total=total, completed=total)
    logger.info("transcribed %.1f s into %d segments (%s)", total, len(segments), language)
    return Transcript(language=language, duration=total, segments=tuple(segments))
