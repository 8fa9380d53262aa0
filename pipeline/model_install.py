"""Bringing a stronger Whisper onto this PC (issue #13): `kaigiroku models import` and `models get`.

A town without internet carries a CTranslate2 Whisper folder (or a .tar.gz/.zip of one) on a USB
stick; a town that may go online downloads one of the curated models (models/catalog.yaml: pinned
revision, every file's SHA-256) or any hub id of a CTranslate2 Whisper. Either way the files are
checked before anything is registered, land in a hidden folder inside the models folder first and
become visible in one rename, with a manifest (`models.MANIFEST_FILE`) that `models.resolve` and
`kaigiroku models` verify on every use. A half-copied or half-downloaded model is never listed.

Downloads use the standard library against the hub's plain HTTP layout
(`{HF_ENDPOINT}/{repo}/resolve/{revision}/{file}`), not huggingface_hub: the process keeps
HF_HUB_OFFLINE=1 for every other library, and the resume/verify rules stay ours.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import logging
import lzma
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any, Iterator

from . import __version__
from .errors import KaigirokuError
from .fileio import sha256_file
from .hooks import Hook, null_hook
from .models import (MANIFEST_FILE, FileSum, Manifest, catalog, models_dir, read_manifest,
                     read_sums_file, registry)

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
SUMS_FILE = "SHA256SUMS"
# What faster-whisper reads from a CTranslate2 Whisper folder (its own download list).
WHISPER_FILES = ("model.bin", "config.json", "preprocessor_config.json", "tokenizer.json")
# Whisper large-v3 in float32 is 6.2 GB; an archive that unpacks to more is not a Whisper.
MAX_MODEL_BYTES = 16 * 2**30
MAX_ARCHIVE_MEMBERS = 10_000
# Left free on the disk after a model is written: the drafts and their caches need room too.
DISK_MARGIN_BYTES = 512 * 2**20
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
CHUNK = 1 << 20


@dataclass(frozen=True)
class DownloadOptions:
    """How `get` talks to the hub.

    Attributes:
        attempts: tries per file; each retry resumes the .part file with an HTTP Range request.
        backoff_s: wait before retry n is n × this.
        timeout_s: socket timeout of one request (a stalled connection counts as a failed try).
    """

    attempts: int = 5
    backoff_s: float = 2.0
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Expected:
    """What one file must be: its size and SHA-256, or (a small file in the hub's git, with no
    LFS sum in the listing) its git blob id."""

    name: str
    size: int | None
    sha256: str | None = None
    git_sha1: str | None = None


@dataclass(frozen=True)
class Installed:
    path: Path
    manifest: Manifest
    checked: tuple[str, ...]  # the files an outside checksum vouched for on arrival


def is_whisper_file(name: str) -> bool:
    return name in WHISPER_FILES or name.startswith("vocabulary.")


# ---------------------------------------------------------------------------------------------
# import


def import_model(source: Path, name: str, *, force: bool = False) -> Installed:
    """Install a CTranslate2 Whisper from a folder or a .tar.gz/.tgz/.zip of one as `name`."""
    source = Path(source).expanduser()
    if not source.exists():
        raise KaigirokuError(f"{source} が見つかりません。USB などのモデルのフォルダか .tar.gz/.zip を指定してください。")
    target = _check_target(name, force)
    with _staging(f".import-{name}-") as staging:
        if source.is_dir():
            _copy_folder(_model_root(source), staging)
        elif tarfile.is_tarfile(source):
            _unpack_tar(source, staging)
        elif zipfile.is_zipfile(source):
            _unpack_zip(source, staging)
        else:
            raise KaigirokuError(f"{source} はモデルのフォルダでも .tar.gz/.zip でもありません。"
                                 "CTranslate2 形式の Whisper のフォルダか、それを固めたファイルを指定してください。")
        _require_whisper(staging, source)
        checked = _verify_sums(staging, source)
        manifest = _write_manifest(staging, name, "import", str(source.resolve()), "",
                                   SUMS_FILE if checked else "none")
        _publish(staging, target)
    logger.info("imported %s from %s into %s", name, source, target)
    return Installed(target, manifest, checked)


def _check_target(name: str, force: bool) -> Path:
    if not NAME_RE.match(name) or name in registry():
        raise KaigirokuError(f"モデルの名前 {name!r} は使えません。英数字と . _ - だけの名前にしてください"
                             "（内蔵モデルの名前は使えません）。")
    root = models_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise KaigirokuError(f"モデルのフォルダ {root} を作れません。KAIGIROKU_MODELS で書き込める場所を指定してください。",
                             str(e)) from e
    target = root / name
    if target.exists() and not force:
        raise KaigirokuError(f"モデル {name} は既にあります（{target}）。入れ替えるなら --force を付けてください。")
    return target


@contextmanager
def _staging(prefix: str) -> Iterator[Path]:
    """A hidden folder beside the models (same file system, so the final rename is atomic),
    removed if anything goes wrong."""
    staging = Path(tempfile.mkdtemp(dir=models_dir(), prefix=prefix))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, target: Path) -> None:
    """Make the checked folder the model in one rename; an old one (--force) goes only after."""
    staging.chmod(0o755)  # models are not private; a worker under another account may read them
    old = None
    if target.exists():
        old = target.with_name(f".replaced-{target.name}-{os.getpid()}")
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _model_root(folder: Path) -> Path:
    """The folder itself, or its one subfolder holding model.bin (a copied parent folder)."""
    if (folder / "model.bin").is_file():
        return folder
    inner = [d for d in folder.iterdir() if d.is_dir() and (d / "model.bin").is_file()]
    if len(inner) == 1:
        return inner[0]
    raise KaigirokuError(f"{folder} に model.bin がありません。CTranslate2 形式の Whisper のフォルダを指定してください。"
                         if not inner else f"{folder} に model.bin のあるフォルダが複数あります。どれか一つを指定してください。")


def _copy_folder(root: Path, staging: Path) -> None:
    # Regular files only, links followed: a Hugging Face cache snapshot is a folder of links
    # into ../../blobs, and the copy must hold the bytes themselves.
    files = [p for p in sorted(root.iterdir()) if p.is_file() and not p.name.startswith(".")
             and p.name != MANIFEST_FILE]
    _check_space(sum(p.stat().st_size for p in files), root)
    for p in files:
        shutil.copyfile(p, staging / p.name)


def _check_space(total: int, source: Path) -> None:
    if total > MAX_MODEL_BYTES:
        raise KaigirokuError(f"{source} の中身は {total / 1e9:.1f} GB あり、Whisper のモデルとしては大きすぎます。"
                             "中身を確かめてください。")
    free = shutil.disk_usage(models_dir()).free
    if total + DISK_MARGIN_BYTES > free:
        raise KaigirokuError(f"ディスクの空きが足りません（モデル {total / 1e9:.1f} GB、空き {free / 1e9:.1f} GB）。"
                             "空きを作るか、KAIGIROKU_MODELS で別のディスクを指定してください。")


def _member_parts(raw: str, archive: Path) -> tuple[str, ...]:
    """An archive member's path as parts, or a refusal: nothing absolute, nothing climbing out."""
    name = raw.replace("\\", "/")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise KaigirokuError(f"{archive} に外のフォルダを指すファイル名（{raw}）があります。安全のため取り込みません。"
                             "元のフォルダから固め直してください。", "path traversal")
    return parts


def _pick_members(entries: list[tuple[tuple[str, ...], int, Any]], archive: Path) -> list[tuple[str, int, Any]]:
    """From (parts, size, handle) of every regular file: the files of the folder holding model.bin
    (the archive's top or its one top folder), as (file name, size, handle)."""
    roots = {parts[:-1] for parts, _, _ in entries if parts and parts[-1] == "model.bin" and len(parts) <= 2}
    if len(roots) != 1:
        raise KaigirokuError(f"{archive} に model.bin がありません。CTranslate2 形式の Whisper のフォルダを固めたものを"
                             "指定してください。" if not roots else
                             f"{archive} に model.bin が複数あります。モデルを一つずつ固めてください。")
    root = roots.pop()
    picked = [(parts[-1], size, h) for parts, size, h in entries
              if len(parts) == len(root) + 1 and parts[:-1] == root and not parts[-1].startswith(".")
              and parts[-1] != MANIFEST_FILE]
    names = [n for n, _, _ in picked]
    if len(set(names)) != len(names):
        raise KaigirokuError(f"{archive} に同じ名前のファイルが重なっています。固め直してください。")
    _check_space(sum(size for _, size, _ in picked), archive)
    return picked


def _copy_capped(src: IO[bytes], dest: Path, size: int, archive: Path) -> None:
    """Copy exactly `size` bytes: an entry that inflates beyond what it declared is refused."""
    written = 0
    with open(dest, "wb") as out:
        while block := src.read(CHUNK):
            written += len(block)
            if written > size:
                raise KaigirokuError(f"{archive} の {dest.name} が宣言より大きく展開されます。壊れているか細工されています。")
            out.write(block)
    if written != size:
        raise KaigirokuError(f"{archive} の {dest.name} が途中で切れています。ファイルをコピーし直してください。")


def _unpack_tar(archive: Path, staging: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise KaigirokuError(f"{archive} のファイル数が多すぎます（{len(members)}）。モデルのフォルダだけを固めてください。")
            entries = []
            for m in members:
                parts = _member_parts(m.name, archive)
                if m.issym() or m.islnk():
                    raise KaigirokuError(f"{archive} にリンク（{m.name}）が入っています。安全のため取り込みません。"
                                         "`tar -h` などで実体のファイルを固めてください。", "link member")
                if m.isfile():
                    entries.append((parts, m.size, m))
                elif not m.isdir():
                    raise KaigirokuError(f"{archive} に普通のファイルでないもの（{m.name}）が入っています。取り込みません。")
            for fname, size, member in _pick_members(entries, archive):
                src = tar.extractfile(member)
                assert src is not None  # a regular file always has data
                with src:
                    _copy_capped(src, staging / fname, size, archive)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as e:
        raise KaigirokuError(f"{archive} を展開できません（壊れているか途中で切れています）。ファイルをコピーし直してください。",
                             f"{type(e).__name__}: {e}") from e


def _unpack_zip(archive: Path, staging: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            if len(infos) > MAX_ARCHIVE_MEMBERS:
                raise KaigirokuError(f"{archive} のファイル数が多すぎます（{len(infos)}）。モデルのフォルダだけを固めてください。")
            entries = []
            for info in infos:
                parts = _member_parts(info.filename, archive)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise KaigirokuError(f"{archive} にリンク（{info.filename}）が入っています。安全のため取り込みません。"
                                         "実体のファイルを固めてください。", "link member")
                if info.flag_bits & 0x1:
                    raise KaigirokuError(f"{archive} はパスワード付きです。パスワードなしで固め直してください。")
                if not info.is_dir():
                    entries.append((parts, info.file_size, info))
            for fname, size, info in _pick_members(entries, archive):
                with z.open(info) as src:
                    _copy_capped(src, staging / fname, size, archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise KaigirokuError(f"{archive} を展開できません（壊れているか途中で切れています）。ファイルをコピーし直してください。",
                             f"{type(e).__name__}: {e}") from e


def _require_whisper(folder: Path, source: Path | str) -> None:
    names = {p.name for p in folder.iterdir()}
    missing = [f for f in ("model.bin", "config.json") if f not in names]
    if not any(n == "tokenizer.json" or n.startswith("vocabulary.") for n in names):
        missing.append("tokenizer.json か vocabulary.*")
    if missing:
        raise KaigirokuError(f"{source} は CTranslate2 形式の Whisper ではありません（{', '.join(missing)} がありません）。"
                             "faster-whisper 用に変換されたモデルを使ってください。")


def _verify_sums(folder: Path, source: Path) -> tuple[str, ...]:
    """Check the SHA256SUMS the model came with, if any; the files it vouched for."""
    sums_path = folder / SUMS_FILE
    if not sums_path.is_file():
        logger.info("%s has no %s: its files are recorded but were not checked against anything", source,
                    SUMS_FILE)
        return ()
    sums = read_sums_file(sums_path)
    for fname, digest in sums.items():
        path = folder / fname
        if not path.is_file():
            raise KaigirokuError(f"{source} の {SUMS_FILE} にある {fname} が入っていません。登録していません。"
                                 "モデルのファイルをすべてコピーし直してください。")
        if sha256_file(path) != digest:
            raise KaigirokuError(f"{source} の {fname} が {SUMS_FILE} と一致しません（壊れているか改ざんされています）。"
                                 "登録していません。元のPCからコピーし直してください。", f"{fname}: sha256 mismatch")
    unchecked = [p.name for p in folder.iterdir() if is_whisper_file(p.name) and p.name not in sums]
    if unchecked:
        logger.info("%s does not list %s: recorded but not checked", SUMS_FILE, ", ".join(sorted(unchecked)))
    return tuple(sorted(sums))


def _write_manifest(folder: Path, name: str, source: str, origin: str, revision: str,
                    verified_by: str) -> Manifest:
    files = tuple(FileSum(p.name, p.stat().st_size, sha256_file(p))
                  for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST_FILE)
    manifest = Manifest(name, "asr", source, origin, revision, verified_by, files,
                        datetime.now(timezone.utc).isoformat(timespec="seconds"))
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), ensure_ascii=False, indent=2) + "\n",
                                        encoding="utf-8")
    for p in folder.iterdir():
        p.chmod(0o644)
    return manifest


# ---------------------------------------------------------------------------------------------
# get


def get_model(requested: str, *, allow_network: bool, revision: str | None = None, name: str | None = None,
              force: bool = False, trust_unverified: bool = False, options: DownloadOptions = DownloadOptions(),
              hook: Hook = null_hook) -> Installed:
    """Download a catalog model or a hub id of a CTranslate2 Whisper, verified, as `name`."""
    entries = catalog()
    if not allow_network:
        raise KaigirokuError(f"モデル {requested} の取得にはネットワークが要ります。--allow-network を付けて実行するか、"
                             f"インターネットにつながるPCで用意したモデルを `kaigiroku models import フォルダ --name 名前` "
                             "で取り込んでください。")
    if requested in entries:
        entry = entries[requested]
        repo, revision = entry["repo"], revision or entry["revision"]
        name = name or requested
        if revision != entry["revision"]:
            raise KaigirokuError(f"カタログのモデル {requested} は版 {entry['revision'][:12]} に固定されています。別の版は"
                                 f"`kaigiroku models get {repo} --revision {revision}` で取得してください。")
    elif _is_hub_id(requested):
        repo, revision, entry = requested, revision or "main", None
        name = name or requested.split("/")[1]
    else:
        raise KaigirokuError(f"モデル {requested} はカタログにありません（{', '.join(entries)}）。Hugging Face の"
                             " CTranslate2 形式の Whisper なら `組織/名前` の形で指定してください。")
    target = _check_target(name, force)
    client = _Hub(os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/"), options)
    if entry is not None:
        expected, verified_by = _catalog_files(requested, entry, client, trust_unverified)
    else:
        revision, expected = client.listing(repo, revision)
        verified_by = "hub"
    _check_space(sum(e.size or 0 for e in expected), Path(repo))
    staging = models_dir() / f".download-{name}"
    _prepare_staging(staging, repo, revision)
    try:
        for exp in expected:
            client.fetch(repo, revision, exp, staging, hook)
    except _ChecksumMismatch as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise KaigirokuError(f"{repo} の {e.name} がチェックサムと一致しません（壊れているか差し替えられています）。"
                             "登録していません。時間をおいてやり直すか、別のPCで確かめたモデルを `models import` で"
                             "取り込んでください。", e.detail) from None
    wanted = {e.name for e in expected}
    for p in staging.iterdir():  # the marker, and anything an older catalog asked for
        if p.name not in wanted:
            p.unlink()
    _require_whisper(staging, repo)
    manifest = _write_manifest(staging, name, "download", repo, revision, verified_by)
    _publish(staging, target)
    logger.info("downloaded %s@%s into %s", repo, revision, target)
    return Installed(target, manifest, tuple(e.name for e in expected) if verified_by != "hub" else ())


def _is_hub_id(s: str) -> bool:
    parts = s.split("/")
    return len(parts) == 2 and all(re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", p) for p in parts)


def _catalog_files(requested: str, entry: dict[str, Any], client: "_Hub",
                   trust_unverified: bool) -> tuple[list[Expected], str]:
    files = entry["files"]
    unknown = [f for f, v in files.items() if str(v.get("sha256") or "unknown") == "unknown"]
    if not unknown:
        return [Expected(f, int(v["size"]), str(v["sha256"]).lower()) for f, v in files.items()], "catalog"
    if not trust_unverified:
        raise KaigirokuError(f"カタログのモデル {requested} は {', '.join(unknown)} のチェックサムが未確認です。"
                             "Hugging Face の一覧だけを頼りに取得してよければ --trust-unverified を付けてください。")
    _, listed = client.listing(entry["repo"], entry["revision"])
    by_name = {e.name: e for e in listed}
    missing = [f for f in files if f not in by_name]
    if missing:
        raise KaigirokuError(f"{entry['repo']} の版 {entry['revision'][:12]} に {', '.join(missing)} がありません。"
                             "カタログ（models/catalog.yaml）を確かめてください。")
    return [by_name[f] if f in unknown else Expected(f, int(v["size"]), str(v["sha256"]).lower())
            for f, v in files.items()], "hub"


def _prepare_staging(staging: Path, repo: str, revision: str) -> None:
    """The download folder persists between runs so an interrupted download resumes; parts of a
    different repo or revision are thrown away first."""
    marker = staging / ".source.json"
    wanted = {"repo": repo, "revision": revision}
    if staging.exists():
        try:
            same = json.loads(marker.read_text(encoding="utf-8")) == wanted
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(staging)
    staging.mkdir(mode=0o700, exist_ok=True)
    marker.write_text(json.dumps(wanted), encoding="utf-8")


class _ChecksumMismatch(Exception):
    def __init__(self, name: str, detail: str):
        super().__init__(detail)
        self.name = name
        self.detail = detail


class _Interrupted(Exception):
    """The connection ended before the file did: try again from where it stopped."""


class _Hub:
    """The hub's plain HTTP layout: a listing under /api/models and files under /resolve."""

    def __init__(self, endpoint: str, options: DownloadOptions):
        self.endpoint = endpoint
        self.options = options

    def _open(self, url: str, headers: dict[str, str] | None = None):
        req = urllib.request.Request(url, headers={"User-Agent": f"kaigiroku/{__version__}", **(headers or {})})
        return urllib.request.urlopen(req, timeout=self.options.timeout_s)

    @staticmethod
    def _hopeless(e: BaseException) -> bool:
        """No name service: a PC without network; retrying only makes the clerk wait."""
        return isinstance(e, urllib.error.URLError) and isinstance(e.reason, socket.gaierror)

    def _network_error(self, repo: str, e: BaseException) -> KaigirokuError:
        reason = getattr(e, "reason", None) or e
        return KaigirokuError(
            f"{self.endpoint} からモデル {repo} を取得できません（{reason}）。ネットワークを確かめて同じコマンドを"
            "もう一度実行するか（取得済みの分から続けます）、インターネットにつながるPCでモデルを USB に入れ、"
            "`kaigiroku models import フォルダ --name 名前` で取り込んでください。", f"{type(e).__name__}: {e}")

    def _http_error(self, repo: str, revision: str, e: urllib.error.HTTPError) -> KaigirokuError | None:
        if e.code in (401, 403):
            return KaigirokuError(f"{repo} はログインか利用条件への同意が必要なモデルです。公開されている CTranslate2 形式の"
                                  "モデルを指定してください。", f"HTTP {e.code}")
        if e.code == 404:
            return KaigirokuError(f"{repo}（版 {revision}）が Hugging Face に見つかりません。名前と --revision を確かめて"
                                  "ください。", f"HTTP 404 {e.url}")
        return None  # 5xx, 429: worth another try

    def listing(self, repo: str, revision: str) -> tuple[str, list[Expected]]:
        """The commit `revision` points at and the Whisper files there, with the sums the hub lists."""
        url = (f"{self.endpoint}/api/models/{repo}/revision/{urllib.parse.quote(revision, safe='')}"
               "?blobs=true")
        last: BaseException | None = None
        for attempt in range(self.options.attempts):
            try:
                with self._open(url) as r:
                    info = json.loads(r.read().decode("utf-8"))
                break
            except urllib.error.HTTPError as e:
                if (err := self._http_error(repo, revision, e)) is not None:
                    raise err from e
                last = e
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
                if self._hopeless(e):
                    raise self._network_error(repo, e) from e
                last = e
            if attempt + 1 < self.options.attempts:
                time.sleep(self.options.backoff_s * (attempt + 1))
        else:
            assert last is not None
            raise self._network_error(repo, last)
        commit = str(info.get("sha") or revision)
        expected = []
        for s in info.get("siblings", []):
            fname = str(s.get("rfilename", ""))
            if not is_whisper_file(fname):
                continue
            lfs = s.get("lfs") or {}
            expected.append(Expected(fname, int(s["size"]) if s.get("size") is not None else lfs.get("size"),
                                     sha256=lfs.get("sha256"), git_sha1=None if lfs else s.get("blobId")))
        if not any(e.name == "model.bin" for e in expected) or any(e.sha256 is None and e.git_sha1 is None
                                                                   for e in expected):
            raise KaigirokuError(f"{repo} は CTranslate2 形式の Whisper ではないか、ファイルの一覧に確かめる値がありません"
                                 "（model.bin とチェックサムが必要です）。faster-whisper 用のモデルを指定してください。")
        return commit, expected

    def fetch(self, repo: str, revision: str, exp: Expected, folder: Path, hook: Hook) -> None:
        """Download one file into folder/NAME.part (resuming what is there), check it, move it in."""
        dest = folder / exp.name
        if dest.is_file() and _matches(dest, exp):
            return  # verified by an earlier run
        part = folder / f"{exp.name}.part"
        url = (f"{self.endpoint}/{repo}/resolve/{urllib.parse.quote(revision, safe='')}/"
               f"{urllib.parse.quote(exp.name)}")
        last: BaseException | None = None
        for attempt in range(self.options.attempts):
            if attempt:
                time.sleep(self.options.backoff_s * attempt)
            try:
                self._transfer(url, part, exp, hook)
                break
            except urllib.error.HTTPError as e:
                if e.code == 416:  # the .part is already complete (or longer than the file)
                    if exp.size is not None and part.stat().st_size == exp.size:
                        break
                    part.unlink()
                elif (err := self._http_error(repo, revision, e)) is not None:
                    raise err from e
                last = e
            except (_Interrupted, urllib.error.URLError, http.client.HTTPException, OSError) as e:
                if self._hopeless(e):
                    raise self._network_error(repo, e) from e
                logger.info("download of %s interrupted (%s); %d bytes kept", exp.name, e,
                            part.stat().st_size if part.exists() else 0)
                last = e
        else:
            assert last is not None
            raise self._network_error(repo, last)
        if not _matches(part, exp):
            got = part.stat().st_size
            part.unlink()
            raise _ChecksumMismatch(exp.name, f"{exp.name}: {got} bytes, expected {exp.size} / "
                                              f"{exp.sha256 or exp.git_sha1}")
        os.replace(part, dest)

    def _transfer(self, url: str, part: Path, exp: Expected, hook: Hook) -> None:
        have = part.stat().st_size if part.exists() else 0
        if exp.size is not None and have > exp.size:
            part.unlink()
            have = 0
        with self._open(url, {"Range": f"bytes={have}-"} if have else None) as r:
            if have and r.status != 206:
                have = 0  # the server sent the whole file: start over
            length = r.headers.get("Content-Length")
            expect_bytes = int(length) if length is not None else None
            total = exp.size if exp.size is not None else (have + expect_bytes if expect_bytes is not None else None)
            got = 0
            with open(part, "ab" if have else "wb") as out:
                while block := r.read(CHUNK):
                    out.write(block)
                    got += len(block)
                    if total is not None and have + got > total:
                        raise _Interrupted(f"more bytes than the {total} expected")  # restart below
                    hook(f"download:{exp.name}", total=total, completed=have + got)
        # http.client returns b"" instead of raising when a connection closes early.
        if expect_bytes is not None and got < expect_bytes:
            raise _Interrupted(f"{got} of {expect_bytes} bytes")


def _matches(path: Path, exp: Expected) -> bool:
    size = path.stat().st_size
    if exp.size is not None and size != exp.size:
        return False
    if exp.sha256 is not None:
        return sha256_file(path) == exp.sha256
    if exp.git_sha1 is not None:
        return _git_blob_sha1(path, size) == exp.git_sha1
    return False


def _git_blob_sha1(path: Path, size: int) -> str:
    """A small file's id in the hub's git (the only sum the hub lists for files outside LFS)."""
    h = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()
