"""Make real audio files of every common format for the decoder tests (PyAV encodes them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# container format, codec, sample format for each suffix
FORMATS = {
    ".wav": ("wav", "pcm_s16le", "s16"),
    ".flac": ("flac", "flac", "s16"),
    ".mp3": ("mp3", "libmp3lame", "fltp"),
    ".m4a": ("mp4", "aac", "fltp"),
    ".ogg": ("ogg", "libopus", "flt"),
}


def tone(seconds: float, rate: int, channels: int = 1, freq: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono] * channels)


def write(path: Path, samples: np.ndarray, rate: int) -> Path:
    """samples: (channels, n) float32 in [-1, 1]."""
    import av

    fmt, codec, sample_fmt = FORMATS[path.suffix]
    channels = samples.shape[0]
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        block = 1024 if codec != "libopus" else 960
        for i in range(0, samples.shape[1], block):
            chunk = samples[:, i:i + block]
            if sample_fmt == "s16":
                data = (np.clip(chunk, -1, 1) * 32767).astype(np.int16).T.reshape(1, -1)
            elif sample_fmt == "flt":
                data = np.ascontiguousarray(chunk.T.reshape(1, -1))
            else:  # planar float
                data = np.ascontiguousarray(chunk)
            frame = av.AudioFrame.from_ndarray(data, format=sample_fmt, layout=layout)
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
