"""Load the stage options: configs/default.yaml, then a user config, then CLI overrides.

Each stage owns one frozen options dataclass (`AudioOptions` in audio.py, …); the defaults of
every field live in configs/default.yaml, so there is one place to change them. (CleanOptions
also carries them as dataclass defaults, so `clean_text` works without this file; a test keeps
the two equal.)
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .audio import AudioOptions
from .clean import CleanOptions
from .diarize import DiarizeOptions
from .errors import KaigirokuError
from .identify import IdentifyOptions
from .jobs.options import AccountOptions, JobOptions
from .pii import PiiOptions
from .recorder.options import RecordOptions
from .speakers import SpeakerOptions
from .transcribe import TranscribeOptions
from .writers import ExportOptions

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"


@dataclass(frozen=True)
class Options:
    audio: AudioOptions
    transcribe: TranscribeOptions
    speakers: SpeakerOptions
    diarize: DiarizeOptions
    identify: IdentifyOptions
    clean: CleanOptions
    pii: PiiOptions
    export: ExportOptions
    record: RecordOptions
    jobs: JobOptions
    accounts: AccountOptions


_CLASSES = {"audio": AudioOptions, "transcribe": TranscribeOptions, "speakers": SpeakerOptions,
            "diarize": DiarizeOptions, "identify": IdentifyOptions, "clean": CleanOptions,
            "pii": PiiOptions, "export": ExportOptions, "record": RecordOptions,
            "jobs": JobOptions, "accounts": AccountOptions}


def load_options(user_config: str | Path | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None) -> Options:
    """Defaults ← user config ← overrides (``{"transcribe": {"model": "..."}}``)."""
    merged = _read(DEFAULT_CONFIG)
    if user_config is not None:
        _merge(merged, _read(Path(user_config)), str(user_config))
    if overrides:
        _merge(merged, {k: {kk: vv for kk, vv in v.items() if vv is not None}
                        for k, v in overrides.items()}, "コマンドライン")
    return Options(**{name: _build(cls, merged.get(name, {}), name) for name, cls in _CLASSES.items()})


def _read(path: Path) -> dict[str, dict[str, Any]]:
    import yaml

    if not path.is_file():
        raise KaigirokuError(f"設定ファイル {path} が見つかりません。--config のパスを確認してください。")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise KaigirokuError(f"設定ファイル {path} の書式に誤りがあります。YAML として確認してください。",
                             str(e)) from e
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise KaigirokuError(f"設定ファイル {path} は audio: / transcribe: などの節ごとに書いてください。")
    return data


def _merge(base: dict, extra: dict, where: str) -> None:
    for section, values in extra.items():
        if section not in _CLASSES:
            raise KaigirokuError(f"{where}: 不明な設定の節「{section}」があります。"
                                 f"使える節: {', '.join(_CLASSES)}。")
        known = {f.name for f in fields(_CLASSES[section])}
        for key in values:
            if key not in known:
                raise KaigirokuError(f"{where}: {section} に不明な設定「{key}」があります。"
                                     f"使える設定: {', '.join(sorted(known))}。")
        base.setdefault(section, {}).update(values)


def _build(cls: type, values: dict[str, Any], section: str):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in fields(cls):
        if f.name not in values:
            raise KaigirokuError(f"configs/default.yaml に {section}.{f.name} がありません。"
                                 "リポジトリの configs/default.yaml を元に戻してください。")
        kwargs[f.name] = _coerce(values[f.name], hints[f.name], f"{section}.{f.name}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Accept what YAML gives for the annotated type, or fail with the key's name."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            raise ValueError
        if hint in (int, float, str):
            if isinstance(value, bool) or (hint is not str and isinstance(value, str)):
                raise ValueError
            return hint(value)
        if origin is tuple:
            if isinstance(value, str):
                value = [value]
            return tuple(_coerce(v, args[0], key) for v in value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise KaigirokuError(f"設定 {key} の値「{value}」の型が違います（{getattr(hint, '__name__', hint)} が必要です）。")

