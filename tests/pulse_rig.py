"""The audio rig the recorder's tests share: a private PulseAudio server whose null sink `room`
is the microphone (its monitor is the default source, which ALSA's `pulse` device and so
PortAudio record), and a known speech file to play into it with paplay.

conftest.py imports the fixtures (one PulseAudio server per session); tests import `play`.
Needs `pulseaudio pulseaudio-utils libportaudio2` (Debian); CI installs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import soundfile as sf

SPEECH_SECONDS = 8.0
RATE = 48000


# ---------------------------------------------------------------- the audio rig

@pytest.fixture(scope="session")
def pulse(tmp_path_factory):
    """A private PulseAudio server with a null sink `room` whose monitor is the default source."""
    missing = [b for b in ("pulseaudio", "pactl", "paplay") if shutil.which(b) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: apt-get install -y pulseaudio pulseaudio-utils libportaudio2")
    run = tmp_path_factory.mktemp("pulse")
    socket = run / "native"
    env = {**os.environ, "PULSE_RUNTIME_PATH": str(run), "PULSE_SERVER": f"unix:{socket}"}
    log = open(run / "pulseaudio.log", "wb")
    # -n: no default.pa (it probes sound cards and X11); foreground, so this test owns the pid.
    # Running as root needs --system=false spelled out and logs a warning, nothing worse.
    server = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "--system=false", "-n", "--exit-idle-time=-1", "--disallow-exit",
         "--realtime=no", "--high-priority=no", "--use-pid-file=no",
         f"--load=module-native-protocol-unix auth-anonymous=1 socket={socket}"],
        env={**env, "HOME": str(run), "XDG_RUNTIME_DIR": str(run)}, stdout=log, stderr=log)
    try:
        for _ in range(100):
            if server.poll() is not None:
                pytest.fail(f"pulseaudio exited: {(run / 'pulseaudio.log').read_text(errors='replace')[-2000:]}")
            if subprocess.run(["pactl", "info"], check=False, env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("pulseaudio did not answer within 10 s")
        for cmd in (["load-module", "module-null-sink", "sink_name=room", f"rate={RATE}", "channels=2"],
                    ["set-default-source", "room.monitor"]):
            subprocess.run(["pactl", *cmd], env=env, check=True, capture_output=True)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PULSE_SERVER", env["PULSE_SERVER"])  # read by ALSA's pulse plugin at open
            yield env
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="session")
def speech(sample_dir, tmp_path_factory) -> Path:
    """The first seconds of the bundled meeting as a wav for paplay (16 kHz mono)."""
    samples, rate = sf.read(sample_dir / "meeting.flac", dtype="int16", frames=int(16000 * SPEECH_SECONDS))
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def play(pulse_env, wav: Path, delay: float = 0.0) -> subprocess.Popen:
    cmd = f"sleep {delay} && exec paplay --device=room '{wav}'" if delay else f"exec paplay --device=room '{wav}'"
    return subprocess.Popen(["sh", "-c", cmd], env=pulse_env)
