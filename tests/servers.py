"""Private servers for the tests (issue 15): Debian's PostgreSQL and redis-server on free ports of
the addresses asked (loopback by default), in temporary folders, stopped at the end; and
`kaigiroku server` / `kaigiroku worker` processes with one API client.

Every API call of the service tests goes through `ServiceApi.headers()`: the one place that
says how a request authenticates (today the app token header; Bearer tokens with accounts).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import KAIGIROKU, REPO


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Postgres:
    """initdb + pg_ctl in a temporary folder (as the postgres account when root), trust auth
    from the listening addresses' networks only."""

    def __init__(self, listen: tuple[str, ...] = ("127.0.0.1",), port: int | None = None):
        bins = [Path(p).parent for p in [shutil.which("initdb")] if p] + sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        self.bin = next((b for b in bins if (b / "initdb").is_file() and (b / "pg_ctl").is_file()), None)
        if self.bin is None:
            pytest.fail("PostgreSQL is not installed: apt-get install -y postgresql (scripts/system-deps.sh test)")
        self.root = Path(tempfile.mkdtemp(prefix="kaigiroku-pg."))  # not under pytest's root-only folder
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root: the package's own account runs it
            shutil.chown(self.root, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.listen, self.port = listen, port or free_port(listen[0])
        self._run(self.bin / "initdb", "-D", self.root / "db", "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-locale")
        with open(self.root / "db" / "pg_hba.conf", "a") as f:
            for address in listen:
                if address != "127.0.0.1":
                    f.write(f"host all all {address}/24 trust\n")
        self.start()

    def _run(self, *cmd) -> None:
        subprocess.run([*self.as_user, *map(str, cmd)], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(self.bin / "pg_ctl", "-D", self.root / "db", "-l", self.root / "log", "-w", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses={','.join(self.listen)} -c fsync=off "
                  "-c max_connections=200", "start")

    def stop(self) -> None:
        # -m fast: the connections that pools still hold are ended by the server
        self._run(self.bin / "pg_ctl", "-D", self.root / "db", "-m", "fast", "-w", "stop")

    def url(self, host: str | None = None) -> str:
        return f"postgresql://postgres@{host or self.listen[0]}:{self.port}"

    def fresh(self, host: str | None = None) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{self.url()}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"{self.url(host)}/{name}"

    def close(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped by the test
        shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """redis-server --port N --bind ADDRESSES --save '' --dir TMP: nothing written to disk."""

    def __init__(self, bind: tuple[str, ...] = ("127.0.0.1",)):
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed: apt-get install -y redis-server (scripts/system-deps.sh test)")
        self.root = Path(tempfile.mkdtemp(prefix="kaigiroku-redis."))
        self.bind, self.port = bind, free_port(bind[0])
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", *bind, "--save", "", "--appendonly", "no",
                                      "--dir", str(self.root), "--protected-mode", "no"],
                                     stdout=open(self.root / "log", "w"), stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                with socket.create_connection((bind[0], self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.close()
        pytest.fail(f"redis-server did not start: {(self.root / 'log').read_text()[-500:]}")

    def url(self, host: str | None = None, db: int = 0) -> str:
        return f"redis://{host or self.bind[0]}:{self.port}/{db}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------- kaigiroku server / worker

class ServiceApi:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def headers(self) -> dict[str, str]:
        """How every request of these tests authenticates: an admin's API token."""
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, body: bytes | None = None, type: str | None = None,
             timeout: float = 120) -> tuple[int, bytes]:
        headers = {**self.headers(), **({"Content-Type": type} if type else {})}
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, method: str, path: str, body=None, type: str | None = None, ok=(200, 201, 202)):
        if body is not None and not isinstance(body, bytes):
            body, type = json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"
        status, data = self.call(method, path, body, type)
        assert status in ok, (method, path, status, data.decode("utf-8", "replace"))
        return json.loads(data)


def start_server(tmp_path: Path, data: Path, db: str, queue: str, *extra: str, env=None,
                 name: str = "server") -> tuple[subprocess.Popen, ServiceApi]:
    token = admin_token(db, data)
    log = open(tmp_path / f"{name}.log", "w")
    proc = subprocess.Popen([*KAIGIROKU, "server", "--no-browser", "--port", "0", "--data", str(data), "--db", db,
                             "--queue", queue, *extra], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log,
                            text=True)
    line = proc.stdout.readline()
    m = re.search(r"(https?://[\w.\[\]:]+:\d+)/login", line)
    if not m:
        stop(proc)
        raise AssertionError((line, (tmp_path / f"{name}.log").read_text()))
    return proc, ServiceApi(m.group(1), token)


def admin_token(db: str, data: Path) -> str:
    """The service's first account, made as its README says (`kaigiroku users add`): the API
    token is the last line. An admin made before (same database) gets a new token instead."""
    add = subprocess.run([*KAIGIROKU, "users", "add", "admin", "--role", "admin", "--db", db, "--data", str(data),
                          "--password-stdin"], cwd=REPO, input="correct horse 42\n", capture_output=True, text=True)
    if add.returncode != 0:
        add = subprocess.run([*KAIGIROKU, "users", "token", "admin", "--db", db, "--data", str(data)], cwd=REPO,
                             capture_output=True, text=True)
    assert add.returncode == 0, add.stderr
    return add.stdout.strip().splitlines()[-1]


def start_worker(tmp_path: Path, data: Path, db: str, queue: str, name: str, *extra: str, env=None,
                 prefix: list[str] | None = None) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")
    proc = subprocess.Popen([*(prefix or []), *KAIGIROKU, "-v", "worker", "--data", str(data), "--db", db,
                             "--queue", queue, "--threads", "1", *extra], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    if "作業を待っています" not in line:
        stop(proc)
        raise AssertionError((line, (tmp_path / f"{name}.log").read_text()[-3000:]))
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
