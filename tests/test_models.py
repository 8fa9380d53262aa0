import subprocess

import pytest

from conftest import KAIGIROKU
from pipeline import models
from pipeline.errors import KaigirokuError


def test_embedded_models_resolve_with_verified_checksums():
    reg = models.registry()
    asr = models.resolve("whisper-base", "asr")
    assert asr.source == "embedded"
    assert models.sha256(models.Path(asr.path) / "model.bin") == reg["whisper-base"]["sha256"]
    for name, kind in [("pyannote-segmentation-3.0", "segmentation"), ("campplus-sv-zh-en-16k", "embedding")]:
        m = models.resolve(name, kind)
        assert m.source == "embedded" and models.sha256(models.Path(m.path)) == reg[name]["sha256"]
    assert models.resolve("base", "asr").path == asr.path


def test_a_corrupted_assembled_model_is_detected_and_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("KAIGIROKU_MODELS", str(tmp_path))
    folder = models.Path(models.resolve("whisper-base", "asr").path)
    assert folder.parent == tmp_path
    with open(folder / "model.bin", "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    state = {s.name: s.state for s in models.status()}
    assert state["whisper-base"] == "checksum failed"
    models.resolve("whisper-base", "asr")
    assert {s.name: s.state for s in models.status()}["whisper-base"] == "ok"


def test_unknown_name_offline_says_how_to_use_a_local_folder(monkeypatch):
    monkeypatch.delenv("KAIGIROKU_ALLOW_NETWORK", raising=False)
    with pytest.raises(KaigirokuError, match="--model にローカル"):
        models.resolve("large-v3", "asr")
    with pytest.raises(KaigirokuError, match="--allow-network"):
        models.resolve("kotoba-tech/kotoba-whisper-v2.0", "asr")


def test_hub_id_only_with_network_allowed(monkeypatch):
    monkeypatch.setenv("KAIGIROKU_ALLOW_NETWORK", "1")
    m = models.resolve("kotoba-tech/kotoba-whisper-v2.0", "asr")
    assert m.source == "hub" and m.path == "kotoba-tech/kotoba-whisper-v2.0"


def test_missing_or_wrong_local_folder(tmp_path):
    with pytest.raises(KaigirokuError, match="見つかりません"):
        models.resolve(str(tmp_path / "nowhere" / "large-v3"), "asr")
    with pytest.raises(KaigirokuError, match="model.bin"):
        models.resolve(str(tmp_path), "asr")


def test_local_folder_with_sha256sums_is_verified(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"weights")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  model.bin\n")
    with pytest.raises(KaigirokuError, match="チェックサム"):
        models.resolve(str(tmp_path), "asr")
    (tmp_path / "SHA256SUMS").write_text(f"{models.sha256(tmp_path / 'model.bin')}  model.bin\n")
    assert models.resolve(str(tmp_path), "asr").source == "path"


def test_wrong_kind_is_refused():
    with pytest.raises(KaigirokuError, match="asr"):
        models.resolve("campplus-sv-zh-en-16k", "asr")


def test_models_command_lists_every_model(cli_env):
    r = subprocess.run([*KAIGIROKU, "models"], capture_output=True, text=True, env=cli_env, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines() if line.strip()}
    for name in models.registry():
        assert " ok " in rows[name]
