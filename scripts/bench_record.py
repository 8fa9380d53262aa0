#!/usr/bin/env python3
"""Benchmark `python -m pipeline.recorder` over a long recording (issue #5): does it keep up?

A private PulseAudio server (its own socket; nothing else on the machine is touched) gets a
null sink `room`; paplay plays the bundled sample meeting into it in a loop while the recorder
captures the sink's monitor through the ALSA `pulse` device for --minutes (default 30). Reported:
input overflows, the recorder's RSS sampled over time (it must stay flat: the queue drains, the
journal is on disk), CPU use (process time / wall), the journal's growth and the FLAC's size,
the time the stop and the FLAC conversion take, and whether the file holds the whole duration.

    .venv/bin/python scripts/bench_record.py [--minutes 30] [--rate 48000] [--channels 2] [--out bench_record.json]

Needs pulseaudio, pulseaudio-utils and libportaudio2 (apt).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data" / "sample" / "meeting.flac"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


class PulseServer:
    """pulseaudio in the foreground with a private socket and a null sink `room` (default source: its monitor)."""

    def __init__(self, folder: Path, rate: int, channels: int):
        self.folder, self.rate, self.channels = folder, rate, channels
        self.env = {**os.environ, "PULSE_RUNTIME_PATH": str(folder), "PULSE_SERVER": f"unix:{folder}/native"}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> PulseServer:
        missing = [b for b in ("pulseaudio", "pactl", "paplay") if shutil.which(b) is None]
        if missing:
            sys.exit(f"missing {', '.join(missing)}: apt-get install -y pulseaudio pulseaudio-utils libportaudio2")
        log = open(self.folder / "pulseaudio.log", "wb")
        self.proc = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "--system=false", "-n", "--exit-idle-time=-1", "--disallow-exit",
             "--realtime=no", "--high-priority=no", "--use-pid-file=no",
             f"--load=module-native-protocol-unix auth-anonymous=1 socket={self.folder}/native"],
            env={**self.env, "HOME": str(self.folder), "XDG_RUNTIME_DIR": str(self.folder)}, stdout=log, stderr=log)
        for _ in range(100):
            if subprocess.run(["pactl", "info"], check=False, env=self.env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            self.__exit__()
            sys.exit("pulseaudio did not start; see " + str(self.folder / "pulseaudio.log"))
        for cmd in (["load-module", "module-null-sink", "sink_name=room", f"rate={self.rate}",
                     f"channels={self.channels}"], ["set-default-source", "room.monitor"]):
            subprocess.run(["pactl", *cmd], env=self.env, check=True, capture_output=True)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def proc_sample(pid: int) -> tuple[bool, int, float]:
    """(running, RSS bytes, CPU seconds) of a child, from /proc; an exited child stays a zombie
    until os.wait4 reaps it, which is what gives its rusage."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return fields[0] != "Z", int(fields[21]) * PAGE, cpu  # state, …, rss pages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--out", type=Path, help="also write the numbers as JSON")
    args = ap.parse_args()
    seconds = args.minutes * 60

    with tempfile.TemporaryDirectory(prefix="bench_record.") as tmp:
        tmp = Path(tmp)
        wav = tmp / "sample.wav"
        import soundfile as sf

        data, rate = sf.read(SAMPLE, dtype="int16")
        sf.write(wav, data, rate, subtype="PCM_16")
        out = tmp / "bench.flac"
        pulse_dir = tmp / "pulse"
        pulse_dir.mkdir()
        with PulseServer(pulse_dir, args.rate, args.channels) as pulse:
            player = subprocess.Popen(["sh", "-c", f"while :; do paplay --device=room '{wav}' || exit 1; done"],
                                      env=pulse.env, start_new_session=True)
            rec = subprocess.Popen([sys.executable, "-m", "pipeline.recorder", str(out), "--device", "pulse",
                                    "--samplerate", str(args.rate), "--channels", str(args.channels),
                                    "--duration", str(seconds)],
                                   cwd=REPO, env={**pulse.env, "PYTHONUNBUFFERED": "1"},
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
            lines: list[tuple[float, str]] = []
            reader = threading.Thread(target=lambda: [lines.append((time.monotonic(), l.rstrip()))
                                                      for l in rec.stdout], daemon=True)
            reader.start()
            t0 = time.monotonic()
            samples: list[dict] = []
            every = max(5.0, seconds / 30)
            journal = out.with_name(out.name + ".rec.pcm")
            try:
                while True:
                    running, rss, cpu = proc_sample(rec.pid)
                    if not running:
                        break
                    wall = time.monotonic() - t0
                    size = journal.stat().st_size if journal.exists() else 0
                    samples.append({"t": round(wall, 1), "rss_mb": round(rss / 1e6, 1), "cpu_s": round(cpu, 2),
                                    "journal_mb": round(size / 1e6, 1)})
                    print(f"  t={wall:7.1f} s  RSS {rss / 1e6:6.1f} MB  CPU {cpu:6.2f} s  journal {size / 1e6:7.1f} MB",
                          flush=True)
                    deadline = time.monotonic() + every
                    while proc_sample(rec.pid)[0] and time.monotonic() < deadline:
                        time.sleep(0.2)
                _, status, usage = os.wait4(rec.pid, 0)
                rec.returncode = os.waitstatus_to_exitcode(status)
            finally:
                if rec.returncode is None:  # interrupted: stop the recorder cleanly
                    rec.send_signal(signal.SIGTERM)
                    rec.wait(10)
                os.killpg(player.pid, signal.SIGTERM)
                player.wait()
            wall = time.monotonic() - t0
            reader.join(5)

        text = "\n".join(l for _, l in lines)
        if rec.returncode != 0 or not out.exists():
            print(text[-3000:])
            print(f"recorder failed (exit {rec.returncode})", file=sys.stderr)
            return 1
        stop_at = next((t for t, l in lines if "録音を止めました" in l), None)
        saved_at = next((t for t, l in lines if "録音を保存しました" in l), None)
        overflows = int(re.search(r"取りこぼし (\d+) 回", text.splitlines()[-1]).group(1))
        info = sf.info(str(out))
        steady = [s["rss_mb"] for s in samples if s["t"] >= 30] or [s["rss_mb"] for s in samples]
        # CPU once running, without the start-up imports: first sample after 10 s to the last one
        later = [s for s in samples if s["t"] >= 10]
        steady_cpu = (100 * (later[-1]["cpu_s"] - later[0]["cpu_s"]) / (later[-1]["t"] - later[0]["t"])
                      if len(later) >= 2 else None)
        result = {
            "minutes": args.minutes, "rate": args.rate, "channels": args.channels,
            "recorded_s": round(info.duration, 2), "overflows": overflows,
            "cpu_percent": round(100 * (usage.ru_utime + usage.ru_stime) / wall, 2),
            "cpu_steady_percent": round(steady_cpu, 2) if steady_cpu is not None else None,
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "rss_after_30s_min_max_mb": [min(steady), max(steady)],
            "journal_mb": round(info.frames * args.channels * 2 / 1e6, 1),
            "flac_mb": round(out.stat().st_size / 1e6, 1),
            "stop_to_saved_s": round(saved_at - stop_at, 2) if stop_at and saved_at else None,
            "wall_s": round(wall, 1), "rss_series": samples,
        }
    print(f"\nrecorded {result['recorded_s']} s of {seconds:.0f} s requested ({args.rate} Hz, {args.channels} ch)")
    print(f"overflows {overflows}   CPU {result['cpu_percent']} % of one core overall, "
          f"{result['cpu_steady_percent']} % while recording   peak RSS {result['peak_rss_mb']} MB "
          f"(after 30 s: {min(steady)}–{max(steady)} MB)")
    print(f"journal {result['journal_mb']} MB → FLAC {result['flac_mb']} MB   "
          f"stop + FLAC conversion {result['stop_to_saved_s']} s   wall {result['wall_s']} s")
    if args.out:
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    ok = overflows == 0 and abs(info.duration - seconds) < 0.5
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
