"""The bad-input suite (issue #6): a generated corpus of bad and awkward inputs.

Bad inputs: one line on stderr saying what is wrong and what to do, exit 1, no traceback,
nothing written or replaced. Awkward but valid inputs: the draft is written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_files import tone, write
from conftest import KAIGIROKU, REPO

SAMPLE = REPO / "tests" / "data" / "sample"


def run(args, cwd):
    return subprocess.run([*KAIGIROKU, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=900)


def speech(seconds=20.0) -> tuple[np.ndarray, int]:
    x, rate = sf.read(SAMPLE / "meeting.flac", dtype="float32")
    return x[: int(seconds * rate)], rate


def meeting_yaml(folder: Path, voice: Path | None = None, extra: str = "") -> Path:
    text = "meeting: {body: テスト委員会}\nparticipants:\n  - {name: 山本 健一, role: 委員長%s}\n%s" % (
        f", voice: {voice}" if voice else "", extra)
    path = folder / "meeting.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ---- bad inputs -------------------------------------------------------------------------

def _zero_byte(d):
    (d / "a.wav").write_bytes(b"")
    return ["draft", d / "a.wav"], "空です"


def _header_only_flac(d):
    full = write(d / "a.flac", tone(3, 16000), 16000)
    full.write_bytes(full.read_bytes()[:60])  # the recorder died while writing the header
    return ["draft", d / "a.flac"], "読めません"


def _text_as_wav(d):
    (d / "a.wav").write_text("議事メモ\n" * 200, encoding="utf-8")
    return ["draft", d / "a.wav"], "読めません"


def _image_as_mp3(d):
    (d / "a.mp3").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    return ["draft", d / "a.mp3"], "音声が入っていません"


def _silent_hour(d):
    write(d / "a.flac", np.zeros((1, 16000 * 3600), np.float32), 16000)
    return ["draft", d / "a.flac"], "無音"


def _missing_audio(d):
    return ["draft", d / "none.flac"], "見つかりません"


def _folder_as_audio(d):
    (d / "rec").mkdir()
    return ["draft", d / "rec"], "フォルダ"


def _read_only_output_folder(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    (d / "ro").mkdir()
    os.chmod(d / "ro", 0o500)
    if os.geteuid() == 0:
        # root ignores permission bits: mount a read-only file system there instead
        if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode:
            pytest.skip("running as root without mount namespaces: cannot make a read-only folder")
        return ["draft", d / "a.wav", "-o", d / "ro" / "x.docx"], "書き込めません", "ro"
    return ["draft", d / "a.wav", "-o", d / "ro" / "x.docx"], "書き込めません"


def _existing_draft(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    (d / "a.docx").write_bytes(b"edited")
    return ["draft", d / "a.wav"], "--force"


def _meeting_yaml_error(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    (d / "m.yaml").write_text("meeting: {body: [x\n", encoding="utf-8")
    return ["draft", d / "a.wav", "--meeting", d / "m.yaml"], "書式"


def _meeting_unknown_key(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    return ["draft", d / "a.wav", "--meeting", meeting_yaml(d, extra="absentees: [x]\n")], "absentees"


def _meeting_unknown_role(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    m = meeting_yaml(d)
    m.write_text(m.read_text(encoding="utf-8").replace("委員長", "議長"), encoding="utf-8")
    return ["draft", d / "a.wav", "--meeting", m], "議長"


def _missing_voice_clip(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    return ["draft", d / "a.wav", "--meeting", meeting_yaml(d, Path("voices/none.flac"))], "山本 健一"


def _silent_voice_clip(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    write(d / "v.flac", np.zeros((1, 16000 * 10), np.float32), 16000)
    return ["draft", d / "a.wav", "--meeting", meeting_yaml(d, Path("v.flac"))], "山本 健一"


def _short_voice_clip(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    x, rate = speech(1.5)
    sf.write(d / "v.flac", x, rate)
    return ["draft", d / "a.wav", "--meeting", meeting_yaml(d, Path("v.flac"))], "短すぎます"


def _unknown_model_path(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    return ["draft", d / "a.wav", "--model", d / "models" / "large-v3"], "見つかりません"


def _unknown_model_name(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    return ["draft", d / "a.wav", "--model", "large-v3"], "large-v3"


def _corrupted_model_with_checksums(d):
    from pipeline.models import resolve, sha256

    src = Path(resolve("whisper-base", "asr").path)
    dst = d / "my-model"
    shutil.copytree(src, dst)
    (dst / "SHA256SUMS").write_text(f"{sha256(dst / 'model.bin')}  model.bin\n")
    with open(dst / "model.bin", "r+b") as f:
        f.seek(5000)
        f.write(b"\x00\x01\x02\x03")
    write(d / "a.wav", tone(2, 16000), 16000)
    return ["draft", d / "a.wav", "--model", dst], "チェックサム"


def _truncated_model_without_checksums(d):
    dst = d / "my-model"
    dst.mkdir()
    (dst / "model.bin").write_bytes(b"\x00" * 1000)
    (dst / "config.json").write_text("{}")
    write(d / "a.wav", tone(2, 16000), 16000)
    return ["draft", d / "a.wav", "--model", dst], "読み込めません"


def _bad_config_value(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    (d / "c.yaml").write_text("transcribe:\n  beam_size: many\n", encoding="utf-8")
    return ["draft", d / "a.wav", "--config", d / "c.yaml"], "beam_size"


def _unknown_format(d):
    write(d / "a.wav", tone(2, 16000), 16000)
    return ["draft", d / "a.wav", "--format", "pdf"], "pdf"


def _export_not_a_result(d):
    (d / "r.json").write_text('{"hello": 1}', encoding="utf-8")
    return ["export", d / "r.json", "-o", d / "x.docx"], "結果ファイル"


BAD = [_zero_byte, _header_only_flac, _text_as_wav, _image_as_mp3, _silent_hour, _missing_audio,
       _folder_as_audio, _read_only_output_folder, _existing_draft, _meeting_yaml_error,
       _meeting_unknown_key, _meeting_unknown_role, _missing_voice_clip, _silent_voice_clip,
       _short_voice_clip, _unknown_model_path, _unknown_model_name, _corrupted_model_with_checksums,
       _truncated_model_without_checksums, _bad_config_value, _unknown_format, _export_not_a_result]


@pytest.mark.parametrize("case", BAD, ids=[c.__name__.strip("_") for c in BAD])
def test_bad_input_gives_one_clear_line_and_writes_nothing(case, tmp_path):
    args, expected, *read_only = case(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    if read_only:  # run inside a mount namespace where that folder is a read-only tmpfs
        folder = tmp_path / read_only[0]
        script = f'mount -t tmpfs -o ro none "{folder}" && exec "$@"'
        r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *KAIGIROKU, *map(str, args)],
                           capture_output=True, text=True, cwd=tmp_path, timeout=900)
    else:
        r = run(args, tmp_path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("エラー: "), r.stderr
    assert expected in lines[0], lines[0]
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing replaced, no temp file left


# ---- awkward but valid ------------------------------------------------------------------

def _speech_8k(d):
    from scipy.signal import resample_poly

    x, rate = speech()

    y = resample_poly(x, 1, 2).astype(np.float32)
    return write(d / "phone.wav", y[None, :], 8000)


def _speech_48k_6ch(d):
    from scipy.signal import resample_poly

    x, rate = speech()
    y = resample_poly(x, 3, 1).astype(np.float32)
    return write(d / "rig.flac", np.stack([y, y * 0.5, y * 0.2, np.zeros_like(y), y * 0.1, y * 0.3]), 48000)


def _stereo_one_channel_silent(d):
    x, rate = speech()
    return write(d / "half.wav", np.stack([x, np.zeros_like(x)]), rate)


def _clipped(d):
    x, rate = speech()
    return write(d / "loud.wav", np.clip(x * 12, -1, 1)[None, :], rate)


def _japanese_path_with_spaces(d):
    x, rate = speech()
    folder = d / "令和6年 第2回 審議会"
    folder.mkdir()
    return write(folder / "会議 録音.flac", x[None, :], rate)


def _very_short(d):
    return write(d / "blip.wav", tone(0.3, 16000), 16000)


def _truncated_recording(d):
    x, rate = speech()
    path = write(d / "cut.flac", x[None, :], rate)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


AWKWARD = [_speech_8k, _speech_48k_6ch, _stereo_one_channel_silent, _clipped, _japanese_path_with_spaces,
           _very_short, _truncated_recording]


@pytest.mark.slow
@pytest.mark.parametrize("case", AWKWARD, ids=[c.__name__.strip("_") for c in AWKWARD])
def test_awkward_but_valid_input_is_drafted(case, tmp_path):
    audio = case(tmp_path)
    out = tmp_path / "out" / "draft.docx"
    r = run(["draft", audio, "-o", out], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert out.is_file() and out.with_suffix(".json").is_file()
    if case is not _very_short:
        from scoring import docx_rows

        assert len("".join(t for _, t in docx_rows(out))) > 20
