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
