import pytest

from pipeline.config import load_options
from pipeline.errors import KaigirokuError


def test_defaults_come_from_configs_default_yaml():
    o = load_options()
    assert o.transcribe.model == "whisper-base"
    assert o.transcribe.language == "ja"
    assert o.audio.sample_rate == 16000
    assert o.export.formats == ("docx", "json")


def test_user_config_then_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("transcribe:\n  beam_size: 1\n  model: base\n", encoding="utf-8")
    o = load_options(cfg, {"transcribe": {"model": "/x/y", "device": None}})
    assert o.transcribe.beam_size == 1
    assert o.transcribe.model == "/x/y"          # CLI beats the user file
    assert o.transcribe.device == "cpu"          # None means "not given"


@pytest.mark.parametrize("text, expected", [
    ("transcrib:\n  beam_size: 1\n", "transcrib"),
    ("transcribe:\n  beamsize: 1\n", "beamsize"),
    ("transcribe:\n  beam_size: five\n", "transcribe.beam_size"),
    ("transcribe:\n  vad_filter: 1\n", "transcribe.vad_filter"),
    ("transcribe: [1, 2\n", "書式"),
])
def test_bad_user_config(tmp_path, text, expected):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(KaigirokuError) as e:
        load_options(cfg)
    assert expected in e.value.message


def test_missing_user_config(tmp_path):
    with pytest.raises(KaigirokuError, match="見つかりません"):
        load_options(tmp_path / "none.yaml")
