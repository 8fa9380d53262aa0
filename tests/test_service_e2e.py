"""The shared service end to end (issue 15), with real servers started privately: PostgreSQL
(initdb/pg_ctl) and redis-server on free ports, `kaigiroku server`, and `kaigiroku worker`
processes with the embedded models (slow: run under the heavy lock).

- three meetings through the API, two workers (1 thread each), one killed with -9 during its
  job: all three done, each once, each equal to `kaigiroku draft` on the same files; the
  surviving worker loaded its models once and reused them;
- a worker in its own network namespace (a veth pair, as a second machine) reaches PostgreSQL
  and Redis over the veth address and the files through the shared data folder, mounted there
  under another name, and completes a job;
- load: 50 API clients listing meetings and saving review edits while a draft runs: p50/p95
  written to out/service_load.json, every save read back.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
import urllib.error
from pathlib import Path

import pytest
import soundfile as sf
import yaml

from conftest import KAIGIROKU, REPO, processes_naming
from servers import Postgres, Redis, ServiceApi, start_server, start_worker, stop

pytestmark = pytest.mark.slow

QUICK = "jobs:\n  heartbeat_s: 0.5\n  stale_after_s: 4\n  sweep_s: 1\n  max_attempts: 3\n"


def clip(sample_dir: Path, folder: Path, seconds: float) -> Path:
    """The sample meeting's first `seconds`."""
    samples, rate = sf.read(sample_dir / "meeting.flac", frames=int(16000 * seconds), dtype="int16")
    path = folder / f"first{seconds:g}s.flac"
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def meeting_text(sample_dir: Path, session: str) -> bytes:
    """The sample meeting.yaml as another session of the same body (another meeting, another
    draft key), without the voice clips (the server never opens a path a request names)."""
    data = yaml.safe_load((sample_dir / "meeting.yaml").read_text(encoding="utf-8"))
    data["meeting"]["session"] = session
    for p in data["participants"]:
        p.pop("voice", None)
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8")


def add_meeting(api: ServiceApi, sample_dir: Path, session: str, audio: Path) -> int:
    mid = api.json("POST", "/api/meetings", meeting_text(sample_dir, session), "application/yaml")["id"]
    api.json("PUT", f"/api/meetings/{mid}/recording?name={audio.name}", audio.read_bytes(), "audio/flac")
    return mid


def wait_jobs(api: ServiceApi, jobs: list[int], until, timeout: float = 900, every: float = 0.3) -> list[dict]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        views = [api.json("GET", f"/api/jobs/{j}") for j in jobs]
        if until(views):
            return views
        time.sleep(every)
    raise AssertionError(f"jobs did not get there in {timeout} s: {views}")


def ended(views) -> bool:
    return all(v["state"] not in ("queued", "running") for v in views)


def result_json(data: Path, mid: int) -> Path:
    found = sorted((data / "results" / str(mid)).glob("*.json"))
    assert len(found) == 1, found  # one draft written, not two
    return found[0]


def same_draft(ours: Path, theirs: Path) -> None:
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (ours, theirs))
    assert a["utterances"], ours
    for key in ("utterances", "turns", "speakers", "headings"):
        assert a[key] == b[key], key
    assert a["meeting"] == b["meeting"]


@pytest.fixture()
def services():
    pg, redis = Postgres(), Redis()
    yield pg, redis
    redis.close()
    pg.close()


def test_three_meetings_two_workers_one_killed(sample_dir, tmp_path, cli_env, services):
    pg, redis = services
    db, queue = pg.fresh(), redis.url()
    data = tmp_path / "data"
    (tmp_path / "quick.yaml").write_text(QUICK, encoding="utf-8")
    audio = clip(sample_dir, tmp_path, 40.0)
    server, api = start_server(tmp_path, data, db, queue, env=cli_env)
    workers = {}
    try:
        for name in ("w1", "w2"):
            proc = start_worker(tmp_path, data, db, queue, name, "--config", str(tmp_path / "quick.yaml"), env=cli_env)
            workers[proc.pid] = (name, proc)
        assert {w["name"].split(":")[1] for w in api.json("GET", "/api/workers")["workers"]} == {
            str(pid) for pid in workers}
        mids = [add_meeting(api, sample_dir, f"令和6年度 第{n}回", audio) for n in (1, 2, 3)]
        jobs = [api.json("POST", f"/api/meetings/{m}/draft")["job"] for m in mids]
        assert len(set(jobs)) == 3  # three meetings: three jobs (distinct keys)

        running = wait_jobs(api, jobs, lambda vs: any(v["state"] == "running" and v["progress"] > 0.2 for v in vs))
        victim = next(v for v in running if v["state"] == "running" and v["progress"] > 0.2)
        pid = int(victim["worker"].rsplit(":", 1)[1])
        # the meeting list says which worker runs it
        listed = {m["id"]: m for m in api.json("GET", "/api/meetings")["meetings"]}
        assert listed[victim["meeting"]]["job"]["worker"] == victim["worker"]
        name, proc = workers.pop(pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        views = wait_jobs(api, jobs, ended)
    finally:
        for _, proc in workers.values():
            stop(proc)
        stop(server)
    assert server.returncode == 0, (tmp_path / "server.log").read_text()[-2000:]
    (survivor, _), = workers.values()
    log = (tmp_path / f"{survivor}.log").read_text()
    assert all(v["state"] == "done" and v["progress"] == 1.0 for v in views), (views, log[-3000:])
    by_id = {v["id"]: v for v in views}
    assert by_id[victim["id"]]["attempts"] == 2 and sorted(v["attempts"] for v in views) == [1, 1, 2]
    assert "stopped answering" in log and "taken over" not in log
    # the survivor loaded Whisper once, at start, and reused it for each of its jobs
    (survivor_proc,) = [p for _, p in workers.values()]
    ran = sum(1 for v in views if v["worker"].endswith(f":{survivor_proc.pid}"))
    assert log.count("model loaded: asr") == 1 and log.count("model reused: asr") == ran >= 2, log[-3000:]

    # each meeting: one job, one result, equal to `kaigiroku draft` on the same files
    cli = tmp_path / "cli"
    cli.mkdir()
    for mid in {v["meeting"] for v in views}:
        ours = result_json(data, mid)
        recording = next((data / "recordings" / str(mid)).glob("upload-*"))
        theirs = cli / f"{mid}.docx"  # one folder: the CLI's stage cache serves the second and third
        r = subprocess.run([*KAIGIROKU, "draft", str(recording), "--meeting", str(ours.parent / "meeting.yaml"),
                            "-o", str(theirs), "--no-library", "--format", "json"], cwd=REPO, env=cli_env,
                           capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr
        same_draft(ours, theirs.with_suffix(".json"))
    assert processes_naming(f"worker --data {data}") == []


def test_a_worker_in_another_network_namespace(sample_dir, tmp_path, cli_env):
    if os.geteuid() != 0:
        pytest.skip("needs root: a network namespace and a veth pair stand for the second machine")
    if shutil.which("ip") is None:
        pytest.skip("needs `ip` (iproute2) for the network namespace")
    ns = f"kgr{os.getpid() % 100000}"
    host_if, ns_if = f"{ns}a", f"{ns}b"
    octet = 100 + os.getpid() % 100
    host_ip, ns_ip = f"10.{octet}.77.1", f"10.{octet}.77.2"
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30)
    try:
        run("ip", "netns", "add", ns)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot make a network namespace here: {e.stderr.strip()}")
    pg = redis = server = worker = None
    try:
        run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        run("ip", "link", "set", ns_if, "netns", ns)
        run("ip", "addr", "add", f"{host_ip}/24", "dev", host_if)
        run("ip", "link", "set", host_if, "up")
        run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/24", "dev", ns_if)
        run("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        # for this test only: the servers listen on the veth address too
        pg, redis = Postgres(listen=("127.0.0.1", host_ip)), Redis(bind=("127.0.0.1", host_ip))
        db = pg.fresh()
        data = tmp_path / "data"
        server, api = start_server(tmp_path, data, db, redis.url(), env=cli_env)
        # the other machine: its own network, the data folder mounted under another name
        # (`ip netns exec` gives it its own mount namespace: the bind mount is its alone)
        mount = tmp_path / "mnt" / "kaigiroku-share"
        mount.mkdir(parents=True)
        inner = f"mount --bind {data} {mount} && exec \"$@\""
        worker = start_worker(tmp_path, mount, db.replace("@127.0.0.1:", f"@{host_ip}:"), redis.url(host_ip),
                              "remote", env=cli_env,
                              prefix=["ip", "netns", "exec", ns, "sh", "-c", inner, "sh"])
        # the namespace really is another network: the loopback servers are not reachable from it
        probe = subprocess.run(["ip", "netns", "exec", ns, sys_python(), "-c",
                                f"import socket; socket.create_connection(('127.0.0.1', {pg.port}), 2)"],
                               capture_output=True, text=True, timeout=30)
        assert probe.returncode != 0
        mid = add_meeting(api, sample_dir, "令和6年度 第9回", clip(sample_dir, tmp_path, 8.0))
        job = api.json("POST", f"/api/meetings/{mid}/draft")["job"]
        view, = wait_jobs(api, [job], ended)
        assert view["state"] == "done", (view, (tmp_path / "remote.log").read_text()[-3000:])
        assert view["worker"].endswith(f":{worker.pid}")  # `ip netns exec` and sh exec: the same pid
        assert [w["name"] for w in api.json("GET", "/api/workers")["workers"]] == [view["worker"]]
        result = result_json(data, mid)
        assert json.loads(result.read_text(encoding="utf-8"))["utterances"]
        assert not (mount / "results").exists()  # the mount was the worker's alone
    finally:
        for proc in (worker, server):
            if proc is not None:
                stop(proc)
        for s in (redis, pg):
            if s is not None:
                s.close()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def sys_python() -> str:
    import sys

    return sys.executable


def test_fifty_clients_list_and_save_while_a_draft_runs(sample_dir, tmp_path, cli_env, services):
    pg, redis = services
    db, queue = pg.fresh(), redis.url()
    data = tmp_path / "data"
    server, api = start_server(tmp_path, data, db, queue, env=cli_env)
    worker = start_worker(tmp_path, data, db, queue, "worker", env=cli_env)
    try:
        short = clip(sample_dir, tmp_path, 8.0)
        drafted = [add_meeting(api, sample_dir, f"令和6年度 第{n}回", short) for n in range(1, 6)]
        jobs = [api.json("POST", f"/api/meetings/{m}/draft")["job"] for m in drafted]
        views = wait_jobs(api, jobs, ended)
        assert all(v["state"] == "done" for v in views), views
        long = add_meeting(api, sample_dir, "令和6年度 第6回", sample_dir / "meeting.flac")
        running = api.json("POST", f"/api/meetings/{long}/draft")["job"]
        wait_jobs(api, [running], lambda vs: vs[0]["state"] == "running" and vs[0]["progress"] > 0.05)

        docs = {m: api.json("GET", f"/meetings/{m}/review/api/doc") for m in drafted}
        before = api.json("GET", f"/api/jobs/{running}")
        stats = load(api, docs, clients=50, requests=20, cap_s=60)
        after = api.json("GET", f"/api/jobs/{running}")
    finally:
        stop(worker)
        stop(server)
    # the draft ran through the load (and went on moving)
    assert before["state"] == "running" and (after["state"] == "done" or after["progress"] > before["progress"])
    stats["draft_during_load"] = {"before": before["progress"], "after": after["progress"], "state": after["state"]}

    out = REPO / "out"
    out.mkdir(exist_ok=True)
    report = {k: v for k, v in stats.items() if k != "saves"}
    (out / "service_load.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print("\nload:", json.dumps(report, ensure_ascii=False))
    assert stats["failed"] == [] and stats["timed_out"] == 0, stats["failed"][:5]
    assert stats["requests"] == 50 * 20

    # no lost save: per meeting, the saves form one chain of revisions, and the file holds the
    # last text each utterance was given
    saves = stats["saves"]
    for mid in drafted:
        chain = sorted((s for s in saves if s["meeting"] == mid), key=lambda s: s["order"])
        revs = {s["base"]: s["after"] for s in chain}
        assert len(revs) == len(chain), "two saves on one revision: one was lost"
        rev, walked = docs[mid]["rev"], 0
        while rev in revs:
            rev, walked = revs[rev], walked + 1
        assert walked == len(chain)
        final = json.loads(result_json(data, mid).read_text(encoding="utf-8"))
        last = {}
        for s in chain:
            last[s["index"]] = s["text"]
        for index, text in last.items():
            assert final["utterances"][index]["text"] == text


def load(api: ServiceApi, docs: dict[int, dict], clients: int, requests: int, cap_s: float) -> dict:
    """`clients` threads × `requests` each, alternating the meeting list and a text edit of one
    utterance of one drafted meeting (the review page's save; a conflict answer is retried on the
    revision it names, as the page does). Latency of every request; every save kept."""
    lock = threading.Lock()
    latencies: list[float] = []
    failed: list[str] = []
    saves: list[dict] = []
    timed_out = [0]
    order = [0]
    done = [0]
    deadline = time.monotonic() + cap_s
    mids = sorted(docs)

    kinds: dict[str, list[float]] = {"list": [], "save_call": [], "save": []}

    def timed(method, path, body=None):
        t0 = time.perf_counter()
        status, data = api.call(method, path, body, "application/json" if body else None, timeout=cap_s)
        with lock:
            latencies.append(time.perf_counter() - t0)
            kinds["save_call" if body else "list"].append(time.perf_counter() - t0)
        return status, data

    def client(c: int) -> None:
        mid = mids[c % len(mids)]
        n = len(docs[mid]["utterances"])
        index = (c // len(mids)) % n
        rev = docs[mid]["rev"]
        for r in range(requests):
            if time.monotonic() > deadline:
                with lock:
                    timed_out[0] += 1
                return
            with lock:
                done[0] += 1
            if r % 2 == 0:
                status, _ = timed("GET", "/api/meetings")
                if status != 200:
                    with lock:
                        failed.append(f"list {status}")
                continue
            text = f"負荷試験 client{c} save{r}"
            started = time.perf_counter()
            for _ in range(200):  # conflicts: another client saved first; retry on its revision
                body = json.dumps({"op": "text", "index": index, "text": text, "rev": rev}).encode("utf-8")
                status, data = timed("POST", f"/meetings/{mid}/review/api/edit", body)
                answer = json.loads(data)
                if status == 409 and answer.get("conflict"):
                    rev = answer["rev"]
                    continue
                if status != 200:
                    with lock:
                        failed.append(f"save {status} {answer}")
                    break
                with lock:
                    kinds["save"].append(time.perf_counter() - started)
                    order[0] += 1
                    saves.append({"meeting": mid, "index": index, "text": text, "base": rev,
                                  "after": answer["rev"], "order": order[0]})
                rev = answer["rev"]
                break
            else:
                with lock:
                    failed.append("save: 200 conflicts in a row")

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(cap_s + 30)
    took = time.monotonic() - t0
    def pct(xs: list[float]) -> dict[str, float]:
        ms = sorted(x * 1000 for x in xs)
        return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1),
                "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1), "max_ms": round(ms[-1], 1)} if ms else {"n": 0}

    return {"clients": clients, "requests": done[0], "seconds": round(took, 1), "all_calls": pct(latencies),
            "list": pct(kinds["list"]), "save_call": pct(kinds["save_call"]),
            "save_with_retries": pct(kinds["save"]), "conflicts_retried": len(kinds["save_call"]) - len(saves),
            "saves_kept": len(saves), "failed": failed, "timed_out": timed_out[0], "saves": saves}


def test_one_vm_server_with_its_worker(tmp_path, cli_env, services):
    """`kaigiroku server --with-worker`: the worker comes up with the server (its models loaded,
    /healthz 200 once its row is seen) and ends with it."""
    import urllib.request

    pg, redis = services
    data = tmp_path / "data"
    server, api = start_server(tmp_path, data, pg.fresh(), redis.url(), "--with-worker", env=cli_env)
    try:
        end, status = time.monotonic() + 120, None
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(api.base + "/healthz", timeout=10) as r:
                    status = r.status
                    break
            except urllib.error.HTTPError as e:
                status = e.code
            time.sleep(0.5)
        assert status == 200, (tmp_path / "server.log").read_text()[-2000:]
        assert len(processes_naming(f"pipeline.jobs worker --data {data}")) == 1
        from pipeline.config import load_options

        assert api.json("GET", "/api/workers")["workers"][0]["model"] == load_options().transcribe.model
    finally:
        stop(server)
    assert server.returncode == 0
    assert processes_naming(f"pipeline.jobs worker --data {data}") == []
