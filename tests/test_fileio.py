"""Writing files so that nothing is lost (pipeline/fileio.py)."""

from __future__ import annotations

import os
import stat

import pytest

from pipeline.fileio import atomic_path


def test_atomic_path_syncs_the_folder_after_the_rename(tmp_path, monkeypatch):
    """Issue #12: the new name is only durable once the folder is synced (as the recorder does)."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync-folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        return real_fsync(fd)

    def replace(src, dst):
        events.append("rename")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "OUT.json"
    with atomic_path(target) as tmp:
        tmp.write_text("new", encoding="utf-8")
    assert events == ["fsync-file", "rename", "fsync-folder"]
    assert target.read_text(encoding="utf-8") == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "OUT.docx"
    target.write_text("the editor's draft", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("crash while writing")
    assert target.read_text(encoding="utf-8") == "the editor's draft"
    assert [p.name for p in tmp_path.iterdir()] == ["OUT.docx"]


def test_folder_lock_excludes_another_process(tmp_path):
    """Two servers saving the same review (or two workers learning one body's voices) wait for
    each other: a second process cannot take the folder's lock while the first holds it."""
    import subprocess
    import sys
    import threading

    from pipeline.fileio import folder_lock

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pipeline.fileio import folder_lock\n"
         f"with folder_lock({str(tmp_path)!r}):\n"
         "    print('locked', flush=True); sys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        got = threading.Event()

        def take() -> None:
            with folder_lock(tmp_path):
                got.set()

        t = threading.Thread(target=take, daemon=True)
        t.start()
        assert not got.wait(0.5), "the lock was taken while another process held it"
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert got.wait(10), "the lock was not handed over when the other process let go"
        t.join(5)
    finally:
        holder.kill()
        holder.wait()
