"""The capture core: one recording in progress, driven through a small API.

    rec = start(out, options, device="…", channels=2, sample_rate=48000)
    rec.status()            # levels per channel, elapsed, disk time left, warnings (plain data)
    rec.add_marker("開会")  # a heading at the current audio time, saved at once
    rec.pause(); rec.resume()
    result = rec.stop()     # closes the journal, writes OUT.flac; result.path

The terminal view (`kaigiroku record`) and the app drive exactly this API; neither sees a
thread, a queue or the journal.

Threads: the PortAudio callback only copies each block into a queue (it must never wait on a
disk); a writer thread appends blocks to the journal, fsyncs at least every
``fsync_interval`` s and feeds the level meter; a watcher thread checks the free space once a
second and stops the recording cleanly before the disk is full. A recording also ends by
itself at its `duration`, when the device stops delivering for good, or when the journal cannot
be written; `wait()` tells the caller, who then calls `stop()` to keep what was captured.
While paused, blocks still reach the meter (the operator sees the room) but not the journal:
the file, its elapsed time and the markers' times are audio time, without the pauses.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..agenda import markers_path
from ..errors import KaigirokuError
from ..hooks import Hook, null_hook
from .devices import InputDevice, auto_channels, check_settings, resolve_device, sounddevice
from .journal import (FORMATS, JOURNAL_VERSION, Marker, check_output, convert, journal_paths, open_journal,
                      write_all, write_markers)
from .options import RecordOptions

logger = logging.getLogger(__name__)

TICK = 0.25  # s between the watcher's checks; a stop request wakes it at once
CLIP_HOLD = 3.0  # s a clipping warning stays up, so the operator can see it
STALL = 2.0  # s without a block from the driver before the operator is told
STOP_TIMEOUT = 1.5  # s we wait for the driver to stop; a clean stop must take ≤ 2 s
LEVEL_WINDOW = 0.5  # s of blocks a level reading covers: any number of readers see the same peak


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass(frozen=True)
class RecordingInfo:
    """What a started recording does (fixed for its whole length)."""

    output: Path
    journal: Path
    device: str
    sample_rate: int
    channels: int
    sample_format: str
    duration: float | None  # s at which it stops by itself; None = until stopped
    disk_left: float  # seconds of recording the disk held at the start
    silence_warn: float  # s of silence after which a channel is shown as silent
    started: str  # ISO 8601 local time at which the journal was opened

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "device": self.device, "sample_rate": self.sample_rate,
                "channels": self.channels, "sample_format": self.sample_format, "duration": self.duration,
                "silence_warn": self.silence_warn, "started": self.started}


@dataclass(frozen=True)
class RecordingStatus:
    elapsed: float  # seconds recorded (audio time; pauses are not in it)
    levels: tuple[float, ...]  # peak dBFS per channel over the last LEVEL_WINDOW s
    clipped: tuple[bool, ...]  # per channel: clipped within the last CLIP_HOLD s
    silent_for: tuple[float, ...]  # per channel: seconds since its RMS was above silence_dbfs
    overflows: int  # blocks the driver dropped because we were late (never silently)
    disk_left: float  # seconds of recording the disk still holds (inf until first measured)
    markers: tuple[Marker, ...]
    warnings: tuple[str, ...]  # what the operator must act on now, in Japanese
    paused: bool = False
    stopped_by: str = ""  # why capture ended (duration | signal | stop | disk | device | error); "" while on

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (an unknown disk_left is None)."""
        return {"elapsed": round(self.elapsed, 2), "levels": [round(x, 1) for x in self.levels],
                "clipped": list(self.clipped), "silent_for": [round(x, 1) for x in self.silent_for],
                "overflows": self.overflows,
                "disk_left": None if self.disk_left == float("inf") else round(self.disk_left),
                "markers": [m.to_dict() for m in self.markers], "warnings": list(self.warnings),
                "paused": self.paused, "stopped_by": self.stopped_by}


@dataclass(frozen=True)
class RecordingResult:
    path: Path
    frames: int
    sample_rate: int
    channels: int
    sample_format: str
    device: str
    started: str  # ISO 8601 local time of the first sample
    overflows: int
    markers: tuple[Marker, ...]
    stopped_by: str  # duration | signal | stop | disk | device | error

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def summary(self) -> str:
        why = {"disk": "（ディスクの空きが少なくなったため止めました）",
               "device": "（入力機器が止まったため止めました）",
               "error": "（書き込みに失敗したため止めました）"}.get(self.stopped_by, "")
        return (f"録音を保存しました: {self.path}（{clock(self.duration)}、{self.channels} ch、"
                f"{self.sample_rate} Hz、取りこぼし {self.overflows} 回、見出し {len(self.markers)} 件）{why}")


def disk_seconds_left(folder: Path, bytes_per_second: float, written: int) -> float:
    """Seconds of recording the disk still holds.

    Each second needs its raw bytes now and up to as much again for the FLAC at the stop (FLAC
    is 0.3–0.9 of raw: speech to noise), and what is already recorded needs its FLAC room too.
    (shutil.disk_usage: the space this user may fill, on POSIX and Windows alike.)
    """
    free = shutil.disk_usage(folder).free
    return max(0.0, (free - written) / (2 * bytes_per_second))


# ---------------------------------------------------------------- capture

class _Meter:
    """Levels per channel, fed by the writer thread, read by any number of status calls."""

    def __init__(self, channels: int, full_scale: float, options: RecordOptions):
        now = time.monotonic()
        self._lock = threading.Lock()
        self._scale = 1.0 / full_scale
        self._silence = 10 ** (options.silence_dbfs / 20)
        self._clip = 10 ** (options.clip_dbfs / 20)
        self._channels = channels
        self._peaks: deque[tuple[float, np.ndarray]] = deque()
        self.last_sound = np.full(channels, now)
        self.last_clip = np.full(channels, -np.inf)

    def update(self, block: np.ndarray) -> None:
        x = block.astype(np.float32) * self._scale
        peak = np.abs(x).max(axis=0)
        rms = np.sqrt(np.mean(np.square(x), axis=0))
        now = time.monotonic()
        with self._lock:
            self._peaks.append((now, peak))
            while self._peaks and self._peaks[0][0] < now - LEVEL_WINDOW:
                self._peaks.popleft()
            self.last_sound[rms >= self._silence] = now
            self.last_clip[peak >= self._clip] = now

    def read(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._lock:
            recent = [p for t, p in self._peaks if t >= now - LEVEL_WINDOW]
            peak = np.max(recent, axis=0) if recent else np.zeros(self._channels)
            return peak, self.last_sound.copy(), self.last_clip.copy()


_END = object()


class _Capture:
    """The PortAudio callback and the writer thread, and the counters they share."""

    def __init__(self, fd: int, dtype: str, channels: int, options: RecordOptions,
                 limit: int | None, stop: Callable[[str], None]):
        self.fd, self.dtype, self.options, self.limit, self._stop = fd, dtype, options, limit, stop
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.captured = 0  # frames handed over for the journal (only the callback writes it)
        self.written = 0  # bytes in the journal
        self.overflows = 0
        self.paused = False
        self.closing = False
        self.last_block = time.monotonic()
        self.error: OSError | None = None
        self.meter = _Meter(channels, float(np.iinfo(np.dtype(dtype)).max) + 1, options)
        self._writer = threading.Thread(target=self._write_loop, name="kaigiroku-writer", daemon=True)

    def callback(self, indata, frames, time_info, status) -> None:
        # PortAudio's thread: copy and leave; anything slower here is what overflows are made of
        if status.input_overflow:
            self.overflows += 1
        if self.closing:
            return
        self.last_block = time.monotonic()
        if self.paused:
            self.queue.put((indata.copy(), False))  # the meter only
            return
        take = frames if self.limit is None else min(frames, self.limit - self.captured)
        if take > 0:
            self.queue.put((indata[:take].copy(), True))
            self.captured += take
        if self.limit is not None and self.captured >= self.limit:
            self._stop("duration")

    def finished(self) -> None:
        # the driver ended the stream: by itself (unplugged, failed) it is the reason to stop;
        # after our own stop request the first reason stands and this changes nothing
        if not self.closing:
            self._stop("device")

    def start_writer(self) -> None:
        self._writer.start()

    def _write_loop(self) -> None:
        last_sync, dirty = time.monotonic(), False
        while True:
            try:
                item = self.queue.get(timeout=0.1)
            except queue.Empty:
                item = None
            if item is _END:
                break
            if item is not None:
                block, keep = item
                if keep and self.error is None:
                    try:
                        data = block.astype(self.dtype, copy=False).tobytes()
                        write_all(self.fd, data)
                        self.written += len(data)
                        dirty = True
                    except OSError as e:
                        self.error = e
                        self._stop("error")
                self.meter.update(block)
            if dirty and time.monotonic() - last_sync >= self.options.fsync_interval:
                dirty = not self._sync()
                last_sync = time.monotonic()
        self._sync()

    def _sync(self) -> bool:
        try:
            os.fsync(self.fd)
            return True
        except OSError as e:
            self.error = self.error or e
            self._stop("error")
            return False

    def finish_writer(self) -> None:
        self.closing = True
        if self._writer.ident is not None:  # started
            self.queue.put(_END)
            self._writer.join()


def _close_stream(stream) -> None:
    """Stop the driver, but never wait on a wedged one: a clean stop must take ≤ 2 s."""
    def close():
        stream.stop(ignore_errors=True)
        stream.close(ignore_errors=True)

    t = threading.Thread(target=close, name="kaigiroku-stop", daemon=True)
    t.start()
    t.join(STOP_TIMEOUT)
    if t.is_alive():
        logger.warning("入力機器が止まりません。ここまでの録音を保存します。")


# ---------------------------------------------------------------- the recording

class Recording:
    """One recording from the first block to the FLAC. Every method is safe from any thread."""

    def __init__(self, info: RecordingInfo, options: RecordOptions, fd: int, device: InputDevice):
        self.info, self.options, self.device = info, options, device
        self.out, self.rate, self.channels = info.output, info.sample_rate, info.channels
        self.bytes_per_second = self.rate * self.channels * np.dtype(FORMATS[info.sample_format][0]).itemsize
        self._fd: int | None = fd
        self._stop_event = threading.Event()
        self._reason = ""
        self._lock = threading.Lock()  # markers, closing
        self._stopping = threading.Lock()  # one stop() at a time: the second gets the first's result
        self._markers: list[Marker] = []
        self._closed = False
        self._result: RecordingResult | None = None
        self._stream = None
        self._disk_left = info.disk_left
        self._warned: set[str] = set()
        self._overflows_told = 0
        limit = None if info.duration is None else round(info.duration * self.rate)
        self.capture = _Capture(fd, FORMATS[info.sample_format][0], self.channels, options, limit,
                                self.request_stop)
        self._watcher = threading.Thread(target=self._watch, name="kaigiroku-watcher", daemon=True)

    # ---- the API

    @property
    def capturing(self) -> bool:
        """True once the driver has delivered audio (a driver may take a second to start)."""
        return self.capture.captured > 0

    @property
    def markers(self) -> tuple[Marker, ...]:
        with self._lock:
            return tuple(self._markers)

    @property
    def stopped_by(self) -> str:
        return self._reason

    def position(self) -> float:
        """Seconds recorded so far (audio time)."""
        return self.capture.captured / self.rate

    def status(self) -> RecordingStatus:
        c, now = self.capture, time.monotonic()
        peak, last_sound, last_clip = c.meter.read(now)
        silent = now - last_sound
        clipped = now - last_clip < CLIP_HOLD
        warnings = []
        if silent.min() >= self.options.silence_warn and not c.paused:
            warnings.append(f"{int(silent.min())}秒間 音が入っていません。マイクの電源を確認してください")
        if clipped.any():
            chans = ", ".join(str(i + 1) for i in np.flatnonzero(clipped))
            warnings.append(f"音が割れています（ch {chans}）。ミキサーの入力レベルを下げてください")
        if now - c.last_block > STALL and not self._stop_event.is_set():
            warnings.append(f"入力機器から音声が届いていません（{now - c.last_block:.0f}秒）。ケーブルと電源を確認してください")
        if self._disk_left <= self.options.disk_warn:
            warnings.append(f"ディスクの空きが残り約{int(self._disk_left // 60)}分です")
        if c.overflows:
            warnings.append(f"取りこぼし {c.overflows} 回: PCの負荷が高すぎます。他のアプリを閉じてください")
        with np.errstate(divide="ignore"):
            levels = tuple(float(x) for x in np.maximum(20 * np.log10(peak), -120.0))
        return RecordingStatus(elapsed=self.position(), levels=levels,
                               clipped=tuple(bool(x) for x in clipped),
                               silent_for=tuple(float(x) for x in silent), overflows=c.overflows,
                               disk_left=self._disk_left, markers=self.markers, warnings=tuple(warnings),
                               paused=c.paused, stopped_by=self._reason)

    def add_marker(self, label: str) -> Marker:
        """A heading at the current audio time, written to OUT.flac.markers.json at once (a kill
        keeps it). A failed write is logged and the marker kept for the next write."""
        label = str(label).strip()
        if not label:
            raise KaigirokuError("見出しの名前が空です。議題名などを指定してください。")
        marker = Marker(self.position(), label)  # the time is now, before any file work
        with self._lock:
            self._markers.append(marker)
            markers = list(self._markers)
            try:
                write_markers(markers_path(self.out), markers)
            except (OSError, KaigirokuError) as e:
                logger.warning("見出しを保存できませんでした: %s", e)
        return marker

    def pause(self) -> None:
        """Stop writing audio (a break); levels stay live. Markers may still be added."""
        self.capture.paused = True

    def resume(self) -> None:
        self.capture.paused = False

    def request_stop(self, reason: str = "stop") -> None:
        """Ask the recording to end; returns at once (a signal handler, the driver's callback).
        The first reason stands."""
        if not self._stop_event.is_set():
            self._reason = reason
            self._stop_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the recording has ended or been asked to (duration, disk, device, a stop)."""
        return self._stop_event.wait(timeout)

    def stop(self, hook: Hook = null_hook, reason: str = "stop", force: bool = False) -> RecordingResult:
        """End the recording and write OUT.flac (``"convert"`` progress to `hook`). Called again,
        returns the same result. If the FLAC cannot be written, the journal stays for
        `kaigiroku recover` and the error is raised."""
        with self._stopping:
            if self._result is None:
                self.request_stop(reason)
                self._end_capture()
                frames = convert(self.out, force, hook)
                self._result = RecordingResult(
                    path=self.out, frames=frames, sample_rate=self.rate, channels=self.channels,
                    sample_format=self.info.sample_format, device=self.device.name, started=self.info.started,
                    overflows=self.capture.overflows, markers=self.markers, stopped_by=self._reason or reason)
            return self._result

    def close(self) -> None:
        """End capture and close the journal without making the FLAC (a program that must exit
        now, an error in the caller): the journal is recovered later. Nothing recorded → nothing left."""
        with self._stopping:
            if self._result is not None or not self._end_capture():
                return
            if self.capture.written == 0:  # nothing recorded: leave nothing that blocks a retry
                for p in journal_paths(self.out):
                    p.unlink(missing_ok=True)
            else:
                logger.warning("録音は %s に残っています。kaigiroku recover %s で FLAC にできます。",
                               self.info.journal, self.out)

    def _end_capture(self) -> bool:
        """Stop the driver, drain the writer, close the journal; False if it was already done."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
        self.request_stop("stop")
        if self._watcher.is_alive():
            self._watcher.join()
        if self._stream is not None:
            _close_stream(self._stream)
        self.capture.finish_writer()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.capture.error is not None:
            logger.warning("録音の書き込みに失敗しました（%s）。ここまでの録音を保存します。", self.capture.error)
        return True

    # ---- inside

    def _open(self, sd) -> None:
        c = self.capture
        try:
            self._stream = sd.InputStream(device=self.device.index, samplerate=self.rate, channels=self.channels,
                                          dtype=self.info.sample_format,
                                          blocksize=max(1, self.rate * self.options.block_ms // 1000),
                                          # recording needs no low latency; large driver buffers ride
                                          # out a busy CPU instead of overflowing
                                          latency="high", callback=c.callback, finished_callback=c.finished)
        except Exception as e:  # PortAudioError: busy, unplugged, refused
            raise KaigirokuError(f"入力機器「{self.device.name}」を開けません（他のアプリが使っているかもしれません）。"
                                 "機器を確認してやり直してください。", str(e)) from e
        c.start_writer()
        try:
            self._stream.start()
        except Exception as e:
            raise KaigirokuError(f"入力機器「{self.device.name}」から録音を始められません。機器を確認してやり直してください。",
                                 str(e)) from e
        self._watcher.start()

    def _watch(self) -> None:
        next_disk = 0.0
        while not self._stop_event.wait(TICK):
            now = time.monotonic()
            if now >= next_disk:
                self._check_disk()
                next_disk = now + 1.0
            c = self.capture
            if c.overflows > self._overflows_told:
                logger.warning("入力の取りこぼしがありました（計 %d 回、%s）。", c.overflows, clock(self.position()))
                self._overflows_told = c.overflows

    def _check_disk(self) -> None:
        try:
            self._disk_left = disk_seconds_left(self.out.parent, self.bytes_per_second, self.capture.written)
        except OSError as e:  # the folder vanished or the disk went away: the writer will tell
            logger.info("free space unknown: %s", e)
            return
        if self._disk_left <= self.options.disk_stop:
            logger.warning("ディスクの空きがなくなるため録音を止めます（%s）。ここまでの録音は保存します。", self.out.parent)
            self.request_stop("disk")
        elif self._disk_left <= self.options.disk_warn and "disk" not in self._warned:
            self._warned.add("disk")
            logger.warning("ディスクの空きが残り録音 %s 分ほどです。不要なファイルを消すか、別のディスクに録音してください。",
                           int(self._disk_left // 60))


def start(out: str | Path, options: RecordOptions | None = None, *, device: str | int | None = None,
          channels: int | None = None, sample_rate: int | None = None, duration: float | None = None,
          force: bool = False) -> Recording:
    """Start recording from `device` into `out` (FLAC at the stop); returns once audio flows.

    Everything is checked before the first sample: the output (never overwritten without
    `force`; an unrecovered journal never), the device and its settings, the free space.
    None takes the value from `options` (0 there: the device's own rate / all its inputs).
    """
    options = options or RecordOptions()
    out = Path(out)
    sd_format = options.sample_format
    if sd_format not in FORMATS:
        raise KaigirokuError(f"設定 record.sample_format「{sd_format}」は使えません。int16 か int32 にしてください。")
    if duration is not None and duration <= 0:
        raise KaigirokuError(f"録音の長さ {duration} 秒は使えません。正の秒数を指定してください。")
    check_output(out, force)
    sd = sounddevice()
    dev = resolve_device(device if device is not None else options.device)
    rate = (sample_rate if sample_rate is not None else options.sample_rate) or int(dev.default_rate)
    channels = (channels if channels is not None else options.channels) or auto_channels(dev)
    check_settings(sd, dev, rate, channels, sd_format)

    bytes_per_second = rate * channels * np.dtype(FORMATS[sd_format][0]).itemsize
    disk_left = disk_seconds_left(out.parent, bytes_per_second, 0)
    if disk_left <= options.disk_stop:
        raise KaigirokuError(f"{out.parent} のディスクに空きがほとんどありません（録音 {disk_left / 60:.0f} 分ぶん）。"
                             "空きを作るか、別のディスクに録音してください。", "disk full")
    if disk_left <= options.disk_warn or (duration and disk_left < duration):
        logger.warning("ディスクの空きは録音 %d 分ぶんです。足りなくなるとそこで録音を止めます。", int(disk_left // 60))

    if force:
        # the markers belong to the recording `force` replaces; left, they would head this one
        markers_path(out).unlink(missing_ok=True)
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    meta = {"kaigiroku": "recording journal", "version": JOURNAL_VERSION, "output": out.name,
            "sample_rate": rate, "channels": channels, "dtype": sd_format, "byteorder": "little",
            "start": started, "device": dev.name}
    info = RecordingInfo(out, journal_paths(out)[0], dev.name, rate, channels, sd_format, duration,
                         disk_left, options.silence_warn, started)
    fd = open_journal(out, meta)
    logger.info("recording %s from %s: %d Hz, %d ch, %s", out, dev.name, rate, channels, sd_format)
    rec = Recording(info, options, fd, dev)
    try:
        rec._open(sd)
    except BaseException:
        rec.close()
        raise
    return rec
