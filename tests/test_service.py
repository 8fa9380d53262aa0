"""The shared service without models (issue 15): `kaigiroku server` on a private PostgreSQL and
Redis, its listening rules, /healthz (200; 503 with the database or the queue down), the worker
rows, and the per-process model cache a worker keeps. Drafts through real workers:
test_service_e2e.py (slow).
"""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from conftest import KAIGIROKU, REPO, processes_naming
from pipeline.cli_service import is_loopback, listening_problem
from pipeline.models import LoadedModels
from servers import Postgres, Redis, start_server, stop


@pytest.fixture()
def pg():
    server = Postgres()
    yield server
    server.close()


@pytest.fixture()
def redis_server():
    server = Redis()
    yield server
    server.close()


# ---------------------------------------------------------------- the model cache

def test_kept_models_load_once_per_key_and_copy_per_thread():
    pool = LoadedModels()
    loads = []

    def loader(name):
        def load():
            loads.append(name)
            return object()
        return load

    with pool.borrow(("asr", "a"), loader("a")) as first:
        pass
    with pool.borrow(("asr", "a"), loader("a")) as again:
        assert again is not first  # not kept: the CLI loads per draft
    assert loads == ["a", "a"]

    pool.keep(True)
    loads.clear()
    with pool.borrow(("asr", "a"), loader("a")) as first:
        pass
    with pool.borrow(("asr", "a"), loader("a")) as again:
        assert again is first
        # a second draft at the same time gets its own copy (pyannote is not shared between threads)
        with pool.borrow(("asr", "a"), loader("a")) as other:
            assert other is not first
    assert loads == ["a", "a"]
    with pool.borrow(("diarize", "d"), loader("d")):
        pass
    with pool.borrow(("asr", "b"), loader("b")):  # another model: the first is dropped
        pass
    with pool.borrow(("asr", "a"), loader("a")):
        pass
    with pool.borrow(("diarize", "d"), loader("d")):  # another kind is kept meanwhile
        pass
    assert loads == ["a", "a", "d", "b", "a"]


def test_borrowing_from_threads_never_shares_a_model():
    pool = LoadedModels()
    pool.keep(True)
    in_use, clashes = set(), []
    lock = threading.Lock()

    def draft():
        for _ in range(50):
            with pool.borrow(("asr", "a"), object) as m:
                with lock:
                    clashes.append(id(m) in in_use)
                    in_use.add(id(m))
                time.sleep(0.001)
                with lock:
                    in_use.discard(id(m))

    threads = [threading.Thread(target=draft) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not any(clashes) and 1 <= pool.loads[("asr", "a")] <= 4


# ---------------------------------------------------------------- listening

@pytest.mark.parametrize("host,cert,proxy,refused", [
    (None, False, False, False), ("127.0.0.1", False, False, False), ("localhost", False, False, False),
    ("::1", False, False, False), ("0.0.0.0", False, False, True), ("192.0.2.7", False, False, True),
    ("0.0.0.0", True, False, False), ("0.0.0.0", False, True, False)])
def test_beyond_loopback_needs_tls_or_a_proxy(tmp_path, host, cert, proxy, refused):
    pem = tmp_path / "x.pem"
    pem.write_text("-")
    problem = listening_problem(host, pem if cert else None, pem if cert else None, proxy)
    assert (problem is not None) == refused, problem
    assert is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")


def test_half_a_tls_pair_is_refused(tmp_path):
    pem = tmp_path / "cert.pem"
    pem.write_text("-")
    assert "--key" in listening_problem(None, pem, None, False)
    assert "ありません" in listening_problem(None, pem, tmp_path / "missing.pem", False)


def test_the_server_refuses_an_open_address_with_one_line_and_exit_2(tmp_path):
    r = subprocess.run([*KAIGIROKU, "server", "--data", str(tmp_path / "d"), "--host", "0.0.0.0", "--no-browser"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("エラー: ") and "--cert" in lines[0] and "--behind-proxy" in lines[0]
    assert not (tmp_path / "d").exists()  # refused before anything was made


def test_tls_with_cert_and_key(tmp_path, pg, redis_server):
    import shutil
    import ssl
    import urllib.request

    if shutil.which("openssl") is None:
        pytest.skip("openssl (the command) is not installed: it makes the test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
    proc, api = start_server(tmp_path, tmp_path / "data", pg.fresh(), redis_server.url(), "--host", "0.0.0.0",
                             "--cert", str(cert), "--key", str(key))
    try:
        assert api.base.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with urllib.request.urlopen(api.base + "/healthz", context=context, timeout=30) as r:
            raise AssertionError(f"healthz answered {r.status} with no worker")
    except urllib.error.HTTPError as e:
        assert e.code == 503  # over TLS; no worker yet
    finally:
        stop(proc)


# ---------------------------------------------------------------- /healthz, workers

def test_healthz_and_workers(tmp_path, pg, redis_server):
    from pipeline.jobs.db import session_factory
    from pipeline.jobs.workers import WorkerBeat, WorkerInfo

    db = pg.fresh()
    data = tmp_path / "data"
    proc, api = start_server(tmp_path, data, db, redis_server.url())
    beat = None
    try:
        def healthz():
            import json
            import urllib.request

            try:  # no credential: /healthz answers anyone
                with urllib.request.urlopen(api.base + "/healthz", timeout=30) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        status, body = healthz()
        assert status == 503 and body["database"] == "ok" and body["queue"] == "ok" and body["workers"] == 0, body
        # a worker's row (written as `kaigiroku worker` writes it): seen now
        beat = WorkerBeat(session_factory(db), WorkerInfo("hostA:4242", "cuda", "whisper-base")).start()
        status, body = healthz()
        assert status == 200 and body == {"ok": True, "database": "ok", "queue": "ok", "workers": 1, "queued": 0}
        workers = api.json("GET", "/api/workers")["workers"]
        assert [(w["name"], w["device"], w["model"], w["jobs"]) for w in workers] == [
            ("hostA:4242", "cuda", "whisper-base", [])]
        assert api.call("GET", "/api/workers", None)[0] == 200
        from servers import ServiceApi

        assert ServiceApi(api.base, "").call("GET", "/api/workers")[0] == 401  # the list is not public

        pg.stop()  # the database goes down
        status, body = healthz()
        assert status == 503 and body["database"] == "down" and body["queue"] == "ok", body
        pg.start()
        assert healthz()[0] == 200  # back without restarting the server
        redis_server.proc.terminate()
        redis_server.proc.wait(10)
        status, body = healthz()
        assert status == 503 and body["queue"] == "down" and body["database"] == "ok", body
        assert "redis" not in str(body).lower()  # nothing of the setup told to anyone who asks
    finally:
        if beat is not None:
            beat.stop()
        stop(proc)
    assert proc.returncode == 0, (tmp_path / "server.log").read_text()
    assert processes_naming(f"server --no-browser --port 0 --data {data}") == []


def test_a_stopped_worker_leaves_no_row(tmp_path, pg):
    from pipeline.jobs.db import session_factory, upgrade
    from pipeline.jobs.models import WorkerRow
    from pipeline.jobs.workers import WorkerBeat, WorkerInfo, alive

    db = pg.fresh()
    upgrade(db)
    sessions = session_factory(db)
    beat = WorkerBeat(sessions, WorkerInfo("h:1")).start()
    with sessions() as s:
        assert [w["name"] for w in alive(s)] == ["h:1"]
    beat.stop()
    with sessions() as s:
        assert s.query(WorkerRow).count() == 0
