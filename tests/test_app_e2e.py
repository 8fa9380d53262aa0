"""`kaigiroku app` end to end through its API (issue 14, "the same quality as kaigiroku draft"):
the real command in its own process, with its worker process beside it and the embedded models.

The sample meeting goes in as the clerk's meeting.yaml, its voice clips and its recording by
upload; the draft job runs with rising progress; the Word file downloaded from the API has the
meeting's header, and the same speaker labels and utterance texts as `kaigiroku draft` on the
same files. Stopping the app leaves nothing listening and no worker running.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml
from docx import Document

from conftest import KAIGIROKU, REPO, processes_naming
from scoring import docx_headings, docx_rows

pytestmark = pytest.mark.slow


class Api:
    def __init__(self, port: int, token: str):
        self.base, self.token = f"http://127.0.0.1:{port}", token

    def call(self, method: str, path: str, body: bytes | None = None, type: str | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"X-Kaigiroku-Token": self.token, **({"Content-Type": type} if type else {})})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, method: str, path: str, body: bytes | None = None, type: str | None = None, ok=(200, 201, 202)):
        status, data = self.call(method, path, body, type)
        assert status in ok, (method, path, status, data.decode("utf-8", "replace"))
        return json.loads(data)


def test_app_drafts_like_the_cli(sample_dir, tmp_path, cli_env):
    data_dir = tmp_path / "data"
    log = open(tmp_path / "app.log", "w")
    app = subprocess.Popen([*KAIGIROKU, "app", "--no-browser", "--data", str(data_dir)], cwd=REPO, env=cli_env,
                           stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = app.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
        assert m, (line, (tmp_path / "app.log").read_text())
        port, token = int(m.group(1)), m.group(2)
        api = Api(port, token)
        for _ in range(100):
            if processes_naming(f"pipeline.jobs worker --data {data_dir.resolve()}"):
                break
            time.sleep(0.1)
        workers = processes_naming(f"pipeline.jobs worker --data {data_dir.resolve()}")
        assert len(workers) == 1, workers
        assert api.call("GET", "/api/meetings")[0] == 200
        assert urllib.request.urlopen(api.base + "/", timeout=10).status == 200  # the landing answer
        status, _ = Api(port, "").call("GET", "/api/meetings")
        assert status == 401

        text = (sample_dir / "meeting.yaml").read_text(encoding="utf-8")
        mid = api.json("POST", "/api/meetings", text.encode("utf-8"), "application/yaml")["id"]
        for p in yaml.safe_load(text)["participants"]:
            if p.get("voice"):
                name = urllib.request.quote(p["name"])
                got = api.json("PUT", f"/api/meetings/{mid}/voices/{name}?name=voice.flac",
                               (sample_dir / p["voice"]).read_bytes(), "audio/flac")
                assert got["name"] == p["name"]
        api.json("PUT", f"/api/meetings/{mid}/recording?name=meeting.flac", (sample_dir / "meeting.flac").read_bytes(),
                 "audio/flac")
        job = api.json("POST", f"/api/meetings/{mid}/draft")["job"]

        seen, deadline = [], time.monotonic() + 900
        while time.monotonic() < deadline:
            view = api.json("GET", f"/api/jobs/{job}")
            seen.append((view["state"], view["progress"], view["stage"]))
            if view["state"] not in ("queued", "running"):
                break
            time.sleep(1.0)
        assert view["state"] == "done", (view, (tmp_path / "app.log").read_text()[-3000:])
        progress = [p for s, p, _ in seen if s == "running"]
        assert progress == sorted(progress) and len({p for p in progress if 0 < p < 1}) >= 2, seen
        assert view["progress"] == 1.0 and view["attempts"] == 1
        assert api.json("GET", f"/api/meetings/{mid}")["state"] == "校正中"

        status, docx = api.call("GET", f"/api/meetings/{mid}/minutes.docx")
        assert status == 200 and docx[:2] == b"PK"
        ours = tmp_path / "app.docx"
        ours.write_bytes(docx)
        status, public = api.call("GET", f"/api/meetings/{mid}/minutes.docx?public=1")
        assert status == 200
        (tmp_path / "public.docx").write_bytes(public)
        status, page = api.call("GET", f"/meetings/{mid}/review/")
        assert status == 200 and b"review.js" in page
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGINT)
        try:
            rc = app.wait(60)
        except subprocess.TimeoutExpired:
            app.kill()
            raise
        log.close()
    assert rc == 0, (tmp_path / "app.log").read_text()
    # nothing left: no worker, nothing listening on the app's port
    assert processes_naming(f"pipeline.jobs worker --data {data_dir.resolve()}") == []
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0

    # the CLI on the same files (no committee library: the app's data folder has none)
    cli = tmp_path / "cli" / "meeting.docx"
    cli.parent.mkdir()
    r = subprocess.run([*KAIGIROKU, "draft", sample_dir / "meeting.flac", "--meeting", sample_dir / "meeting.yaml",
                        "-o", cli, "--no-library"], capture_output=True, text=True, timeout=900, env=cli_env)
    assert r.returncode == 0, r.stderr

    meeting = yaml.safe_load(text)["meeting"]
    header = {row.cells[0].text: row.cells[1].text for row in Document(str(ours)).tables[0].rows}
    assert header["附属機関名"] == meeting["body"] and header["回次"] == meeting["session"]
    assert header["次第及び進行"].split("\n") == meeting["agenda"]
    ours_rows, cli_rows = docx_rows(ours), docx_rows(cli)
    assert len(ours_rows) >= 5
    assert [label for label, _ in ours_rows] == [label for label, _ in cli_rows]
    assert [t for _, t in ours_rows] == [t for _, t in cli_rows]
    assert docx_headings(ours) == docx_headings(cli)
    # the 公開用 variant: the same people and words, without review marks
    assert [label for label, _ in docx_rows(tmp_path / "public.docx")] == [label for label, _ in cli_rows]
    assert os.path.getsize(tmp_path / "public.docx") > 0
