"""Shared fixtures. The privacy environment is applied before any test imports a model library."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pipeline.privacy import apply_offline_env

apply_offline_env(allow_network=False)

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data" / "sample"
BENCH = REPO.parent / "shared" / "bench"
KAIGIROKU = [sys.executable, "-m", "pipeline"]

# the PulseAudio null sink as the microphone, for the recorder's and the app's tests (one
# server for the whole session: defined here once, not per importing module)
from pulse_rig import pulse, speech  # noqa: E402,F401


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    if not (SAMPLE / "meeting.flac").is_file():
        pytest.fail(f"the bundled sample is missing: {SAMPLE}")
    return SAMPLE


@pytest.fixture()
def options():
    from pipeline.config import load_options

    return load_options()


@pytest.fixture()
def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: the test's own privacy settings, one thread each."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def processes_naming(text: str) -> list[int]:
    """Pids of live processes whose command line contains `text` (Linux /proc): what a test
    left running (the app's worker, a server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                state = (entry / "stat").read_text().split()[2]
            except OSError:
                continue
            if text in cmd and state != "Z":
                found.append(int(entry.name))
    return found


def screenshot(page, name: str) -> None:
    """The README's pictures of the app (`make screenshots`): the browser tests save the page
    as the clerk sees it at that step when KAIGIROKU_SCREENSHOTS names a folder; otherwise
    nothing. Japanese text needs a Japanese font (Debian: fonts-ipafont-gothic)."""
    folder = os.environ.get("KAIGIROKU_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))
