"""`kaigiroku record` on a terminal: the operator's view of the capture core.

`record()` drives the core's API (start → status a few times a second → markers from keys →
stop) and reports through the one hook protocol (hooks.py): ``"record-start"`` (RecordingInfo)
once the first block is in, ``"record-keys"`` (the keys and what they mark) on a terminal,
``"record"`` (RecordingStatus, total=duration, completed=elapsed) a few times a second,
``"notice"`` (a Japanese line) for one-off messages, ``"record-stop"`` (the last status), then
``"convert"`` (total=frames, completed=done) while the FLAC is written. `TerminalView` draws
them: a live panel on a terminal, a plain status line every few seconds otherwise.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

from ..agenda import agenda_items
from ..errors import KaigirokuError
from ..hooks import Hook, null_hook
from .core import STALL, TICK, Recording, RecordingInfo, RecordingResult, RecordingStatus, clock, start
from .options import RecordOptions

logger = logging.getLogger(__name__)


def marker_label(key: str, agenda: Sequence[str], count: int) -> str | None:
    """The heading a key press writes: m → 見出しN, 1–9 → that agenda item; None otherwise."""
    if key in ("m", "M"):
        return f"見出し{count + 1}"
    if len(key) == 1 and key in "123456789":
        i = int(key) - 1
        return agenda[i] if i < len(agenda) else None
    return None


def record(out: str | Path, options: RecordOptions, device: str | int | None = None,
           duration: float | None = None, meeting: str | Path | None = None, force: bool = False,
           hook: Hook = null_hook) -> RecordingResult:
    """Record from `device` into `out` (FLAC) until Ctrl-C, SIGTERM, `duration` s or a full disk;
    keys 1–9 mark the meeting file's agenda items, m a numbered heading.

    Everything is checked before the first sample (the meeting file here, the rest in
    `core.start`). Once recording, every stop is clean: what was captured is kept.
    """
    agenda: list[str] = []
    if meeting is not None:
        from ..meeting import load_meeting

        agenda = agenda_items(load_meeting(meeting).info.agenda)
    keys_on = KeyReader.available()
    keys = ((("m", "見出し"),) + tuple((str(i + 1), a) for i, a in enumerate(agenda[:9]))) if keys_on else ()
    rec = start(out, options, device=device, duration=duration, force=force)
    driver = _Driver(rec, agenda, keys, hook)
    try:
        with stop_signals(rec.request_stop), (KeyReader(driver.on_key) if keys_on else nullcontext()):
            driver.run()
    except BaseException:
        rec.close()  # the journal stays (if anything was recorded) for `kaigiroku recover`
        raise
    hook("notice", f"録音を止めました（{clock(rec.position())}）。FLAC に変換しています…")
    return rec.stop(hook, reason="signal")


class _Driver:
    """The calling thread's loop over the core, and the keys' markers."""

    def __init__(self, rec: Recording, agenda: Sequence[str], keys: tuple[tuple[str, str], ...], hook: Hook):
        self.rec, self.agenda, self.keys, self.hook = rec, agenda, keys, hook
        self.notices: queue.SimpleQueue = queue.SimpleQueue()  # from the key thread to the hook

    def on_key(self, key: str) -> None:
        # the key thread: the marker takes the audio time of the press, not of the next status
        label = marker_label(key, self.agenda, len(self.rec.markers))
        if label is None:
            if key.isdigit():
                self.notices.put(f"{key} 番の議題はありません（会議ファイルの agenda を確認してください）。")
            return
        marker = self.rec.add_marker(label)
        self.notices.put(f"見出し「{label}」を {clock(marker.time)} に記録しました。")

    def run(self) -> None:
        rec, started, opened = self.rec, False, time.monotonic()
        while True:
            stopping = rec.wait(TICK)
            if not started and (rec.capturing or stopping or time.monotonic() - opened > STALL):
                # "started" once the first block is in (a driver may take a second or more to
                # deliver), so the operator never speaks to a recorder that is not yet recording
                started = True
                self.hook("record-start", rec.info)
                if self.keys:
                    self.hook("record-keys", self.keys)
                else:
                    self.hook("notice", "端末から操作していないため、キーでの見出しは使えません（録音は続けます）。")
            if not started:
                continue
            while True:
                try:
                    self.hook("notice", self.notices.get_nowait())
                except queue.Empty:
                    break
            status = rec.status()
            self.hook("record", status, total=rec.info.duration, completed=status.elapsed)
            if stopping:
                self.hook("record-stop", status)
                return


@contextmanager
def stop_signals(stop: Callable[[str], None]) -> Iterator[None]:
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


class KeyReader:
    """Single keys from the terminal, without Enter or echo; Ctrl-C stays a signal.

    POSIX: the terminal in cbreak mode, read with select (a timeout, so __exit__ can end the
    thread). Windows: the console's msvcrt.kbhit/getwch, polled.
    """

    def __init__(self, on_key: Callable[[str], None]):
        self._on_key = on_key
        self._done = threading.Event()
        self._saved = None
        self._fd = -1
        self._thread = threading.Thread(target=self._run, name="kaigiroku-keys", daemon=True)

    @staticmethod
    def available() -> bool:
        try:
            return sys.stdin is not None and sys.stdin.isatty()
        except (ValueError, OSError):
            return False

    def __enter__(self) -> KeyReader:
        if os.name != "nt":
            import termios
            import tty

            self._fd = sys.stdin.fileno()
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(1.0)
        if self._saved is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def _run(self) -> None:
        if os.name == "nt":
            import msvcrt

            while not self._done.is_set():
                if msvcrt.kbhit():
                    self._on_key(msvcrt.getwch())
                else:
                    time.sleep(0.05)
            return
        import select

        while not self._done.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.1)
            if ready:
                for ch in os.read(self._fd, 64).decode("utf-8", errors="ignore"):
                    self._on_key(ch)


class TerminalView:
    """The operator's screen: a live panel on a terminal, a plain status line every few
    seconds otherwise (a log file, a service). Use as a context manager and pass as `hook`."""

    def __init__(self, interval: float = 5.0, file=None):
        self._file = file or sys.stdout
        self._interval = interval
        self._plain = not self._file.isatty()
        self._live = None
        self._info: RecordingInfo | None = None
        self._keys: tuple[tuple[str, str], ...] = ()
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
        elif step == "record-keys":
            self._keys = artifact
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
        if self._keys:
            grid.add_row(Text("キー"), Text("  ".join(f"{k}: {v}" for k, v in self._keys)))
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


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline.recorder`: the recorder alone, without the rest of the CLI (tests,
    checks in the meeting room)."""
    import argparse

    from ..config import load_options
    from ..privacy import apply_offline_env

    apply_offline_env()
    p = argparse.ArgumentParser(prog="python -m pipeline.recorder", description="会議を録音します（FLAC）。")
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
        options = load_options(None, {"record": {"sample_rate": args.samplerate, "channels": args.channels}}).record
        with TerminalView(options.status_interval) as view:
            result = record(args.output, options, device=args.device, duration=args.duration,
                            meeting=args.meeting, force=args.force, hook=view)
    except KaigirokuError as e:
        print(f"エラー: {e.message}", file=sys.stderr)
        return 1
    print(result.summary(), flush=True)
    return 0
