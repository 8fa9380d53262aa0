"""Resumable stages: an interrupted draft resumes without redoing ASR (marked slow)."""

import json
import os
import stat
import subprocess

import pytest

from conftest import KAIGIROKU

pytestmark = pytest.mark.slow


def draft(sample_dir, out, *extra, env=None):
    return subprocess.run([*KAIGIROKU, "-v", "draft", sample_dir / "meeting.flac", "--meeting",
                           sample_dir / "meeting.yaml", "-o", out, *extra],
                          capture_output=True, text=True, timeout=900, env=env)


def result(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(u["speaker"], u["text"]) for u in data["utterances"]], data["speakers"], data["headings"]


def test_interrupted_after_asr_resumes_without_asr_and_gives_the_same_draft(sample_dir, tmp_path):
    out = tmp_path / "resumed" / "draft.docx"
    env = dict(os.environ, KAIGIROKU_STOP_AFTER="transcribe")
    first = draft(sample_dir, out, env=env)
    assert first.returncode == 130 and "再開できます" in first.stderr
    assert not out.exists()
    cache = out.parent / ".kaigiroku-cache"
    # the speaker stages run beside ASR: they may have finished (and been saved) first
    saved = {p.name.split("-")[0] for p in cache.iterdir()}
    assert "transcribe" in saved and saved <= {"transcribe", "diarize", "identify"}
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in cache.iterdir())

    second = draft(sample_dir, out)
    assert second.returncode == 0, second.stderr
    assert "transcribe: reusing the cached result" in second.stderr
    assert "Processing audio" not in second.stderr          # faster-whisper did not run
    assert ("diarize: saved" in second.stderr) != ("diarize: reusing" in second.stderr)

    # and one stage after the other (no thread) gives the same draft as stages side by side
    sequential = tmp_path / "sequential.yaml"
    sequential.write_text("diarize:\n  alongside_asr: false\n", encoding="utf-8")
    plain = draft(sample_dir, tmp_path / "plain" / "draft.docx", "--no-cache", "--config", sequential)
    assert plain.returncode == 0, plain.stderr
    assert not (tmp_path / "plain" / ".kaigiroku-cache").exists()
    assert result(out.with_suffix(".json")) == result(tmp_path / "plain" / "draft.json")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_changed_label_option_recomputes_only_what_it_affects(sample_dir, tmp_path):
    out = tmp_path / "d.docx"
    assert draft(sample_dir, out).returncode == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text("identify:\n  switch_penalty: 0.2\n", encoding="utf-8")
    again = draft(sample_dir, out, "--force", "--config", cfg)
    assert again.returncode == 0, again.stderr
    assert "transcribe: reusing" in again.stderr and "diarize: reusing" in again.stderr
    assert "identify: saved" in again.stderr


def test_disk_full_names_the_stage_and_what_is_saved(sample_dir, tmp_path):
    """A real full disk: the output folder is a 64 KiB tmpfs in a private mount namespace."""
    import shutil

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode:
        pytest.skip("needs mount namespaces (root)")
    folder = tmp_path / "small"
    folder.mkdir()
    out = folder / "d.docx"
    script = f'mount -t tmpfs -o size=64k none "{folder}" && exec "$@"'
    r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *map(str, KAIGIROKU), "draft",
                        str(sample_dir / "meeting.flac"), "--meeting", str(sample_dir / "meeting.yaml"),
                        "-o", str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "ディスクがいっぱい" in line and "で止まりました" in line


def test_a_speaker_stage_failing_during_asr_is_told_at_once_and_asr_goes_on(sample_dir, tmp_path):
    """The diarization result (≈25 KB) does not fit a 16 KiB tmpfs: the speaker thread fails a few
    seconds in, while Whisper still has most of the (doubled, 168 s) sample to go. The editor is
    told then, not when ASR ends; ASR still runs to its end (it fails too here, at its own save)."""
    import shutil

    import numpy as np
    import soundfile as sf

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode:
        pytest.skip("needs mount namespaces (root)")
    samples, rate = sf.read(sample_dir / "meeting.flac", dtype="float32")
    audio = tmp_path / "twice.flac"
    sf.write(audio, np.concatenate([samples, samples]), rate)
    folder = tmp_path / "tiny"
    folder.mkdir()
    script = f'mount -t tmpfs -o size=16k none "{folder}" && exec "$@"'
    r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *map(str, KAIGIROKU), "draft", str(audio),
                        "--meeting", str(sample_dir / "meeting.yaml"), "-o", str(folder / "d.docx")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    early = [k for k, line in enumerate(lines) if "音声認識は最後まで続けて保存します" in line]
    assert len(early) == 1 and lines[early[0]].startswith("話者の区別で止まりました: ディスクがいっぱい"), r.stderr
    assert early[0] < len(lines) - 1
    assert "音声認識で止まりました" in lines[-1] and "ディスクがいっぱい" in lines[-1]
    assert not (folder / "d.docx").exists()


def test_a_changed_stage_version_or_model_never_reuses_the_cached_result(sample_dir, tmp_path, monkeypatch):
    """Issue #12: cache keys carry each stage's version and the weights' checksum, so an upgraded
    stage or other weights behind the same name recompute instead of silently reusing."""
    import dataclasses

    import soundfile as sf

    import pipeline.draft as draft_module
    from pipeline.config import load_options
    from pipeline.models import resolve as real_resolve

    samples, rate = sf.read(sample_dir / "meeting.flac", frames=16000 * 8)
    clip = tmp_path / "clip.flac"
    sf.write(clip, samples, rate)
    options = load_options(None, {"diarize": {"enabled": False}})
    json_only = dataclasses.replace(options, export=dataclasses.replace(options.export, formats=("json",)))
    out = tmp_path / "d" / "OUT.json"
    cache = out.parent / ".kaigiroku-cache"

    def transcripts():
        return sorted(p.name for p in cache.glob("transcribe-*.json"))

    first = draft_module.run_draft(clip, None, out, json_only, force=True)
    assert len(transcripts()) == 1
    draft_module.run_draft(clip, None, out, json_only, force=True)
    assert len(transcripts()) == 1  # same code, same model: reused

    monkeypatch.setattr(draft_module, "TRANSCRIBE_VERSION", draft_module.TRANSCRIBE_VERSION + 1)
    draft_module.run_draft(clip, None, out, json_only, force=True)
    assert len(transcripts()) == 2  # a new stage version recomputed

    def other_weights(requested, kind):
        return dataclasses.replace(real_resolve(requested, kind), sha256="0" * 64)

    monkeypatch.setattr(draft_module, "resolve", other_weights)
    again = draft_module.run_draft(clip, None, out, json_only, force=True)
    assert len(transcripts()) == 3  # other weights at the same path recomputed
    assert [u.text for u in again.utterances] == [u.text for u in first.utterances]
