"""The CLI on bad input: one clear line on stderr, exit 1, no traceback, nothing half-written."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from audio_files import tone, write
from conftest import KAIGIROKU


def run(args, env, cwd):
    return subprocess.run([*KAIGIROKU, *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def assert_one_line_error(r, *expected):
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("エラー: "), r.stderr
    for e in expected:
        assert e in lines[0]


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in {".docx", ".json", ".part"} or p.name.startswith("."))


@pytest.fixture()
def meeting_file(tmp_path):
    p = tmp_path / "meeting.yaml"
    p.write_text("meeting: {body: テスト委員会}\nparticipants:\n  - {name: 山本, role: 委員長}\n", encoding="utf-8")
    return p


def test_missing_audio(tmp_path, cli_env):
    r = run(["draft", tmp_path / "none.flac", "-o", tmp_path / "d.docx"], cli_env, tmp_path)
    assert_one_line_error(r, "none.flac", "見つかりません")
    assert outputs(tmp_path) == []


def test_text_file_named_wav(tmp_path, cli_env):
    bad = tmp_path / "会議 録音.wav"  # spaces and Japanese in the path are fine; the content is not
    bad.write_text("議事メモ\n" * 100, encoding="utf-8")
    r = run(["draft", bad, "-o", tmp_path / "d.docx"], cli_env, tmp_path)
    assert_one_line_error(r, "読めません")
    assert outputs(tmp_path) == []


def test_zero_byte_and_silent(tmp_path, cli_env):
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    assert_one_line_error(run(["draft", empty, "-o", tmp_path / "a.docx"], cli_env, tmp_path), "空です")
    silent = write(tmp_path / "silent.flac", np.zeros((1, 16000 * 20), np.float32), 16000)
    assert_one_line_error(run(["draft", silent, "-o", tmp_path / "b.docx"], cli_env, tmp_path), "無音")
    assert outputs(tmp_path) == []


def test_unreadable_meeting_file(tmp_path, cli_env):
    audio = write(tmp_path / "a.wav", tone(1.0, 16000), 16000)
    m = tmp_path / "meeting.yaml"
    m.write_text("meeting: {body: [unclosed\n", encoding="utf-8")
    r = run(["draft", audio, "--meeting", m, "-o", tmp_path / "d.docx"], cli_env, tmp_path)
    assert_one_line_error(r, "meeting.yaml", "書式")
    m.write_bytes("participants:\n  - {name: 山本, role: 委員長}\n".encode("shift_jis"))
    r = run(["draft", audio, "--meeting", m, "-o", tmp_path / "d.docx"], cli_env, tmp_path)
    assert_one_line_error(r, "UTF-8")
    assert outputs(tmp_path) == []


def test_existing_draft_is_not_overwritten(tmp_path, cli_env, meeting_file):
    audio = write(tmp_path / "a.wav", tone(1.0, 16000), 16000)
    edited = tmp_path / "d.docx"
    edited.write_bytes(b"edited by the clerk")
    r = run(["draft", audio, "--meeting", meeting_file, "-o", edited], cli_env, tmp_path)
    assert_one_line_error(r, "--force")
    assert edited.read_bytes() == b"edited by the clerk"


def test_unknown_model_path(tmp_path, cli_env):
    audio = write(tmp_path / "a.wav", tone(1.0, 16000), 16000)
    r = run(["draft", audio, "--model", tmp_path / "models" / "large-v3", "-o", tmp_path / "d.docx"],
            cli_env, tmp_path)
    assert_one_line_error(r, "large-v3", "見つかりません")


def test_verbose_adds_the_english_detail(tmp_path, cli_env):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    r = run(["--verbose", "draft", empty, "-o", tmp_path / "d.docx"], cli_env, tmp_path)
    assert r.returncode == 1 and "detail: zero-byte file" in r.stderr and "Traceback" not in r.stderr
