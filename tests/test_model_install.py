"""`kaigiroku models import/get` (issue #13): real model files (the embedded Whisper base, copied),
real archives, a real HTTP server on 127.0.0.1 laid out like the hub."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import KAIGIROKU
from pipeline import model_install, models
from pipeline.errors import KaigirokuError
from pipeline.model_install import DownloadOptions, get_model, import_model

FAST = DownloadOptions(attempts=3, backoff_s=0.0, timeout_s=10.0)


@pytest.fixture(scope="session")
def base_dir() -> Path:
    """The embedded Whisper base as faster-whisper reads it (resolved before any test moves
    KAIGIROKU_MODELS)."""
    return Path(models.resolve("whisper-base", "asr").path)


@pytest.fixture(scope="session")
def base_files(base_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(base_dir.iterdir()) if p.is_file()}


@pytest.fixture()
def models_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "models"
    monkeypatch.setenv("KAIGIROKU_MODELS", str(home))
    return home


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sums_text(files: dict[str, bytes]) -> str:
    return "".join(f"{sha(b)}  {n}\n" for n, b in files.items())


def write_folder(folder: Path, files: dict[str, bytes], sums: bool = True) -> Path:
    folder.mkdir(parents=True)
    for n, b in files.items():
        (folder / n).write_bytes(b)
    if sums:
        (folder / "SHA256SUMS").write_text(sums_text(files))
    return folder


def flipped(data: bytes, at: int = 4096) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def make_tar(path: Path, members: dict[str, bytes], level: int = 0) -> Path:
    """A .tar.gz; gzip level 0 (stored blocks) keeps the refusal tests fast, it is still gzip."""
    with tarfile.open(path, "w:gz", compresslevel=level) as tar:
        for n, b in members.items():
            info = tarfile.TarInfo(n)
            info.size = len(b)
            tar.addfile(info, io.BytesIO(b))
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for n, b in members.items():
            z.writestr(n, b)
    return path


def nothing_registered(home: Path, name: str) -> None:
    assert not (home / name).exists()
    assert name not in {s.name for s in models.status()}
    leftovers = [p.name for p in home.iterdir() if p.name.startswith((".import-", ".replaced-"))] if home.exists() else []
    assert leftovers == []


def assert_installed(home: Path, name: str, files: dict[str, bytes]) -> models.ResolvedModel:
    resolved = models.resolve(name, "asr")
    assert resolved.source == "installed" and Path(resolved.path) == home / name
    for n, b in files.items():
        assert sha((home / name / n).read_bytes()) == sha(b)
    state = {s.name: s for s in models.status()}[name]
    assert state.state == "ok" and state.kind == "asr"
    return resolved


# --- import -----------------------------------------------------------------------------------


def test_import_a_folder_lists_and_resolves_it(tmp_path, models_home, base_files):
    src = write_folder(tmp_path / "usb" / "turbo", base_files)
    installed = import_model(src, "base-copy")
    assert installed.manifest.verified_by == "SHA256SUMS"
    assert set(installed.checked) == set(base_files)
    resolved = assert_installed(models_home, "base-copy", base_files)
    assert len(resolved.sha256) == 64
    manifest = json.loads((models_home / "base-copy" / models.MANIFEST_FILE).read_text())
    assert manifest["source"] == "import" and manifest["origin"] == str(src)
    assert {n: f["sha256"] for n, f in manifest["files"].items() if n in base_files} == \
        {n: sha(b) for n, b in base_files.items()}
    # --model NAME through the options the draft uses
    from pipeline.config import load_options

    options = load_options(None, {"transcribe": {"model": "base-copy"}})
    assert models.resolve(options.transcribe.model, "asr").path == str(models_home / "base-copy")


def test_import_a_parent_folder_and_one_without_sums(tmp_path, models_home, base_files):
    src = write_folder(tmp_path / "usb" / "stick" / "model", base_files, sums=False)
    installed = import_model(src.parent, "nosums")
    assert installed.manifest.verified_by == "none" and installed.checked == ()
    assert_installed(models_home, "nosums", base_files)


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_import_an_archive(tmp_path, models_home, base_files, kind):
    files = {**base_files, "SHA256SUMS": sums_text(base_files).encode()}
    if kind == "tar.gz":  # one top folder, as `tar czf m.tar.gz faster-whisper-x/` makes it
        archive = make_tar(tmp_path / "m.tar.gz", {f"faster-whisper-x/{n}": b for n, b in files.items()}, level=1)
    else:  # files at the top, as a zip made inside the folder
        archive = make_zip(tmp_path / "m.zip", files)
    installed = import_model(archive, f"from-{kind.replace('.', '')}")
    assert installed.manifest.verified_by == "SHA256SUMS"
    assert_installed(models_home, installed.manifest.name, base_files)


def test_a_tampered_archive_is_refused_and_nothing_is_registered(tmp_path, models_home, base_files, cli_env):
    """The issue's "done when": one changed byte in model.bin against the archive's SHA256SUMS."""
    sums = sums_text(base_files).encode()
    tampered = {**base_files, "model.bin": flipped(base_files["model.bin"]), "SHA256SUMS": sums}
    archive = make_tar(tmp_path / "turbo.tar.gz", {f"turbo/{n}": b for n, b in tampered.items()})
    env = {**cli_env, "KAIGIROKU_MODELS": str(models_home)}
    r = subprocess.run([*KAIGIROKU, "models", "import", str(archive), "--name", "turbo"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("エラー: ") and "model.bin" in lines[0] and "一致しません" in lines[0]
    nothing_registered(models_home, "turbo")
    with pytest.raises(KaigirokuError, match="登録していません"):
        import_model(archive, "turbo")
    nothing_registered(models_home, "turbo")


@pytest.mark.parametrize("evil", ["../evil.txt", "/tmp/kaigiroku-evil.txt", "model/../../evil.txt"])
def test_an_archive_climbing_out_is_refused(tmp_path, models_home, base_files, evil):
    members = {f"m/{n}": b for n, b in base_files.items()}
    members[evil] = b"outside"
    for archive in (make_tar(tmp_path / "evil.tar.gz", members), make_zip(tmp_path / "evil.zip", members)):
        with pytest.raises(KaigirokuError, match="外のフォルダ"):
            import_model(archive, "evil")
        nothing_registered(models_home, "evil")
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/kaigiroku-evil.txt").exists()


def test_links_in_an_archive_are_refused(tmp_path, models_home, base_files):
    path = tmp_path / "links.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=0) as tar:
        for n, b in base_files.items():
            info = tarfile.TarInfo(f"m/{n}")
            info.size = len(b)
            tar.addfile(info, io.BytesIO(b))
        link = tarfile.TarInfo("m/SHA256SUMS")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(KaigirokuError, match="リンク"):
        import_model(path, "links")
    nothing_registered(models_home, "links")


def test_an_archive_that_inflates_past_its_headers_is_refused(tmp_path, models_home, base_files):
    path = make_zip(tmp_path / "m.zip", base_files)
    data = bytearray(path.read_bytes())
    # Shrink config.json's declared size in the central directory: the real data is longer.
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("config.json")
    # Both headers' uncompressed size, 10 bytes short (offsets from the zip specification).
    local = info.header_offset
    real = info.file_size
    data[local + 22: local + 26] = (real - 10).to_bytes(4, "little")
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) != -1:
        name_len = int.from_bytes(data[pos + 28: pos + 30], "little")
        if bytes(data[pos + 46: pos + 46 + name_len]) == b"config.json":
            data[pos + 24: pos + 28] = (real - 10).to_bytes(4, "little")
        pos += 4
    path.write_bytes(bytes(data))
    with pytest.raises(KaigirokuError, match="config.json|展開できません"):
        import_model(path, "bomb")
    nothing_registered(models_home, "bomb")


def test_not_a_whisper_and_bad_names_are_refused(tmp_path, models_home, base_files):
    no_tok = {n: b for n, b in base_files.items() if n not in ("tokenizer.json", "vocabulary.json")}
    with pytest.raises(KaigirokuError, match="tokenizer.json"):
        import_model(write_folder(tmp_path / "a", no_tok), "a")
    with pytest.raises(KaigirokuError, match="model.bin"):
        import_model(write_folder(tmp_path / "b", {"config.json": base_files["config.json"]}), "b")
    (tmp_path / "c.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(KaigirokuError, match="tar.gz/.zip"):
        import_model(tmp_path / "c.tar.gz", "c")
    src = write_folder(tmp_path / "d", base_files)
    for bad in ("whisper-base", "../x", "a/b", ".hidden", ""):
        with pytest.raises(KaigirokuError, match="名前"):
            import_model(src, bad)
    assert not models_home.exists() or [p.name for p in models_home.iterdir()] == []


def test_an_existing_name_needs_force_and_force_changes_the_cache_identity(tmp_path, models_home, base_files):
    first = write_folder(tmp_path / "one", base_files)
    import_model(first, "m")
    with pytest.raises(KaigirokuError, match="--force"):
        import_model(first, "m")
    before = models.resolve("m", "asr")
    second = write_folder(tmp_path / "two", {**base_files, "README.md": b"another conversion\n"})
    import_model(second, "m", force=True)
    after = models.resolve("m", "asr")
    assert after.path == before.path and after.sha256 != before.sha256
    assert (models_home / "m" / "README.md").is_file()
    nothing_registered(models_home, "absent")


def test_a_damaged_installed_model_is_reported_and_not_used(tmp_path, models_home, base_files):
    import_model(write_folder(tmp_path / "src", base_files), "m")
    bin_path = models_home / "m" / "model.bin"
    bin_path.write_bytes(flipped(bin_path.read_bytes()))
    assert {s.name: s.state for s in models.status()}["m"] == "checksum failed"
    with pytest.raises(KaigirokuError, match="model.bin"):
        models.resolve("m", "asr")


def test_catalog_names_say_how_to_get_them(models_home):
    for name in models.catalog():
        with pytest.raises(KaigirokuError, match=f"models get {name}"):
            models.resolve(name, "asr")


def test_the_catalog_pins_every_file():
    for name, entry in models.catalog().items():
        assert entry["kind"] == "asr" and len(entry["revision"]) == 40
        files = entry["files"]
        assert {"model.bin", "config.json", "preprocessor_config.json", "tokenizer.json"} <= set(files)
        assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in files.values()), name


def test_the_models_command_keeps_prepare_and_lists_imports(tmp_path, models_home, base_files, cli_env):
    env = {**cli_env, "KAIGIROKU_MODELS": str(models_home)}
    src = write_folder(tmp_path / "src", base_files)
    r = subprocess.run([*KAIGIROKU, "models", "import", str(src), "--name", "mine"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "--model mine" in r.stdout
    r = subprocess.run([*KAIGIROKU, "models", "--prepare"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line and not line.startswith("取得")}
    assert rows["mine"][1:4] == ["asr", "import", "ok"]
    assert all(rows[n][3] == "ok" for n in models.registry())


# --- get (a local server laid out like the hub) ---------------------------------------------------


class Hub:
    """One repo at one commit: GET /api/models/REPO/revision/REV and /REPO/resolve/REV/FILE; LFS
    files redirect to /cdn/SHA256 like the real hub's, which serves byte ranges."""

    def __init__(self, repo: str, files: dict[str, bytes], lfs=("model.bin",)):
        self.repo, self.files, self.lfs = repo, files, set(lfs)
        self.commit = hashlib.sha1(repo.encode()).hexdigest()
        self.served: dict[str, bytes] = dict(files)  # what actually goes out (tamper here)
        self.drop_once: set[str] = set()  # next transfer of these stops halfway
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.transfers: list[tuple[str, str | None]] = []  # (file, Range header) of each file sent
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hub.requests.append((self.path, self.headers.get("Range")))
                hub.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def listing(self) -> dict:
        siblings = [{"rfilename": ".gitattributes", "size": 10, "blobId": "0" * 40},
                    {"rfilename": "README.md", "size": 10, "blobId": "0" * 40}]
        for n, b in self.files.items():
            s = {"rfilename": n, "size": len(b),
                 "blobId": hashlib.sha1(f"blob {len(b)}\0".encode() + b).hexdigest()}
            if n in self.lfs:
                s["lfs"] = {"sha256": sha(b), "size": len(b), "pointerSize": 134}
            siblings.append(s)
        return {"id": self.repo, "sha": self.commit, "siblings": siblings}

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        if path in (f"/api/models/{self.repo}/revision/main", f"/api/models/{self.repo}/revision/{self.commit}"):
            body = json.dumps(self.listing()).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        prefix = f"/{self.repo}/resolve/{self.commit}/"
        if path.startswith(prefix) and path[len(prefix):] in self.served:
            name = path[len(prefix):]
            if name in self.lfs:
                h.send_response(302)
                h.send_header("Location", f"/cdn/{sha(self.files[name])}?name={name}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            return self.send_file(h, name)
        if path.startswith("/cdn/"):
            return self.send_file(h, h.path.split("name=")[1])
        h.send_response(404)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def send_file(self, h: BaseHTTPRequestHandler, name: str) -> None:
        data = self.served[name]
        start = 0
        rng = h.headers.get("Range")
        self.transfers.append((name, rng))
        if rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        body = data[start:]
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if name in self.drop_once:
            self.drop_once.discard(name)
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(body)

    def ranges(self, name: str) -> list[str | None]:
        """The Range header of every transfer of `name` (None: the whole file)."""
        return [r for n, r in self.transfers if n == name]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def hub(base_files, monkeypatch):
    h = Hub("test-org/whisper-base-ct2", base_files)
    monkeypatch.setenv("HF_ENDPOINT", h.endpoint)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    yield h
    h.close()


@pytest.fixture()
def pinned_catalog(tmp_path, monkeypatch, hub, base_files):
    """A catalog entry pinned to the test hub's commit, with sums computed from the real files."""
    path = tmp_path / "catalog.yaml"
    files = "".join(f"    {n}: {{size: {len(b)}, sha256: {sha(b)}}}\n" for n, b in base_files.items())
    path.write_text(f"base-pinned:\n  kind: asr\n  repo: {hub.repo}\n  revision: {hub.commit}\n  files:\n{files}")
    monkeypatch.setattr(models, "CATALOG", path)
    return path


def test_get_a_hub_id(models_home, hub, base_files):
    installed = get_model(hub.repo, allow_network=True, options=FAST)
    assert installed.manifest.revision == hub.commit and installed.manifest.verified_by == "hub"
    assert installed.manifest.origin == hub.repo and installed.path == models_home / "whisper-base-ct2"
    assert_installed(models_home, "whisper-base-ct2", base_files)
    fetched = {p.rsplit("/", 1)[-1].split("?")[0] for p, _ in hub.requests if "/resolve/" in p}
    assert fetched == set(base_files)  # README.md, .gitattributes not downloaded
    assert [p.name for p in models_home.iterdir() if p.name.startswith(".")] == []


def test_get_a_catalog_model_checks_the_pinned_sums(models_home, hub, pinned_catalog, base_files):
    installed = get_model("base-pinned", allow_network=True, options=FAST)
    assert installed.manifest.verified_by == "catalog" and installed.manifest.revision == hub.commit
    assert not any(p.startswith("/api/") for p, _ in hub.requests)  # the catalog is the listing
    assert_installed(models_home, "base-pinned", base_files)


def test_an_interrupted_download_resumes_with_a_range_request(models_home, hub, base_files):
    hub.drop_once = {"model.bin"}
    get_model(hub.repo, name="resumed", allow_network=True, options=FAST)
    half = len(base_files["model.bin"]) // 2
    assert hub.ranges("model.bin") == [None, f"bytes={half}-"]
    assert_installed(models_home, "resumed", base_files)


def test_a_failed_download_is_not_listed_and_the_next_run_resumes(models_home, hub, base_files):
    hub.drop_once = {"model.bin"}
    with pytest.raises(KaigirokuError, match="models import"):
        get_model(hub.repo, name="later", allow_network=True, options=DownloadOptions(attempts=1, backoff_s=0))
    nothing_registered(models_home, "later")
    kept = (models_home / ".download-later" / "model.bin.part").stat().st_size
    assert 0 < kept < len(base_files["model.bin"])
    get_model(hub.repo, name="later", allow_network=True, options=FAST)
    assert hub.ranges("model.bin") == [None, f"bytes={kept}-"]
    assert_installed(models_home, "later", base_files)


@pytest.mark.parametrize("via", ["hub listing", "pinned catalog"])
def test_a_checksum_mismatch_is_refused_and_nothing_registered(models_home, hub, pinned_catalog, base_files, via):
    hub.served["model.bin"] = flipped(base_files["model.bin"])
    requested = hub.repo if via == "hub listing" else "base-pinned"
    with pytest.raises(KaigirokuError, match="model.bin.*一致しません.*登録していません"):
        get_model(requested, name="bad", allow_network=True, options=FAST)
    nothing_registered(models_home, "bad")
    assert not (models_home / ".download-bad").exists()


def test_get_without_allow_network_is_refused(models_home, hub, cli_env):
    with pytest.raises(KaigirokuError, match="--allow-network"):
        get_model(hub.repo, allow_network=False, options=FAST)
    env = {**cli_env, "KAIGIROKU_MODELS": str(models_home), "HF_ENDPOINT": hub.endpoint}
    env.pop("KAIGIROKU_ALLOW_NETWORK", None)
    r = subprocess.run([*KAIGIROKU, "models", "get", "large-v3-turbo"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 1 and "--allow-network" in r.stderr and "models import" in r.stderr
    assert hub.requests == []


def test_get_through_the_cli(models_home, hub, cli_env, base_files):
    env = {**cli_env, "KAIGIROKU_MODELS": str(models_home), "HF_ENDPOINT": hub.endpoint, "NO_PROXY": "127.0.0.1"}
    r = subprocess.run([*KAIGIROKU, "models", "get", hub.repo, "--allow-network", "--name", "cli-get"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "--model cli-get" in r.stdout
    assert_installed(models_home, "cli-get", base_files)


def test_unknown_names_unreachable_hubs_and_unpinned_entries(tmp_path, models_home, hub, monkeypatch, base_files):
    with pytest.raises(KaigirokuError, match="カタログにありません"):
        get_model("no-such-model", allow_network=True, options=FAST)
    with pytest.raises(KaigirokuError, match="見つかりません"):
        get_model("test-org/other", allow_network=True, options=FAST)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(KaigirokuError, match="取得できません.*models import"):
        get_model(hub.repo, allow_network=True, options=DownloadOptions(attempts=1, backoff_s=0))
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    catalog = tmp_path / "unpinned.yaml"
    files = "".join(f"    {n}: {{size: {len(b)}, sha256: {'unknown' if n == 'model.bin' else sha(b)}}}\n"
                    for n, b in base_files.items())
    catalog.write_text(f"half:\n  kind: asr\n  repo: {hub.repo}\n  revision: {hub.commit}\n  files:\n{files}")
    monkeypatch.setattr(models, "CATALOG", catalog)
    with pytest.raises(KaigirokuError, match="--trust-unverified"):
        get_model("half", allow_network=True, options=FAST)
    nothing_registered(models_home, "half")
    installed = get_model("half", allow_network=True, trust_unverified=True, options=FAST)
    assert installed.manifest.verified_by == "hub"
    assert_installed(models_home, "half", base_files)


# --- the real draft with an imported model (slow; the lead runs it) -------------------------------


@pytest.mark.slow
def test_draft_with_an_imported_model(tmp_path, sample_dir, base_dir, cli_env):
    import soundfile as sf

    home = tmp_path / "models"
    env = {**cli_env, "KAIGIROKU_MODELS": str(home)}
    archive = make_tar(tmp_path / "copy.tar.gz", {f"copy/{p.name}": p.read_bytes() for p in base_dir.iterdir()})
    r = subprocess.run([*KAIGIROKU, "models", "import", str(archive), "--name", "base-usb"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    audio, rate = sf.read(sample_dir / "meeting.flac")
    clip = tmp_path / "clip.flac"
    sf.write(clip, audio[: int(12 * rate)], rate)
    config = tmp_path / "fast.yaml"
    config.write_text("diarize: {enabled: false}\n", encoding="utf-8")
    out = tmp_path / "clip.docx"
    r = subprocess.run([*KAIGIROKU, "draft", str(clip), "--model", "base-usb", "--config", str(config),
                        "-o", str(out)], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["models"][0]["name"] == "base-usb" and data["models"][0]["source"] == "installed"
    assert data["models"][0]["path"] == str(home / "base-usb")
    assert sum(len(w["text"]) for u in data["utterances"] for w in u["words"]) > 10
