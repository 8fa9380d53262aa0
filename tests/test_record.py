"""The recorder on the real audio path: PulseAudio null sink → ALSA `pulse` device → PortAudio.

A private PulseAudio server (its own socket, started and stopped here) plays a known speech
file into a null sink; the recorder captures the sink's monitor. No mocks: what is asserted is
the file on disk — the played speech is in it, nothing is lost on a stop, a kill -9 loses at
most the last second, a full disk ends the recording cleanly, bad input never touches a file.
Needs `pulseaudio pulseaudio-utils libportaudio2` (Debian); CI installs them.
"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO
from pipeline.agenda import agenda_items, load_markers, markers_path
from pipeline.audio import AudioOptions, load_audio
from pipeline.errors import KaigirokuError
from pipeline.meeting import load_meeting
from pipeline.config import load_options
from pipeline.recorder import (Marker, RecordOptions, journal_paths, list_devices, recover, start, unrecovered,
                               write_markers)
from pipeline.recorder.terminal import marker_label, record
from pulse_rig import RATE, SPEECH_SECONDS, play

@pytest.fixture()
def options():
    return replace(load_options().record, sample_rate=RATE, channels=2)


def mono16k(path: Path) -> np.ndarray:
    return load_audio(path, AudioOptions(sample_rate=16000, silence_dbfs=-200.0, min_duration=0.0)).samples


def align(ref: np.ndarray, rec: np.ndarray) -> tuple[int, float]:
    """Where `ref` starts in `rec` (samples) and the normalized cross-correlation there."""
    n = 1 << (len(ref) + len(rec)).bit_length()
    xc = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)[: len(rec)]
    lag = int(np.argmax(xc))
    seg = rec[lag: lag + len(ref)]
    r = ref[: len(seg)]
    return lag, float(np.dot(seg, r) / (np.linalg.norm(seg) * np.linalg.norm(r) + 1e-12))


def active_span(x: np.ndarray, rate: int = 16000) -> tuple[float, float]:
    loud = np.flatnonzero(np.abs(x) > 0.05 * np.abs(x).max())
    return loud[0] / rate, loud[-1] / rate


def assert_holds_speech(flac: Path, speech_wav: Path) -> None:
    ref, rec = mono16k(speech_wav), mono16k(flac)
    lag, ncc = align(ref, rec)
    assert ncc >= 0.9, f"played speech not found in the recording (ncc {ncc:.3f})"
    r0, r1 = active_span(ref)
    c0, c1 = active_span(rec)
    assert abs((c1 - c0) - (r1 - r0)) <= 0.2, ((c0, c1), (r0, r1))
    assert abs(c0 - (lag / 16000 + r0)) <= 0.2


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


# ---------------------------------------------------------------- recording

def test_records_what_was_played(pulse, speech, options, tmp_path):
    out = tmp_path / "会議 録音.flac"
    seen, players = [], []

    def hook(step, artifact=None, **kw):
        seen.append(step)
        if step == "record-start":  # the driver runs: play now, with a little silence before
            players.append(play(pulse, speech, delay=0.5))

    try:
        result = record(out, options, device="pulse", duration=SPEECH_SECONDS + 2.0, hook=hook)
    finally:
        for p in players:
            p.wait(30)
    assert result.stopped_by == "duration" and result.overflows == 0
    info = sf.info(str(out))
    assert (info.format, info.samplerate, info.channels) == ("FLAC", RATE, 2)
    assert info.frames == result.frames == round((SPEECH_SECONDS + 2.0) * RATE)
    assert_holds_speech(out, speech)
    assert private(out)
    assert not any(p.exists() for p in journal_paths(out)), "the journal must go once the FLAC is checked"
    assert seen[0] == "record-start" and "record-stop" in seen and seen[-1] == "convert"


def wait_capturing(rec, timeout: float = 10.0) -> None:
    """Until the driver delivers (PulseAudio's first block may take a second)."""
    deadline = time.monotonic() + timeout
    while not rec.capturing and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rec.capturing, "no audio from the device"


def test_the_core_api_an_app_drives(pulse, speech, options, tmp_path):
    """start → status → marker → pause → resume → stop, as the app's buttons call them: the
    paused seconds are not in the file, the marker is at its audio time, status is plain data."""
    out = tmp_path / "app.flac"
    player = play(pulse, speech)
    rec = start(out, options, device="pulse")
    try:
        wait_capturing(rec)
        time.sleep(1.0)
        marker = rec.add_marker("開会")
        assert abs(marker.time - rec.position()) < 0.3 and marker.time > 0.5
        rec.pause()
        time.sleep(0.3)  # blocks already queued may still land
        held = rec.status()
        time.sleep(1.5)
        paused = rec.status()
        assert paused.paused and paused.elapsed - held.elapsed < 0.15, (held.elapsed, paused.elapsed)
        assert len(paused.levels) == 2 and max(paused.levels) > -60, "the meter stays live while paused"
        rec.resume()
        time.sleep(1.0)
        status = rec.status()
        assert not status.paused and status.elapsed > paused.elapsed + 0.5
        assert [m.label for m in status.markers] == ["開会"]
        json.dumps(status.to_dict(), ensure_ascii=False)  # what the app's API sends
        assert rec.info.to_dict()["channels"] == 2
        result = rec.stop()
    finally:
        rec.close()
        player.wait(30)
    assert rec.stop() is result, "a second stop returns the first result"
    assert result.stopped_by == "stop" and result.path == out
    assert sf.info(str(out)).frames == result.frames
    assert abs(result.duration - status.elapsed) < 0.5
    assert load_markers(markers_path(out)) == [(round(marker.time, 2), "開会")]
    assert not any(p.exists() for p in journal_paths(out)) and private(out)


def test_close_keeps_the_journal_for_recovery(pulse, options, tmp_path):
    """An app that must exit mid-recording closes the journal; its next start finds and recovers it."""
    out = tmp_path / "left.flac"
    rec = start(out, options, device="pulse")
    wait_capturing(rec)
    time.sleep(1.0)
    rec.close()
    assert not out.exists() and journal_paths(out)[0].stat().st_size > 0
    assert unrecovered(tmp_path) == [out]
    recover(out)
    assert sf.info(str(out)).duration > 0.5 and unrecovered(tmp_path) == []
    with pytest.raises(KaigirokuError, match="見出しの名前"):
        rec.add_marker("  ")


def _start_recorder(out: Path, env: dict, *extra: str):
    """`python -m pipeline.recorder` in its own process; returns it and a queue of (time, line)."""
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.recorder", str(out), "--device", "pulse",
                             "--samplerate", str(RATE), "--channels", "2", *extra],
                            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put((time.monotonic(), l)) for l in proc.stdout], daemon=True).start()
    return proc, lines


def _wait_for(lines: queue.Queue, text: str, timeout: float = 20.0) -> tuple[float, list[str]]:
    seen = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            t, line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return t, seen
    raise AssertionError(f"no line with {text!r} in {timeout} s: {seen}")


def test_sigterm_stops_cleanly_within_two_seconds(pulse, tmp_path):
    out = tmp_path / "stop.flac"
    proc, lines = _start_recorder(out, pulse)
    _, before = _wait_for(lines, "録音開始")
    time.sleep(2.0)
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(10)
    took = time.monotonic() - t
    assert rc == 0, proc.stderr.read()
    assert took <= 2.0, f"a clean stop took {took:.2f} s"
    _, after = _wait_for(lines, "録音を保存しました", timeout=1.0)
    assert 1.5 <= sf.info(str(out)).duration <= 3.0 and private(out)
    assert not any(p.exists() for p in journal_paths(out))
    # no terminal: markers are off, said once; plain status lines instead of a live panel
    assert sum("キーでの見出しは使えません" in l for l in before + after) == 1
    assert any("録音中 00:00:0" in l for l in before + after)


def test_kill_9_then_recover(pulse, speech, tmp_path):
    out = tmp_path / "crash.flac"
    launched = time.monotonic()
    proc, lines = _start_recorder(out, pulse)
    started, _ = _wait_for(lines, "録音開始")
    player = play(pulse, speech)
    time.sleep(max(0.0, started + SPEECH_SECONDS + 2.0 - time.monotonic()))
    killed = time.monotonic()
    proc.kill()
    proc.wait(10)
    player.wait(30)
    pcm, side = journal_paths(out)
    assert pcm.exists() and side.exists() and not out.exists()
    assert private(pcm) and private(side)

    assert recover(out) == out
    got = sf.info(str(out)).duration
    # everything but at most the last second, and nothing from before the process started
    assert got >= (killed - started) - 1.0, (got, killed - started)
    assert got <= killed - launched
    assert_holds_speech(out, speech)
    assert private(out) and not pcm.exists() and not side.exists()


@pytest.mark.slow  # a whole draft after the recording
def test_record_then_draft_writes_the_draft_of_what_was_played(pulse, speech, sample_dir, tmp_path):
    """`kaigiroku record --then-draft`, as staff run it: the chair's opening words go into the
    room, and the draft beside the recording has them, said by the 委員長."""
    import json

    from conftest import KAIGIROKU

    out = tmp_path / "meeting.flac"
    proc = subprocess.Popen([*KAIGIROKU, "record", str(out), "--device", "pulse", "--samplerate", str(RATE),
                             "--channels", "2", "--duration", str(SPEECH_SECONDS + 3.0), "--then-draft",
                             "--meeting", str(sample_dir / "meeting.yaml")],
                            cwd=REPO, env=pulse, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put((time.monotonic(), l)) for l in proc.stdout], daemon=True).start()
    _wait_for(lines, "録音開始")
    player = play(pulse, speech, delay=0.5)
    _wait_for(lines, "原稿を書きました", timeout=600)
    assert proc.wait(30) == 0, proc.stderr.read()
    player.wait(30)
    assert_holds_speech(out, speech)
    result = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    first = result["utterances"][0]
    chair = next(s for s in result["speakers"] if s["id"] == first["speaker"])
    assert "公民館運営審議会" in first["text"] and chair["role"] == "委員長", (first, chair)
    assert out.with_suffix(".docx").is_file() and private(out.with_suffix(".docx"))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")
def test_full_disk_stops_cleanly_and_keeps_everything(pulse, options, tmp_path, caplog):
    small = tmp_path / "small"
    small.mkdir()
    # 3 MB at 192 kB/s (48 kHz stereo int16), counted twice (journal + FLAC): room for ~7.8 s
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(small)], check=True)
    try:
        out = small / "full.flac"
        statuses = []
        result = record(out, replace(options, disk_warn=6.0, disk_stop=3.0), device="pulse", duration=60,
                        hook=lambda step, artifact=None, **kw: statuses.append(artifact) if step == "record" else None)
        assert result.stopped_by == "disk"
        assert 3.0 <= result.duration <= 7.0, result.duration
        assert sf.info(str(out)).frames == result.frames
        assert not any(p.exists() for p in journal_paths(out))
        assert any("ディスクの空き" in w for s in statuses for w in s.warnings)
        assert "録音を止めます" in caplog.text
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_list_devices(pulse):
    devices = list_devices()
    pulse_dev = next(d for d in devices if d.name == "pulse")
    assert pulse_dev.channels > 0 and pulse_dev.default_rate > 0
    assert sum(d.is_default for d in devices) == 1


def test_keys_in_a_terminal_write_markers(pulse, sample_dir, tmp_path):
    """In a real pseudo-terminal: keys 1 and m write markers while recording, 9 (no such item) doesn't."""
    import pty

    out = tmp_path / "keys.flac"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the recorder on a terminal, as an operator runs it
        try:
            os.chdir(REPO)
            os.execv(sys.executable, [sys.executable, "-m", "pipeline.recorder", str(out), "--device", "pulse",
                                      "--samplerate", str(RATE), "--channels", "2",
                                      "--meeting", str(sample_dir / "meeting.yaml")])
        finally:
            os._exit(127)  # never run the rest of pytest in the child
    screen = bytearray()

    def read_until(text: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while text.encode() not in screen and time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    screen.extend(os.read(fd, 65536))
                except OSError:  # the child closed the terminal
                    return

    try:
        read_until("録音開始", 20)
        started = time.monotonic()
        for key in (b"1", b"m", b"9"):
            time.sleep(0.5)
            os.write(fd, key)
        read_until("9 番の議題はありません", 5)
        elapsed = time.monotonic() - started
        os.kill(pid, signal.SIGINT)
        read_until("録音を保存しました", 10)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, screen.decode(errors="replace")[-2000:]
    agenda = agenda_items(load_meeting(sample_dir / "meeting.yaml").info.agenda)
    markers = load_markers(markers_path(out))
    assert [label for _, label in markers] == [agenda[0], "見出し2"]
    assert 0 < markers[0][0] < markers[1][0] <= elapsed + 0.5
    assert "キーでの見出しは使えません" not in screen.decode(errors="replace")
    assert private(markers_path(out)) and sf.info(str(out)).frames > 0


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("device, says", [("no-such-mic", "見つかりません"), ("999", "番号 999"), (999, "番号 999")])
def test_unknown_device(pulse, options, tmp_path, device, says):
    with pytest.raises(KaigirokuError, match=says):
        record(tmp_path / "a.flac", options, device=device, duration=1)
    assert list(tmp_path.iterdir()) == []


def test_refused_sample_rate(pulse, options, tmp_path):
    with pytest.raises(KaigirokuError, match="1000000 Hz で録音できません"):
        record(tmp_path / "a.flac", replace(options, sample_rate=1_000_000), device="pulse", duration=1)
    with pytest.raises(KaigirokuError, match="チャンネル"):
        record(tmp_path / "a.flac", replace(options, channels=999), device="pulse", duration=1)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_never_overwritten_without_force(pulse, options, tmp_path):
    out = tmp_path / "meeting.flac"
    out.write_bytes(b"an earlier recording")
    with pytest.raises(KaigirokuError, match="--force"):
        record(out, options, device="pulse", duration=1)
    assert out.read_bytes() == b"an earlier recording"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meeting.flac"]


def test_unrecovered_journal_blocks_even_force(options, tmp_path):
    out = tmp_path / "meeting.flac"
    pcm, _ = journal_paths(out)
    pcm.write_bytes(b"\0" * 400)
    with pytest.raises(KaigirokuError, match="recover"):
        record(out, options, device="pulse", duration=1, force=True)
    assert pcm.read_bytes() == b"\0" * 400


@pytest.mark.parametrize("where", ["file", "proc"])
def test_unwritable_folder(options, tmp_path, where):
    if where == "file":
        (tmp_path / "notes.txt").write_text("x")
        out = tmp_path / "notes.txt" / "meeting.flac"  # a folder that is a file
    else:
        out = Path("/proc/kaigiroku-test/meeting.flac")  # not creatable, even by root
    with pytest.raises(KaigirokuError, match="保存先"):
        record(out, options, device="pulse", duration=1)


def test_not_flac_and_bad_duration(options, tmp_path):
    with pytest.raises(KaigirokuError, match=r"\.flac"):
        record(tmp_path / "meeting.wav", options, device="pulse", duration=1)
    with pytest.raises(KaigirokuError, match="正の秒数"):
        record(tmp_path / "meeting.flac", options, device="pulse", duration=0)


# ---------------------------------------------------------------- the journal format

def test_recover_reads_the_documented_journal(tmp_path):
    """raw little-endian interleaved PCM + JSON sidecar; a partial last frame is dropped."""
    out = tmp_path / "m.flac"
    pcm, side = journal_paths(out)
    t = np.arange(16000) / 16000
    samples = (np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1) * 20000).astype("<i2")
    side.write_text(json.dumps({"sample_rate": 16000, "channels": 2, "dtype": "int16",
                                "start": "2024-10-15T14:00:00+09:00", "device": "test"}))
    pcm.write_bytes(samples.tobytes() + b"\x01\x02\x03")  # killed in the middle of a frame
    assert recover(pcm) == out
    back, rate = sf.read(out, dtype="int16")
    assert rate == 16000 and np.array_equal(back, samples)  # lossless, every whole frame
    assert private(out) and not pcm.exists() and not side.exists()


def test_recover_without_journal(tmp_path):
    with pytest.raises(KaigirokuError, match="復元する録音"):
        recover(tmp_path / "nothing.flac")


def test_recover_never_overwrites_without_force(tmp_path):
    out = tmp_path / "m.flac"
    out.write_bytes(b"keep")
    pcm, side = journal_paths(out)
    side.write_text(json.dumps({"sample_rate": 8000, "channels": 1, "dtype": "int16"}))
    pcm.write_bytes(b"\0\0" * 8000)
    with pytest.raises(KaigirokuError, match="--force"):
        recover(out)
    assert out.read_bytes() == b"keep" and pcm.exists()
    recover(out, force=True)
    assert sf.info(str(out)).frames == 8000


# ---------------------------------------------------------------- markers and options

def test_keys_map_to_agenda_items(sample_dir):
    agenda = agenda_items(load_meeting(sample_dir / "meeting.yaml").info.agenda)
    assert len(agenda) >= 2
    assert marker_label("1", agenda, 0) == agenda[0]
    assert marker_label(str(len(agenda)), agenda, 5) == agenda[-1]
    assert marker_label(str(len(agenda) + 1), agenda, 0) is None  # no such item: nothing written
    assert marker_label("m", agenda, 2) == "見出し3"
    assert marker_label("m", [], 0) == "見出し1"
    assert marker_label("x", agenda, 0) is None and marker_label("0", agenda, 0) is None


def test_markers_sidecar_is_what_the_draft_reads(tmp_path):
    out = tmp_path / "会議.flac"
    path = markers_path(out)
    write_markers(path, [Marker(12.345, "開会")])
    write_markers(path, [Marker(12.345, "開会"), Marker(754.2, "案件1 公民館講座")])  # replaced whole
    assert load_markers(path) == [(12.35, "開会"), (754.2, "案件1 公民館講座")]
    assert json.loads(path.read_text(encoding="utf-8"))["markers"][1] == {"time": 754.2, "label": "案件1 公民館講座"}
    assert private(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left


def test_record_options_come_from_default_yaml():
    o = load_options().record
    assert o == RecordOptions()  # the dataclass defaults are default.yaml's: the core works without it
    assert o.fsync_interval <= 1.0  # issue #5: on disk at least every second
    assert o.disk_stop < o.disk_warn and o.sample_format in ("int16", "int32")
