"""Record a meeting so that no audio is ever lost (issue #5).

While recording, the audio goes to a journal beside the output: ``OUT.flac.rec.pcm``, raw
interleaved little-endian PCM, only ever appended to, and ``OUT.flac.rec.json`` (rate,
channels, sample format, start time, device), written before the first sample. Why raw: a
process killed at any instant leaves a valid prefix of the recording (at most a partial frame
at the end, which is dropped); there is no header to patch (WAV keeps the length in its header)
and no encoder state to flush (a FLAC encoder buffers a block and writes STREAMINFO on close).
A clean stop turns the journal into OUT.flac with the very code that `kaigiroku recover` runs
after a crash, so the crash path is exercised by every recording, not only after a crash.

Threads: the PortAudio callback only copies each block into a queue (it must never wait on a
disk); a writer thread appends blocks to the journal and fsyncs at least every
``fsync_interval`` s; the calling thread watches the disk, the keys and the stop conditions and
reports through the one hook protocol (hooks.py): ``"record-start"`` (RecordingInfo) once the
first block is in, ``"record"`` (RecordingStatus, total=duration, completed=elapsed) a few
times a second, ``"notice"`` (a Japanese line) for one-off messages, ``"record-stop"`` (the
last status), then ``"convert"`` (total=frames, completed=done) while the FLAC is written.
`TerminalView` draws them; problems the operator must act on are in RecordingStatus.warnings
and logged once as warnings.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .agenda import agenda_items, markers_path
from .errors import KaigirokuError
from .fileio import atomic_path, ensure_folder, fsync_folder
from .hooks import Hook, null_hook

logger = logging.getLogger(__name__)

FORMATS = {"int16": ("<i2", "PCM_16"), "int32": ("<i4", "PCM_24")}  # journal dtype, FLAC subtype
JOURNAL_VERSION = 1
TICK = 0.25  # s between status updates; a stop request wakes the loop at once
CLIP_HOLD = 3.0  # s a clipping warning stays up, so the operator can see it
STALL = 2.0  # s without a block from the driver before the operator is told
STOP_TIMEOUT = 1.5  # s we wait for the driver to stop; a clean stop must take ≤ 2 s
CONVERT_CHUNK = 1 << 18  # frames per FLAC write: memory stays flat for any length


@dataclass(frozen=True)
class RecordOptions:
    device: str  # name or index of the input; "" = the system's default input
    sample_rate: int  # Hz; 0 = the device's default rate
    channels: int  # 0 = every input of a hardware device (2 for ALSA's virtual devices)
    sample_format: str  # int16 | int32 (kept as 24-bit FLAC)
    block_ms: int  # size of one PortAudio block
    fsync_interval: float  # s; the journal is on disk at most this long after capture
    disk_warn: float  # s of recording the disk still holds below which the operator is warned
    disk_stop: float  # s of recording left at which the recording stops cleanly
    silence_warn: float  # s of silence on every channel before "is the mic rig on?"
    silence_dbfs: float  # block RMS below this counts as silence (as audio.silence_dbfs)
    clip_dbfs: float  # a peak at or above this counts as clipping
    status_interval: float  # s between plain status lines when stdout is not a terminal


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    hostapi: str
    channels: int  # input channels the driver offers
    default_rate: float
    is_default: bool = False


@dataclass(frozen=True)
class Marker:
    time: float  # seconds from the start of the recording (audio time, not wall time)
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"time": round(self.time, 2), "label": self.label}


@dataclass(frozen=True)
class RecordingInfo:
    """What `record` is about to do; the first hook call ("record-start")."""

    output: Path
    journal: Path
    device: str
    sample_rate: int
    channels: int
    sample_format: str
    duration: float | None
    disk_left: float  # seconds of recording the disk holds
    silence_warn: float  # s of silence after which a channel is shown as silent
    keys: tuple[tuple[str, str], ...]  # (key, what it marks); empty when markers are off


@dataclass(frozen=True)
class RecordingStatus:
    elapsed: float  # seconds recorded (audio time)
    levels: tuple[float, ...]  # peak dBFS per channel since the last status
    clipped: tuple[bool, ...]  # per channel: clipped within the last CLIP_HOLD s
    silent_for: tuple[float, ...]  # per channel: seconds since its RMS was above silence_dbfs
    overflows: int  # blocks the driver dropped because we were late (never silently)
    disk_left: float  # seconds of recording the disk still holds
    markers: tuple[Marker, ...]
    warnings: tuple[str, ...]  # what the operator must act on now, in Japanese


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
    stopped_by: str  # duration | signal | disk | device | error

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def summary(self) -> str:
        why = {"disk": "（ディスクの空きが少なくなったため止めました）",
               "device": "（入力機器が止まったため止めました）",
               "error": "（書き込みに失敗したため止めました）"}.get(self.stopped_by, "")
        return (f"録音を保存しました: {self.path}（{clock(self.duration)}、{self.channels} ch、"
                f"{self.sample_rate} Hz、取りこぼし {self.overflows} 回、見出し {len(self.markers)} 件）{why}")


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def default_options(config: Path | None = None) -> RecordOptions:
    """The ``record:`` section of configs/default.yaml (the CLI gets it from config.load_options)."""
    import typing

    import yaml

    config = config or Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
    section = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("record") or {}
    hints = typing.get_type_hints(RecordOptions)
    names = [f.name for f in fields(RecordOptions)]
    missing, unknown = set(names) - set(section), set(section) - set(names)
    if missing or unknown:
        raise KaigirokuError(f"{config} の record: 節が不完全です（不足: {', '.join(sorted(missing)) or 'なし'}、"
                             f"不明: {', '.join(sorted(unknown)) or 'なし'}）。リポジトリの設定を元に戻してください。")
    return RecordOptions(**{n: hints[n](section[n]) for n in names})


# ---------------------------------------------------------------- devices

def _sounddevice():
    try:
        import sounddevice as sd
    except OSError as e:  # sounddevice raises OSError when libportaudio.so.2 is missing
        raise KaigirokuError("録音に必要な PortAudio がありません。sudo apt-get install libportaudio2 を実行してから"
                             "やり直してください。", str(e)) from e
    return sd


def list_devices() -> list[InputDevice]:
    """Every device that can record, in PortAudio's order."""
    sd = _sounddevice()
    default = sd.default.device[0]
    if default is None or default < 0:
        default = next((h["default_input_device"] for h in sd.query_hostapis()
                        if h["default_input_device"] >= 0), -1)
    apis = sd.query_hostapis()
    return [InputDevice(index=d["index"], name=d["name"], hostapi=apis[d["hostapi"]]["name"],
                        channels=d["max_input_channels"], default_rate=float(d["default_samplerate"]),
                        is_default=d["index"] == default)
            for d in sd.query_devices() if d["max_input_channels"] > 0]


def resolve_device(spec: str | int | None) -> InputDevice:
    """None → the default input; an index; an exact name; else a unique part of a name."""
    devices = list_devices()
    hint = "kaigiroku devices で番号と名前を確認し、--device で指定してください。"
    if not devices:
        raise KaigirokuError("録音に使える入力機器が見つかりません。マイク・オーディオインターフェースの接続を確認してください。",
                             "no input device")
    if spec is None or spec == "":
        found = [d for d in devices if d.is_default] or devices[:1]
        return found[0]
    if isinstance(spec, int) or str(spec).strip().isdigit():
        index = int(spec)
        for d in devices:
            if d.index == index:
                return d
        raise KaigirokuError(f"入力機器の番号 {index} はありません。{hint}", f"no input device #{index}")
    want = str(spec).strip().casefold()
    exact = [d for d in devices if d.name.casefold() == want]
    if exact:
        return exact[0]
    partial = [d for d in devices if want in d.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        names = "、".join(f"{d.index}: {d.name}" for d in partial[:4])
        raise KaigirokuError(f"「{spec}」に当てはまる入力機器が複数あります（{names}）。番号で指定してください。")
    raise KaigirokuError(f"入力機器「{spec}」が見つかりません。{hint}", f"no input device named {spec!r}")


def _auto_channels(device: InputDevice) -> int:
    # ALSA's virtual devices (pulse, default, dmix …) claim 32 or more inputs and would upmix a
    # stereo source into them; a hardware device's count is its real inputs, all of which we
    # keep (a rig's 8 mics stay 8 channels in the file).
    if device.hostapi == "ALSA" and "(hw:" not in device.name:
        return min(2, device.channels)
    return device.channels


def _check_settings(sd, device: InputDevice, rate: int, channels: int, dtype: str) -> None:
    if not 1 <= channels <= device.channels:
        raise KaigirokuError(f"入力機器「{device.name}」の入力は {device.channels} チャンネルです（{channels} は使えません）。"
                             f"--channels を 1〜{device.channels} にしてください。")
    try:
        sd.check_input_settings(device=device.index, channels=channels, dtype=dtype, samplerate=rate)
    except Exception as e:  # PortAudioError or ValueError, depending on which check fails
        default = int(device.default_rate)
        if "sample rate" in str(e).lower():
            raise KaigirokuError(f"入力機器「{device.name}」は {rate} Hz で録音できません。--samplerate を省くか、"
                                 f"機器の既定の {default} Hz を指定してください。", str(e)) from e
        raise KaigirokuError(f"入力機器「{device.name}」をこの設定（{rate} Hz、{channels} ch、{dtype}）で使えません。"
                             f"--samplerate と --channels を省いてやり直してください。", str(e)) from e


# ---------------------------------------------------------------- markers

def marker_label(key: str, agenda: Sequence[str], count: int) -> str | None:
    """The heading a key press writes: m → 見出しN, 1–9 → that agenda item; None otherwise."""
    if key in ("m", "M"):
        return f"見出し{count + 1}"
    if len(key) == 1 and key in "123456789":
        i = int(key) - 1
        return agenda[i] if i < len(agenda) else None
    return None


def write_markers(path: Path, markers: Sequence[Marker]) -> None:
    """The sidecar agenda.load_markers reads; replaced in one rename, so a kill never halves it."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"markers": [m.to_dict() for m in markers]}, ensure_ascii=False, indent=1),
                       encoding="utf-8")


# ---------------------------------------------------------------- journal

def journal_paths(out: Path) -> tuple[Path, Path]:
    """(raw PCM, JSON sidecar) of the recording that becomes `out`."""
    return out.with_name(out.name + ".rec.pcm"), out.with_name(out.name + ".rec.json")


def _output_for(path: Path) -> Path:
    for suffix in (".rec.pcm", ".rec.json"):
        if path.name.endswith(suffix):
            return path.with_name(path.name[: -len(suffix)])
    return path


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _disk_seconds_left(folder: Path, bytes_per_second: float, written: int) -> float:
    """Seconds of recording the disk still holds.

    Each second needs its raw bytes now and up to as much again for the FLAC at the stop (FLAC
    is 0.3–0.9 of raw: speech to noise), and what is already recorded needs its FLAC room too.
    """
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    return max(0.0, (free - written) / (2 * bytes_per_second))


def _check_output(out: Path, force: bool) -> None:
    pcm, _ = journal_paths(out)
    if out.suffix.lower() != ".flac":
        raise KaigirokuError(f"録音は FLAC で保存します。{out.name} ではなく「会議.flac」のように .flac で終わる名前にしてください。")
    if pcm.exists():
        # never replaced, not even with --force: it is audio that nobody has turned into FLAC yet
        raise KaigirokuError(f"前回の録音 {pcm} が FLAC になっていません。先に kaigiroku recover {out} を実行してください。",
                             "journal exists")
    if out.is_dir():
        raise KaigirokuError(f"{out} はフォルダです。録音ファイルの名前（○○.flac）を指定してください。")
    if not force:
        for existing in (out, markers_path(out)):
            if existing.exists():
                raise KaigirokuError(f"{existing} は既にあります（前の録音かもしれません）。上書きするなら --force を付けるか、"
                                     "別の名前を指定してください。", "output exists")
    ensure_folder(out.parent, "録音の保存先のフォルダ", "書き込める場所を指定してください。")


def _open_journal(out: Path, meta: dict[str, Any]) -> int:
    """Sidecar first, then the raw file: a raw file always has the sidecar that reads it."""
    pcm, side = journal_paths(out)
    try:
        with atomic_path(side) as tmp:
            tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        fd = os.open(pcm, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fsync_folder(out.parent)
    except OSError as e:
        side.unlink(missing_ok=True)
        raise KaigirokuError(f"録音の保存先 {out.parent} に書き込めません。書き込める場所を指定してください。",
                             str(e)) from e
    return fd


def _read_journal(out: Path) -> tuple[dict[str, Any], Path, Path]:
    pcm, side = journal_paths(out)
    if not pcm.is_file():
        raise KaigirokuError(f"復元する録音 {pcm} がありません。録音のファイル名（○○.flac）を確認してください。",
                             "no journal")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        rate, channels, dtype = int(meta["sample_rate"]), int(meta["channels"]), str(meta["dtype"])
        if dtype not in FORMATS or rate <= 0 or channels <= 0:
            raise ValueError(f"bad format {rate} Hz {channels} ch {dtype}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise KaigirokuError(f"録音の情報ファイル {side} を読めません。{pcm} は消さずに保管し、管理者に連絡してください。",
                             str(e)) from e
    return meta, pcm, side


class _Unverified(Exception):
    """The FLAC read back holds fewer frames than the journal."""


def _encode(src, dst_path: Path, meta: dict[str, Any], frames: int, hook: Hook) -> None:
    import soundfile as sf

    dtype, subtype = FORMATS[meta["dtype"]]
    channels = int(meta["channels"])
    frame_bytes = channels * np.dtype(dtype).itemsize
    with sf.SoundFile(dst_path, "w", int(meta["sample_rate"]), channels, subtype=subtype, format="FLAC") as dst:
        # tags must precede the audio in libsndfile's FLAC writer, and be non-empty
        dst.software = f"kaigiroku {__version__}"
        if meta.get("start"):
            dst.date = str(meta["start"])
        if meta.get("device"):
            dst.comment = f"device: {meta['device']}"
        done = 0
        while done < frames:
            n = min(CONVERT_CHUNK, frames - done)
            dst.write(np.frombuffer(src.read(n * frame_bytes), dtype=dtype).reshape(-1, channels))
            done += n
            hook("convert", total=frames, completed=done)


def _convert(out: Path, force: bool, hook: Hook) -> int:
    """Journal → OUT.flac (temp file, read back, rename), then the journal is removed."""
    import soundfile as sf

    meta, pcm, side = _read_journal(out)
    if out.exists() and not force:
        raise KaigirokuError(f"{out} は既にあります。置き換えるなら --force を付けてください（{pcm} はそのままです）。",
                             "output exists")
    frame_bytes = int(meta["channels"]) * np.dtype(FORMATS[meta["dtype"]][0]).itemsize
    frames = pcm.stat().st_size // frame_bytes  # a kill mid-write can leave a partial last frame
    keep = f"録音は {pcm} に残っています。"
    try:
        with atomic_path(out) as tmp, open(pcm, "rb") as src:
            _encode(src, tmp, meta, frames, hook)
            written = sf.info(str(tmp)).frames  # before the rename: a bad FLAC replaces nothing
            if written != frames:
                raise _Unverified(f"{written}/{frames} frames")
    except _Unverified as e:
        raise KaigirokuError(f"{out} の確認に失敗しました。{keep}kaigiroku recover {out} をもう一度実行してください。",
                             str(e)) from e
    except KeyboardInterrupt:
        raise KaigirokuError(f"FLAC への変換を中断しました。{keep}kaigiroku recover {out} で FLAC にできます。",
                             "interrupted") from None
    except (OSError, RuntimeError, KaigirokuError) as e:  # libsndfile errors are RuntimeErrors
        # (atomic_path's own ENOSPC message says "run the same command again": wrong here)
        raise KaigirokuError(f"{out} を書けませんでした（ディスクの空きを確認してください）。{keep}"
                             f"空きを作ってから kaigiroku recover {out} を実行してください。",
                             getattr(e, "detail", None) or str(e)) from e
    pcm.unlink()
    side.unlink(missing_ok=True)
    fsync_folder(out.parent)
    logger.info("wrote %s: %d frames, %d Hz, %d ch", out, frames, int(meta["sample_rate"]), int(meta["channels"]))
    return frames


def recover(path: str | Path, force: bool = False, hook: Hook = null_hook) -> Path:
    """Turn the journal of a recording that did not stop cleanly into OUT.flac; returns OUT.flac.

    `path` is OUT.flac or either journal file. Markers (OUT.flac.markers.json) were written as
    they were pressed and stay where they are.
    """
    out = _output_for(Path(path))
    frames = _convert(out, force, hook)
    logger.info("recovered %s (%d frames)", out, frames)
    return out


# ---------------------------------------------------------------- capture

class _Meter:
    """Levels per channel, fed by the writer thread, read by the status loop."""

    def __init__(self, channels: int, full_scale: float, options: RecordOptions):
        now = time.monotonic()
        self._lock = threading.Lock()
        self._scale = 1.0 / full_scale
        self._silence = 10 ** (options.silence_dbfs / 20)
        self._clip = 10 ** (options.clip_dbfs / 20)
        self._peak = np.zeros(channels)
        self.last_sound = np.full(channels, now)
        self.last_clip = np.full(channels, -np.inf)

    def update(self, block: np.ndarray) -> None:
        x = block.astype(np.float32) * self._scale
        peak = np.abs(x).max(axis=0)
        rms = np.sqrt(np.mean(np.square(x), axis=0))
        now = time.monotonic()
        with self._lock:
            np.maximum(self._peak, peak, out=self._peak)
            self.last_sound[rms >= self._silence] = now
            self.last_clip[peak >= self._clip] = now

    def read(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._lock:
            peak, self._peak = self._peak, np.zeros_like(self._peak)
            return peak, self.last_sound.copy(), self.last_clip.copy()


class _Capture:
    """The PortAudio callback and the writer thread, and the counters they share."""

    def __init__(self, fd: int, dtype: str, channels: int, options: RecordOptions,
                 limit: int | None, stop: Callable[[str], None]):
        self.fd, self.dtype, self.options, self.limit, self._stop = fd, dtype, options, limit, stop
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.captured = 0  # frames handed over by the driver (only the callback writes it)
        self.written = 0  # bytes in the journal
        self.overflows = 0
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
        take = frames if self.limit is None else min(frames, self.limit - self.captured)
        if take > 0:
            self.queue.put(indata[:take].copy())
            self.captured += take
            self.last_block = time.monotonic()
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
                block = self.queue.get(timeout=0.1)
            except queue.Empty:
                block = None
            if block is _END:
                break
            if block is not None and self.error is None:
                try:
                    data = block.astype(self.dtype, copy=False).tobytes()
                    _write_all(self.fd, data)
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
        self.queue.put(_END)
        self._writer.join()


_END = object()


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


@contextmanager
def _stop_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the recording cleanly (only the main thread can take signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in saved:
        signal.signal(s, lambda signum, frame: stop("signal"))
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


class _KeyReader:
    """Keys from the terminal in cbreak mode (no Enter, no echo; Ctrl-C still a signal)."""

    def __init__(self, on_key: Callable[[str], None]):
        self._on_key = on_key
        self._done = threading.Event()
        self._fd = sys.stdin.fileno()
        self._saved = None
        self._thread = threading.Thread(target=self._run, name="kaigiroku-keys", daemon=True)

    @staticmethod
    def available() -> bool:
        try:
            return sys.stdin is not None and sys.stdin.isatty()
        except (ValueError, OSError):
            return False

    def __enter__(self) -> _KeyReader:
        import termios
        import tty

        self._saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import termios

        self._done.set()
        self._thread.join(1.0)
        termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def _run(self) -> None:
        while not self._done.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.1)  # a timeout, so __exit__ can end us
            if ready:
                for ch in os.read(self._fd, 64).decode("utf-8", errors="ignore"):
                    self._on_key(ch)


class _Session:
    """One recording from the first block to the last fsync."""

    def __init__(self, info: RecordingInfo, options: RecordOptions, fd: int, device: InputDevice,
                 agenda: Sequence[str], hook: Hook):
        self.info, self.options, self.device, self.agenda, self.hook = info, options, device, agenda, hook
        self.out, self.rate, self.channels = info.output, info.sample_rate, info.channels
        self.duration = info.duration
        self.dtype = FORMATS[options.sample_format][0]
        self.bytes_per_second = self.rate * self.channels * np.dtype(self.dtype).itemsize
        self.stop_event = threading.Event()
        self.reason = ""
        self.capture = _Capture(fd, self.dtype, self.channels, options,
                                None if self.duration is None else round(self.duration * self.rate), self.stop)
        self.markers: list[Marker] = []
        self.keys: queue.SimpleQueue = queue.SimpleQueue()
        self.disk_left = float("inf")
        self._warned: set[str] = set()
        self._overflows_told = 0

    def stop(self, reason: str) -> None:
        if not self.stop_event.is_set():
            self.reason = reason
            self.stop_event.set()

    def on_key(self, key: str) -> None:
        # the time is taken now, in audio frames, not when the status loop gets to it
        self.keys.put((key, self.capture.captured))

    def run(self, sd) -> None:
        c = self.capture
        try:
            stream = sd.InputStream(device=self.device.index, samplerate=self.rate, channels=self.channels,
                                    dtype=self.options.sample_format,
                                    blocksize=max(1, self.rate * self.options.block_ms // 1000),
                                    # recording needs no low latency; large driver buffers ride out
                                    # a busy CPU instead of overflowing
                                    latency="high", callback=c.callback, finished_callback=c.finished)
        except Exception as e:  # PortAudioError: busy, unplugged, refused
            raise KaigirokuError(f"入力機器「{self.device.name}」を開けません（他のアプリが使っているかもしれません）。"
                                 "機器を確認してやり直してください。", str(e)) from e
        c.start_writer()
        try:
            try:
                stream.start()
            except Exception as e:
                raise KaigirokuError(f"入力機器「{self.device.name}」から録音を始められません。機器を確認してやり直してください。",
                                     str(e)) from e
            self.loop()
        finally:
            _close_stream(stream)
            c.finish_writer()
        if c.error is not None:
            logger.warning("録音の書き込みに失敗しました（%s）。ここまでの録音を保存します。", c.error)

    def loop(self) -> None:
        next_disk, started, opened = 0.0, False, time.monotonic()
        while True:
            stopping = self.stop_event.wait(TICK)
            now = time.monotonic()
            if not started and (self.capture.captured or stopping or now - opened > STALL):
                # "started" once the first block is in (a driver may take a second or more to
                # deliver), so the operator never speaks to a recorder that is not yet recording
                started = True
                self.hook("record-start", self.info)
                if not self.info.keys:
                    self.hook("notice", "端末から操作していないため、キーでの見出しは使えません（録音は続けます）。")
            if not started:
                continue
            self.take_keys()
            if now >= next_disk:
                self.check_disk()
                next_disk = now + 1.0
            status = self.status(now)
            self.hook("record", status, total=self.duration, completed=status.elapsed)
            if stopping:
                self.hook("record-stop", status)
                return

    def take_keys(self) -> None:
        while True:
            try:
                key, frames = self.keys.get_nowait()
            except queue.Empty:
                return
            label = marker_label(key, self.agenda, len(self.markers))
            if label is None:
                if key.isdigit():
                    self.hook("notice", f"{key} 番の議題はありません（会議ファイルの agenda を確認してください）。")
                continue
            self.markers.append(Marker(frames / self.rate, label))
            try:
                write_markers(markers_path(self.out), self.markers)
            except (OSError, KaigirokuError) as e:
                logger.warning("見出しを保存できませんでした: %s", e)
                continue
            self.hook("notice", f"見出し「{label}」を {clock(frames / self.rate)} に記録しました。")

    def check_disk(self) -> None:
        try:
            self.disk_left = _disk_seconds_left(self.out.parent, self.bytes_per_second, self.capture.written)
        except OSError as e:  # the folder vanished or the disk went away: the writer will tell
            logger.info("free space unknown: %s", e)
            return
        if self.disk_left <= self.options.disk_stop:
            logger.warning("ディスクの空きがなくなるため録音を止めます（%s）。ここまでの録音は保存します。", self.out.parent)
            self.stop("disk")
        elif self.disk_left <= self.options.disk_warn and "disk" not in self._warned:
            self._warned.add("disk")
            logger.warning("ディスクの空きが残り録音 %s 分ほどです。不要なファイルを消すか、別のディスクに録音してください。",
                           int(self.disk_left // 60))

    def status(self, now: float) -> RecordingStatus:
        c = self.capture
        peak, last_sound, last_clip = c.meter.read()
        silent = now - last_sound
        clipped = now - last_clip < CLIP_HOLD
        warnings = []
        if silent.min() >= self.options.silence_warn:
            warnings.append(f"{int(silent.min())}秒間 音が入っていません。マイクの電源を確認してください")
        if clipped.any():
            chans = ", ".join(str(i + 1) for i in np.flatnonzero(clipped))
            warnings.append(f"音が割れています（ch {chans}）。ミキサーの入力レベルを下げてください")
        if now - c.last_block > STALL and not self.stop_event.is_set():
            warnings.append(f"入力機器から音声が届いていません（{now - c.last_block:.0f}秒）。ケーブルと電源を確認してください")
        if self.disk_left <= self.options.disk_warn:
            warnings.append(f"ディスクの空きが残り約{int(self.disk_left // 60)}分です")
        if c.overflows:
            warnings.append(f"取りこぼし {c.overflows} 回: PCの負荷が高すぎます。他のアプリを閉じてください")
            if c.overflows > self._overflows_told:
                logger.warning("入力の取りこぼしがありました（計 %d 回、%s）。", c.overflows, clock(c.captured / self.rate))
                self._overflows_told = c.overflows
        with np.errstate(divide="ignore"):
            levels = tuple(float(x) for x in np.maximum(20 * np.log10(peak), -120.0))
        return RecordingStatus(elapsed=c.captured / self.rate, levels=levels,
                               clipped=tuple(bool(x) for x in clipped),
                               silent_for=tuple(float(x) for x in silent), overflows=c.overflows,
                               disk_left=self.disk_left, markers=tuple(self.markers),
                               warnings=tuple(warnings))


def record(out: str | Path, options: RecordOptions, device: str | int | None = None,
           duration: float | None = None, meeting: str | Path | None = None, force: bool = False,
           hook: Hook = null_hook) -> RecordingResult:
    """Record from `device` into `out` (FLAC) until Ctrl-C, SIGTERM, `duration` s or a full disk.

    Everything is checked before the first sample: the output (never overwritten without
    `force`; an unrecovered journal never), the meeting file, the device and its settings, the
    free space. Once recording, every stop is clean: what was captured is kept.
    """
    out = Path(out)
    sd_format = options.sample_format
    if sd_format not in FORMATS:
        raise KaigirokuError(f"設定 record.sample_format「{sd_format}」は使えません。int16 か int32 にしてください。")
    if duration is not None and duration <= 0:
        raise KaigirokuError(f"録音の長さ {duration} 秒は使えません。正の秒数を指定してください。")
    _check_output(out, force)
    agenda: list[str] = []
    if meeting is not None:
        from .meeting import load_meeting

        agenda = agenda_items(load_meeting(meeting).info.agenda)
    sd = _sounddevice()
    dev = resolve_device(device if device is not None else options.device)
    rate = options.sample_rate or int(dev.default_rate)
    channels = options.channels or _auto_channels(dev)
    _check_settings(sd, dev, rate, channels, sd_format)

    bytes_per_second = rate * channels * np.dtype(FORMATS[sd_format][0]).itemsize
    disk_left = _disk_seconds_left(out.parent, bytes_per_second, 0)
    if disk_left <= options.disk_stop:
        raise KaigirokuError(f"{out.parent} のディスクに空きがほとんどありません（録音 {disk_left / 60:.0f} 分ぶん）。"
                             "空きを作るか、別のディスクに録音してください。", "disk full")
    if disk_left <= options.disk_warn or (duration and disk_left < duration):
        logger.warning("ディスクの空きは録音 %d 分ぶんです。足りなくなるとそこで録音を止めます。", int(disk_left // 60))

    if force:
        # the markers belong to the recording --force replaces; left, they would head this one
        markers_path(out).unlink(missing_ok=True)
    started = datetime.now().astimezone()
    meta = {"kaigiroku": "recording journal", "version": JOURNAL_VERSION, "output": out.name,
            "sample_rate": rate, "channels": channels, "dtype": sd_format, "byteorder": "little",
            "start": started.isoformat(timespec="seconds"), "device": dev.name}
    keys_on = _KeyReader.available()
    keys = ((("m", "見出し"),) + tuple((str(i + 1), a) for i, a in enumerate(agenda[:9]))) if keys_on else ()
    info = RecordingInfo(out, journal_paths(out)[0], dev.name, rate, channels, sd_format, duration,
                         disk_left, options.silence_warn, keys)
    fd = _open_journal(out, meta)
    session = None
    logger.info("recording %s from %s: %d Hz, %d ch, %s", out, dev.name, rate, channels, sd_format)
    try:
        session = _Session(info, options, fd, dev, agenda, hook)
        with _stop_signals(session.stop), (_KeyReader(session.on_key) if keys_on else _nothing()):
            session.run(sd)
    except BaseException:
        if session is None or session.capture.written == 0:  # nothing recorded: leave nothing that blocks a retry
            for p in journal_paths(out):
                p.unlink(missing_ok=True)
        else:
            logger.warning("録音は %s に残っています。kaigiroku recover %s で FLAC にできます。",
                           journal_paths(out)[0], out)
        raise
    finally:
        os.close(fd)
    c = session.capture
    hook("notice", f"録音を止めました（{clock(c.captured / rate)}）。FLAC に変換しています…")
    frames = _convert(out, force, hook)
    return RecordingResult(path=out, frames=frames, sample_rate=rate, channels=channels,
                           sample_format=sd_format, device=dev.name,
                           started=started.isoformat(timespec="seconds"), overflows=c.overflows,
                           markers=tuple(session.markers), stopped_by=session.reason or "signal")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def draft_after(result: RecordingResult, meeting: str | Path | None, hook: Hook = null_hook):
    """`record --then-draft`: the draft of the recording just made (markers become headings)."""
    from .config import load_options
    from .draft import run_draft
    from .memory import limit_malloc_arenas

    # as `kaigiroku draft` does, but only once the recording is closed: the recorder's threads
    # allocate while audio arrives and should not queue on a shared arena. Whisper's and torch's
    # threads start after this, so they are capped.
    limit_malloc_arenas()
    return run_draft(result.path, meeting, None, load_options(), hook=hook)


# ---------------------------------------------------------------- operator view (CLI only)

class TerminalView:
    """The operator's screen: a live panel on a terminal, a plain status line every few
    seconds otherwise (a log file, a service). Use as a context manager and pass as `hook`."""

    def __init__(self, interval: float = 5.0, file=None):
        self._file = file or sys.stdout
        self._interval = interval
        self._plain = not self._file.isatty()
        self._live = None
        self._info: RecordingInfo | None = None
        self._status: RecordingStatus | None = None
        self._convert: tuple[float, float] | None = None
        self._stopped = False
        self._next_line = 0.0

    def __enter__(self) -> TerminalView:
        if not self._plain:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=self._file), refresh_per_second=4, transient=False,
                              get_renderable=self._render)
            self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()

    def __call__(self, step: str, artifact: Any = None, *, total: float | None = None,
                 completed: float | None = None) -> None:
        if step == "record-start":
            self._info = artifact
            self._line(f"録音開始: {artifact.output}（{artifact.device}、{artifact.sample_rate} Hz、"
                       f"{artifact.channels} ch）。Ctrl-C で終了します。")
        elif step == "record":
            self._status = artifact
            if self._plain and time.monotonic() >= self._next_line:
                self._next_line = time.monotonic() + self._interval
                self._line(self._plain_status(artifact))
        elif step == "record-stop":
            self._status, self._stopped = artifact, True
        elif step == "notice":
            self._line(str(artifact))
        elif step == "convert" and total:
            self._convert = (completed or 0, total)

    def _line(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            print(f"[{datetime.now():%H:%M:%S}] {text}", file=self._file, flush=True)

    @staticmethod
    def _plain_status(s: RecordingStatus) -> str:
        levels = " ".join(f"ch{i + 1} {db:.0f}dB" for i, db in enumerate(s.levels))
        parts = [f"録音中 {clock(s.elapsed)}", f"レベル {levels}", f"取りこぼし {s.overflows}",
                 f"ディスク残り {_left(s.disk_left)}", f"見出し {len(s.markers)}"]
        return " | ".join(parts + [f"注意: {w}" for w in s.warnings])

    def _render(self):
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        s, info = self._status, self._info
        if info is None or s is None:
            return Text("録音の準備中…")
        of = f" / {clock(info.duration)}" if info.duration else ""
        state = Text("■ 停止", style="bold") if self._stopped else Text("● 録音中", style="bold red")
        grid.add_row(state, Text(f"{clock(s.elapsed)}{of}  {info.output.name}"))
        for i, db in enumerate(s.levels):
            grid.add_row(Text(f"ch{i + 1}"), _meter(db, s.clipped[i], s.silent_for[i] >= info.silence_warn))
        grid.add_row(Text("状態"), Text(f"取りこぼし {s.overflows} 回   ディスク残り {_left(s.disk_left)}   "
                                        f"見出し {len(s.markers)} 件"
                                        + (f"（最後: {s.markers[-1].label}）" if s.markers else "")))
        if info.keys:
            grid.add_row(Text("キー"), Text("  ".join(f"{k}: {v}" for k, v in info.keys)))
        for w in s.warnings:
            grid.add_row(Text("注意", style="bold yellow"), Text(w, style="bold yellow"))
        if self._convert:
            done, total = self._convert
            grid.add_row(Text("変換"), Text(f"FLAC に変換中 {100 * done / total:.0f}%"))
        return grid


def _left(seconds: float) -> str:
    if seconds == float("inf"):
        return "-"
    h, m = int(seconds // 3600), int(seconds // 60 % 60)
    return f"約{h}時間{m:02d}分" if h else f"約{m}分"


def _meter(db: float, clipped: bool, silent: bool, width: int = 30):
    from rich.text import Text

    filled = round(width * min(1.0, max(0.0, (db + 60) / 60)))  # -60 … 0 dBFS
    style = "red" if db >= -6 else "yellow" if db >= -18 else "green"
    t = Text("█" * filled, style=style)
    t.append("░" * (width - filled), style="dim")
    t.append(f" {db:6.1f} dBFS")
    if clipped:
        t.append("  クリップ", style="bold red")
    if silent:
        t.append("  無音", style="yellow")
    return t


# ---------------------------------------------------------------- python -m pipeline.record

def _main(argv: list[str] | None = None) -> int:
    """The recorder alone, without the rest of the CLI (tests, checks in the meeting room)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m pipeline.record", description="会議を録音します（FLAC）。")
    p.add_argument("output", type=Path)
    p.add_argument("--device")
    p.add_argument("--channels", type=int)
    p.add_argument("--samplerate", type=int)
    p.add_argument("--duration", type=float)
    p.add_argument("--meeting", type=Path)
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        options = default_options()
        options = replace(options, sample_rate=args.samplerate or options.sample_rate,
                          channels=args.channels or options.channels)
        with TerminalView(options.status_interval) as view:
            result = record(args.output, options, device=args.device, duration=args.duration,
                            meeting=args.meeting, force=args.force, hook=view)
    except KaigirokuError as e:
        print(f"エラー: {e.message}", file=sys.stderr)
        return 1
    print(result.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
