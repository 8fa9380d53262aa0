"""Decode any common recording to the 16 kHz mono float32 signal the models need.

PyAV (FFmpeg inside the wheel, already required by faster-whisper) reads wav/flac/mp3/m4a/ogg
at any rate and channel count and down-mixes to mono, so no ffmpeg binary is needed on the PC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import KaigirokuError
from .fileio import sha256_file
from .types import AudioInfo, Minutes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioOptions:
    sample_rate: int  # target rate of the decoded signal (Hz)
    silence_dbfs: float  # loudest 1 s window below this → the recording is silent
    min_duration: float  # seconds; shorter inputs are refused


@dataclass(frozen=True, eq=False)
class Audio:
    samples: np.ndarray  # float32 mono in [-1, 1], shape (n,)
    sample_rate: int
    info: AudioInfo

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def load_audio(path: str | Path, options: AudioOptions) -> Audio:
    """Read `path` and return 16 kHz mono; every failure is a one-line KaigirokuError."""
    path = Path(path)
    if not path.exists():
        raise KaigirokuError(f"音声ファイル {path} が見つかりません。パスを確認してください。",
                             "audio file not found")
    if path.is_dir():
        raise KaigirokuError(f"{path} はフォルダです。音声ファイル（wav, flac, mp3, m4a, ogg）を指定してください。")
    if path.stat().st_size == 0:
        raise KaigirokuError(f"音声ファイル {path} は空です（0バイト）。録音が保存されているか確認してください。",
                             "zero-byte file")
    samples, src_rate, channels = _decode(path, options.sample_rate)
    duration = len(samples) / options.sample_rate
    if duration < options.min_duration:
        raise KaigirokuError(f"音声ファイル {path} には音声がほとんどありません（{duration:.2f}秒）。"
                             "正しい録音ファイルか確認してください。", "audio too short")
    loudest = _loudest_window_dbfs(samples, options.sample_rate)
    if loudest < options.silence_dbfs:
        raise KaigirokuError(f"音声ファイル {path} は無音です（最大 {loudest:.0f} dBFS）。"
                             "マイクの電源・入力の選択を確認して録音し直してください。",
                             f"loudest 1 s window {loudest:.1f} dBFS < {options.silence_dbfs}")
    info = AudioInfo(path=str(path), sha256=sha256_file(path), duration=duration,
                     sample_rate=src_rate, channels=channels)
    logger.info("decoded %s: %.1f s, %d Hz, %d ch", path, duration, src_rate, channels)
    return Audio(samples=samples, sample_rate=options.sample_rate, info=info)


def _decode(path: Path, rate: int) -> tuple[np.ndarray, int, int]:
    import av

    unreadable = (f"{path} は音声ファイルとして読めません。wav, flac, mp3, m4a, ogg などの録音ファイルを"
                  "指定してください。")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise KaigirokuError(unreadable, f"{type(e).__name__}: {e}") from e
    with container:
        if not container.streams.audio:
            raise KaigirokuError(f"{path} には音声が入っていません。録音ファイルを指定してください。",
                                 "no audio stream")
        stream = container.streams.audio[0]
        src_rate = int(stream.codec_context.sample_rate or 0)
        channels = int(stream.codec_context.channels or 0)
        # Down-mix and resample in FFmpeg: proper channel weights, no full-rate copy in memory.
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        # Decoded straight into one buffer sized from the container's duration, so a 3-hour
        # meeting (690 MB at 16 kHz) is never held twice; it grows if the header under-reports.
        buffer = _Buffer(int((container.duration or 0) / 1_000_000 * rate) + rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    buffer.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                buffer.append(out.to_ndarray().reshape(-1))
        except (av.error.FFmpegError, ValueError) as e:
            if not buffer.size:
                raise KaigirokuError(unreadable, f"{type(e).__name__}: {e}") from e
            # A recorder that crashed leaves a truncated file: keep what is readable.
            logger.warning("%s: ファイルの途中までしか読めませんでした（%.1f 秒まで）: %s", path,
                           buffer.size / rate, e)
    return buffer.samples(), src_rate, channels


class _Buffer:
    """A float32 array filled block by block; doubles (once in a while) when it runs out."""

    def __init__(self, capacity: int):
        self._data = np.empty(max(capacity, 1), np.float32)
        self.size = 0

    def append(self, block: np.ndarray) -> None:
        end = self.size + len(block)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)), np.float32)
            grown[:self.size] = self._data[:self.size]
            self._data = grown
        self._data[self.size:end] = block
        self.size = end

    def samples(self) -> np.ndarray:
        if self.size < len(self._data) // 2:  # a wild header estimate: do not keep the slack
            return self._data[:self.size].copy()
        return self._data[:self.size]


def _loudest_window_dbfs(samples: np.ndarray, rate: int) -> float:
    if len(samples) == 0:
        return -float("inf")
    if len(samples) < rate:
        windows = samples.reshape(1, -1)
    else:
        windows = samples[: (len(samples) // rate) * rate].reshape(-1, rate)
    # A minute of windows at a time: squaring 3 hours in float64 at once would take 1.4 GB.
    loudest = 0.0
    for i in range(0, len(windows), 60):
        block = windows[i:i + 60].astype(np.float64)
        loudest = max(loudest, float(np.sqrt(np.mean(np.square(block), axis=1)).max()))
    return float(20 * np.log10(max(loudest, 1e-10)))


def speech_spans(samples: np.ndarray, rate: int, min_silence_ms: int) -> list[tuple[float, float]]:
    """Where Silero VAD (shipped inside faster-whisper, offline) hears speech, in seconds;
    pauses shorter than `min_silence_ms` do not split a span."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    stamps = get_speech_timestamps(samples, VadOptions(min_silence_duration_ms=min_silence_ms), sampling_rate=rate)
    return [(c["start"] / rate, c["end"] / rate) for c in stamps]


def find_audio(minutes: Minutes, result: Path, given: Path | None = None) -> Path | None:
    """The recording: `given`, else AudioInfo.path as the draft saw it (relative to where
    `draft` ran, which may be here), beside the result, or its name beside the result."""
    if given is not None:
        return given if given.is_file() else None
    saved = Path(minutes.audio.path)
    for candidate in (saved, result.parent / saved, result.parent / saved.name):
        if candidate.is_file():
            return candidate.resolve()
    return None
