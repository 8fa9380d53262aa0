"""`make shortcut`: the desktop entry a clerk double-clicks starts this checkout's app."""

from __future__ import annotations

import shlex
import subprocess
import sys

from conftest import REPO


def test_the_desktop_entry_starts_this_checkouts_app(tmp_path):
    (tmp_path / "デスクトップ").mkdir()
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "shortcut.py"), "--home", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    menu = tmp_path / ".local" / "share" / "applications" / "kaigiroku.desktop"
    desk = tmp_path / "デスクトップ" / "kaigiroku.desktop"
    assert menu.read_text(encoding="utf-8") == desk.read_text(encoding="utf-8")
    assert not (tmp_path / "Desktop").exists()  # no folder made that the desktop does not use
    assert desk.stat().st_mode & 0o111
    fields = dict(line.split("=", 1) for line in menu.read_text(encoding="utf-8").splitlines() if "=" in line)
    assert fields["Terminal"] == "true" and fields["Path"] == str(REPO)
    argv = shlex.split(fields["Exec"])
    assert argv[1:] == ["-m", "pipeline", "app"]
    # the command it runs is this checkout's app (its help, not a start)
    help_ = subprocess.run([*argv, "--help"], cwd=fields["Path"], capture_output=True, text=True, timeout=120)
    assert help_.returncode == 0 and "--data" in help_.stdout
