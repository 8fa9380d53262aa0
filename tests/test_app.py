"""`kaigiroku app`'s HTTP API (issue 14), through Starlette's TestClient on a real data folder
(SQLite database upgraded by the migrations, Huey's SQLite queue; no worker: jobs stay queued).

Asserted: the token scheme on every path, meetings posted as YAML and JSON with the CLI's
validation lines, the export round trip, uploads (recording decodable, voice clips checked as
enrollment clips), a queued job's view and cancel, minutes before a draft.
"""

from __future__ import annotations

import io
import stat
import time

import numpy as np
import pytest
import soundfile as sf
import yaml

from conftest import REPO, processes_naming

SAMPLE = REPO / "tests" / "data" / "sample"
MEETING_YAML = (SAMPLE / "meeting.yaml").read_text(encoding="utf-8")
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture()
def app(tmp_path):
    from starlette.testclient import TestClient

    from pipeline.web.app import create_app, prepare_app

    server, sock = prepare_app(tmp_path / "data")
    sock.close()  # TestClient calls the app directly; the port only names the allowed Host
    base = f"http://127.0.0.1:{server.port}"
    with TestClient(create_app(server), base_url=base) as anonymous, \
            TestClient(create_app(server), base_url=base, headers={"X-Kaigiroku-Token": server.token}) as client:
        yield client, anonymous, server


def flac(samples: np.ndarray, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def opening(seconds: float) -> bytes:
    samples, rate = sf.read(SAMPLE / "meeting.flac", frames=int(16000 * seconds), dtype="int16")
    return flac(samples, rate)


def post_sample(client) -> int:
    r = client.post("/api/meetings", content=MEETING_YAML.encode("utf-8"), headers=YAML)
    assert r.status_code == 201, r.text
    return r.json()["id"]


API_PATHS = [("GET", "/api/meetings"), ("POST", "/api/meetings"), ("GET", "/api/meetings/1"),
             ("GET", "/api/meetings/1/meeting.yaml"), ("PUT", "/api/meetings/1/voices/山本 健一"),
             ("PUT", "/api/meetings/1/recording"), ("POST", "/api/meetings/1/draft"), ("GET", "/api/jobs/1"),
             ("DELETE", "/api/jobs/1"), ("GET", "/api/meetings/1/minutes.docx"),
             ("GET", "/api/meetings/1/minutes.docx?public=1")]


def test_token_needed_everywhere_but_the_landing_answer(app):
    client, anonymous, server = app
    post_sample(client)  # meeting 1 exists: a refusal is the gate's, not a 404
    for method, path in API_PATHS + [("GET", "/static/app.js"), ("GET", "/meetings/1/review/"),
                                     ("GET", "/meetings/1/review/api/doc")]:
        r = anonymous.request(method, path, content=b"x")
        assert r.status_code == 401, (method, path, r.status_code)
        if path.startswith("/api/"):
            assert "token=" in r.json()["error"]
        wrong = anonymous.request(method, path, content=b"x", headers={"X-Kaigiroku-Token": "x" * 43})
        assert wrong.status_code == 403, (method, path)
        cookie = anonymous.request(method, path, content=b"x", headers={"Cookie": f"kaigiroku_{server.port}=nope"})
        assert cookie.status_code == 403, (method, path)
    # the landing answer: a page that says which address to open, and no data
    landing = anonymous.get("/")
    assert landing.status_code == 200 and "token=" in landing.text and "緑川町" not in landing.text
    # another Host (DNS rebinding) is refused even with the token
    assert client.get("/api/meetings", headers={"Host": f"evil.example:{server.port}"}).status_code == 403
    # token in the address → cookie, address cleaned; the cookie then opens the API
    entered = anonymous.get(f"/?token={server.token}", follow_redirects=False)
    assert entered.status_code == 303 and entered.headers["location"] == "/"
    assert "httponly" in entered.headers["set-cookie"].lower()
    assert anonymous.get("/api/meetings").status_code == 200
    page = anonymous.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text


def test_one_time_code_opens_once(app):
    _, anonymous, server = app
    first = anonymous.get(f"/?code={server.launch.value}", follow_redirects=False)
    assert first.status_code == 303
    anonymous.cookies.clear()
    again = anonymous.get(f"/?code={server.launch.value}", follow_redirects=False)
    assert again.status_code == 403 and "使用済み" in again.text


def test_data_folder_private_and_migrated(app):
    from pipeline.jobs.db import current_revision, head_revision

    _, _, server = app
    data = server.context.data
    assert stat.S_IMODE(data.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(data.db_path.stat().st_mode) == 0o600
    assert current_revision(data.db_url) == head_revision()


def test_meeting_yaml_json_list_and_export_round_trip(app):
    client, _, _ = app
    mid = post_sample(client)
    got = client.get(f"/api/meetings/{mid}").json()
    assert got["body"] == "緑川町公民館運営審議会" and got["session"] == "令和6年度 第2回"
    assert got["state"] == "準備中" and got["held_on"] == "2024-10-15"
    assert [p["name"] for p in got["participants"]] == ["山本 健一", "小林 明子", "石井 真理", "田村 浩", "佐藤 由美"]
    # voice: paths of a posted file are not opened: nobody has a voice yet
    assert not any(p["voice"] for p in got["participants"])
    assert got["agenda"][1] == "14:05 案件1 公民館講座の実施状況について" and got["absent"] == ["森 優子"]

    # the export, posted back as JSON, is the same meeting
    exported = client.get(f"/api/meetings/{mid}/meeting.yaml")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/yaml")
    data = yaml.safe_load(exported.text)
    assert data["meeting"]["body"] == "緑川町公民館運営審議会"
    again = client.post("/api/meetings", json=data)
    assert again.status_code == 201
    copy = client.get(f"/api/meetings/{again.json()['id']}").json()
    for key in ("body", "session", "date", "place", "agenda", "participants", "absent", "vocabulary", "member_labels"):
        assert copy[key] == got[key], key
    assert yaml.safe_load(client.get(f"/api/meetings/{again.json()['id']}/meeting.yaml").text) == data

    # list and search: by body text, by date in either calendar
    listed = client.get("/api/meetings").json()["meetings"]
    assert {m["id"] for m in listed} == {mid, again.json()["id"]}
    other = client.post("/api/meetings", json={"meeting": {"body": "緑川町都市計画審議会", "date": "2025-02-03"}}).json()["id"]
    assert [m["id"] for m in client.get("/api/meetings", params={"q": "都市計画"}).json()["meetings"]] == [other]
    assert {m["id"] for m in client.get("/api/meetings", params={"q": "令和6年10月15日"}).json()["meetings"]} == \
        {mid, again.json()["id"]}
    assert [m["id"] for m in client.get("/api/meetings", params={"date": "2025-02-03"}).json()["meetings"]] == [other]
    assert client.get("/api/meetings", params={"date": "いつか"}).status_code == 422


def test_meeting_validation_is_the_clis(app):
    from pipeline.errors import KaigirokuError
    from pipeline.meeting import parse_meeting

    client, _, _ = app
    bad = MEETING_YAML.replace("role: 説明者", "role: 書記")
    with pytest.raises(KaigirokuError) as cli:
        parse_meeting(bad, "会議ファイル")
    r = client.post("/api/meetings", content=bad.encode("utf-8"), headers=YAML)
    assert r.status_code == 422 and r.json()["error"] == cli.value.message and "書記" in r.json()["error"]
    r = client.post("/api/meetings", json={"meeting": {"body": "x"}, "participants": [{"role": "委員"}]})
    assert r.status_code == 422 and "name がありません" in r.json()["error"]
    r = client.post("/api/meetings", content=b"meeting: [unclosed", headers=YAML)
    assert r.status_code == 422 and "書式に誤り" in r.json()["error"]
    r = client.post("/api/meetings", content=b"a=b", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and "application/yaml" in r.json()["error"]
    r = client.post("/api/meetings", content=b"x" * (2 << 20), headers=YAML)
    assert r.status_code == 413
    assert client.get("/api/meetings").json()["meetings"] == []  # nothing stored by any of these


def test_recording_upload(app):
    client, _, server = app
    mid = post_sample(client)
    r = client.put(f"/api/meetings/{mid}/recording?name=ic.flac", content=opening(8.0))
    assert r.status_code == 201, r.text
    assert r.json()["duration"] == pytest.approx(8.0, abs=0.01)
    got = client.get(f"/api/meetings/{mid}").json()
    assert got["state"] == "原稿作成待ち" and got["recordings"] == 1
    folder = server.context.data.root / "recordings" / str(mid)
    kept = [p for p in folder.iterdir()]
    assert [p.name for p in kept] == ["upload-1.flac"] and stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    # not audio: refused, nothing left behind
    r = client.put(f"/api/meetings/{mid}/recording", content=b"not audio at all" * 100,
                   headers={"Content-Type": "audio/wav"})
    assert r.status_code == 422 and "音声として読めません" in r.json()["error"]
    assert sorted(p.name for p in folder.iterdir()) == ["upload-1.flac"]
    assert client.put("/api/meetings/999/recording", content=opening(1.0)).status_code == 404


def test_voice_upload_checked_like_enrollment(app):
    client, _, server = app
    mid = post_sample(client)
    silence = flac(np.zeros(16000 * 10, dtype=np.int16))
    r = client.put(f"/api/meetings/{mid}/voices/石井 真理", content=silence, headers={"Content-Type": "audio/flac"})
    assert r.status_code == 422 and "無音" in r.json()["error"]
    assert r.json()["error"].startswith("参加者 石井 真理 の声の録音: 送られたファイルは無音です")
    assert str(server.context.data.root) not in r.json()["error"]  # no server path in the answer
    assert not client.get(f"/api/meetings/{mid}").json()["participants"][2]["voice"]
    r = client.put(f"/api/meetings/{mid}/voices/知らない人", content=(SAMPLE / "voices" / "ishii.flac").read_bytes())
    assert r.status_code == 404
    # a real clip, with consent: kept for this meeting and with the person in the body's roster
    r = client.put(f"/api/meetings/{mid}/voices/石井 真理?consent=1&name=ishii.flac",
                   content=(SAMPLE / "voices" / "ishii.flac").read_bytes())
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "石井 真理", "kept": "roster"}
    assert client.get(f"/api/meetings/{mid}").json()["participants"][2]["voice"]
    from pipeline.jobs.db import session_factory
    from pipeline.jobs.models import Body

    with session_factory(server.context.db_url)() as s:
        from sqlalchemy import select

        body = s.scalar(select(Body).where(Body.name == "緑川町公民館運営審議会"))
        member = next(m for m in body.members if m.name == "石井 真理")
        assert member.voice_consent and member.voice
        clip = server.context.data.path(member.voice)
        assert clip.read_bytes() == (SAMPLE / "voices" / "ishii.flac").read_bytes()
    # the next meeting of the body gets the roster's voice without an upload
    nxt = client.post("/api/meetings", json={"meeting": {"body": "緑川町公民館運営審議会", "session": "第3回"},
                                             "participants": [{"name": "石井 真理", "role": "委員"}]}).json()["id"]
    assert client.get(f"/api/meetings/{nxt}").json()["participants"][0]["voice"]
    # too short a clip: the enrollment check's reason
    short = flac(sf.read(SAMPLE / "voices" / "ishii.flac", dtype="int16")[0][:16000])
    r = client.put(f"/api/meetings/{mid}/voices/小林 明子", content=short)
    assert r.status_code == 422 and r.json()["error"].startswith("参加者 小林 明子 の声の録音は話し声が短すぎます")


def test_job_of_a_queued_draft_and_cancel(app):
    client, _, _ = app
    mid = post_sample(client)
    assert client.post(f"/api/meetings/{mid}/draft").status_code == 409  # no recording yet
    client.put(f"/api/meetings/{mid}/recording", content=opening(8.0))
    r = client.post(f"/api/meetings/{mid}/draft")
    assert r.status_code == 202
    job = r.json()["job"]
    assert client.post(f"/api/meetings/{mid}/draft").json()["job"] == job  # the same draft is queued once
    view = client.get(f"/api/jobs/{job}").json()
    assert {k: view[k] for k in ("state", "stage", "progress", "eta_s", "error", "attempts")} == \
        {"state": "queued", "stage": "", "progress": 0.0, "eta_s": None, "error": None, "attempts": 0}
    listed = client.get("/api/meetings").json()["meetings"][0]
    assert listed["job"]["id"] == job and listed["state"] == "原稿作成待ち"
    r = client.delete(f"/api/jobs/{job}")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert client.get(f"/api/jobs/{job}").json()["state"] == "cancelled"
    assert client.get(f"/api/meetings/{mid}").json()["jobs"][0]["state"] == "cancelled"
    assert client.get("/api/jobs/999").status_code == 404
    assert client.delete("/api/jobs/999").status_code == 404


def test_deleting_a_meeting(app):
    """A meeting added by mistake goes with its files; never while it drafts; the roster's
    clips stay with the body."""
    client, _, server = app
    root = server.context.data.root
    mid = post_sample(client)
    keep = post_sample(client)  # another meeting: untouched
    client.put(f"/api/meetings/{mid}/recording", content=opening(8.0))
    r = client.put(f"/api/meetings/{mid}/voices/石井 真理?consent=1", content=(SAMPLE / "voices" / "ishii.flac").read_bytes())
    assert r.status_code == 200, r.text
    roster_clips = sorted(p.name for p in root.glob("voices/[0-9]*/*"))
    assert roster_clips and (root / "voices" / f"meeting-{mid}").is_dir()
    job = client.post(f"/api/meetings/{mid}/draft").json()["job"]
    r = client.delete(f"/api/meetings/{mid}")
    assert r.status_code == 409 and "原稿作成中" in r.json()["error"]
    assert (root / "recordings" / str(mid)).is_dir()
    client.delete(f"/api/jobs/{job}")
    r = client.delete(f"/api/meetings/{mid}")
    assert r.status_code == 200, r.text
    assert client.get(f"/api/meetings/{mid}").status_code == 404
    assert client.get(f"/api/jobs/{job}").status_code == 404
    assert not (root / "recordings" / str(mid)).exists() and not (root / "voices" / f"meeting-{mid}").exists()
    assert sorted(p.name for p in root.glob("voices/[0-9]*/*")) == roster_clips
    assert [m["id"] for m in client.get("/api/meetings").json()["meetings"]] == [keep]
    assert client.delete(f"/api/meetings/{mid}").status_code == 404


def test_minutes_before_a_draft(app):
    client, _, _ = app
    mid = post_sample(client)
    for path in (f"/api/meetings/{mid}/minutes.docx", f"/api/meetings/{mid}/minutes.docx?public=1"):
        r = client.get(path)
        assert r.status_code == 404 and "原稿はまだありません" in r.json()["error"]
    assert client.get("/api/meetings/999/minutes.docx").status_code == 404
    assert client.get(f"/meetings/{mid}/review/").status_code == 404
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json()["error"]


def test_page_served_by_itself(app):
    """The page and everything it loads come from kaigiroku (closed networks: no CDN), and the
    page's script calls only the documented API."""
    import re

    client, _, _ = app
    page = client.get("/")
    assert page.status_code == 200 and "会議一覧" in page.text
    for name in ("app.html", "app.js", "app.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", r.text, re.I), name
    script = client.get("/static/app.js").text
    called = set(re.findall(r"`?/api/[a-z]+", script))
    assert {c.lstrip("`") for c in called} <= {"/api/meetings", "/api/jobs"}


def _workers_of(data_dir) -> list[int]:
    return processes_naming(f"pipeline.jobs worker --data {data_dir}")


@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_worker_ends_with_the_app(tmp_path, cli_env, how):
    """The app's worker process ends when the app ends, even when the app is killed (no model
    is loaded: an idle worker)."""
    import re
    import signal
    import subprocess
    import time

    from conftest import KAIGIROKU

    data_dir = (tmp_path / "data").resolve()
    app = subprocess.Popen([*KAIGIROKU, "app", "--no-browser", "--data", str(data_dir)], cwd=REPO, env=cli_env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert re.search(r"http://127\.0\.0\.1:\d+/\?token=", app.stdout.readline())
        deadline = time.monotonic() + 20
        while not _workers_of(data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_workers_of(data_dir)) == 1
        if how == "kill -9":
            app.kill()
        else:
            app.send_signal(signal.SIGINT)
        assert app.wait(30) == (0 if how == "ctrl-c" else -signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _workers_of(data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _workers_of(data_dir) == []
    finally:
        if app.poll() is None:
            app.kill()
        app.communicate()


def test_one_app_per_data_folder(tmp_path, cli_env):
    """A second start on the same data folder (the launcher double-clicked) says so in one line
    and exits 1, leaving the first app running; after the first is killed -9 the lock is gone
    with it (no stale lock file to delete by hand) and the app starts again."""
    import re
    import subprocess

    from conftest import KAIGIROKU

    data_dir = (tmp_path / "data").resolve()

    def start():
        return subprocess.Popen([*KAIGIROKU, "app", "--no-browser", "--data", str(data_dir)], cwd=REPO, env=cli_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = start()
    try:
        assert re.search(r"http://127\.0\.0\.1:\d+/\?token=", first.stdout.readline())
        second = subprocess.run([*KAIGIROKU, "app", "--no-browser", "--data", str(data_dir)], cwd=REPO, env=cli_env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        [line] = second.stderr.strip().splitlines()
        assert "既に動いています" in line and str(data_dir) in line
        assert first.poll() is None
        first.kill()
        first.wait(30)
        again = start()
        try:
            assert re.search(r"http://127\.0\.0\.1:\d+/\?token=", again.stdout.readline())
        finally:
            again.kill()
            again.communicate()
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
        deadline = time.monotonic() + 10
        while _workers_of(data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _workers_of(data_dir) == []


def test_a_meeting_in_another_format_is_refused_the_same_way_on_post_and_put(app):
    """POST and PUT read a meeting with one function: text in neither YAML nor JSON is 415 with
    the same line on both (PUT answered 500 before)."""
    client, _, _ = app
    mid = post_sample(client)
    posted = client.post("/api/meetings", content=b"body=x", headers={"Content-Type": "text/plain"})
    put = client.put(f"/api/meetings/{mid}", content=b"body=x", headers={"Content-Type": "text/plain"})
    assert posted.status_code == put.status_code == 415
    assert posted.json() == put.json() and "meeting.yaml" in put.json()["error"]


def test_without_accounts_the_list_offers_every_operation(app):
    """The single-PC app has no accounts: "can" (what the meeting list shows) names every
    operation of the policy's MEETING_OPS, the microphone pages included."""
    from pipeline.web.access import MEETING_OPS

    client, _, _ = app
    mid = post_sample(client)
    assert client.get("/api/meetings").json()["meetings"][0]["can"] == list(MEETING_OPS)
    assert client.get(f"/api/meetings/{mid}").json()["can"] == list(MEETING_OPS)
    # the microphone pages it offers are there
    assert client.get(f"/meetings/{mid}/record").status_code == 200
    assert client.get(f"/meetings/{mid}/voices").status_code == 200
