"""The recorder's options (the ``record:`` section of configs/default.yaml).

The defaults are the YAML's (a test keeps the two equal), so the capture core works without the
repository's configs next to it: the app and a library user get the same recorder as the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordOptions:
    device: str = ""  # name or index of the input; "" = the system's default input
    sample_rate: int = 0  # Hz; 0 = the device's default rate
    channels: int = 0  # 0 = every input of a hardware device (2 for ALSA's virtual devices)
    sample_format: str = "int16"  # int16 | int32 (kept as 24-bit FLAC)
    block_ms: int = 100  # size of one PortAudio block
    fsync_interval: float = 0.5  # s; the journal is on disk at most this long after capture
    disk_warn: float = 1800.0  # s of recording the disk still holds below which the operator is warned
    disk_stop: float = 60.0  # s of recording left at which the recording stops cleanly
    silence_warn: float = 30.0  # s of silence on every channel before "is the mic rig on?"
    silence_dbfs: float = -55.0  # block RMS below this counts as silence (as audio.silence_dbfs)
    clip_dbfs: float = -0.5  # a peak at or above this counts as clipping
    status_interval: float = 5.0  # s between plain status lines when stdout is not a terminal
