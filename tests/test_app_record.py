"""Recording inside `kaigiroku app` (issue 14 pages 4 and 5) on the real audio path: the
PulseAudio null sink is the rig's microphone (tests/pulse_rig.py), speech is played into it with
paplay, and the app's API drives the same capture core as `kaigiroku record`.

Asserted on what lands on disk and in the database: the meeting's FLAC holds the played speech,
the markers pressed are in the sidecar the draft reads, a pause is not in the file, the
recording row is ``recorded``; a voice take that is clipped or silent is refused with one
Japanese line and nothing is kept, a good one is kept with the person after it was played back;
and a kill -9 of the app process while recording leaves a journal the next start offers and
recovers (at most about a second lost).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import KAIGIROKU, REPO, SAMPLE, processes_naming
from pipeline.agenda import load_markers, markers_path
from pipeline.recorder import journal_paths
from pulse_rig import SPEECH_SECONDS, play
from test_app import MEETING_YAML, YAML, post_sample
from test_record import assert_holds_speech

MIC = {"device": "pulse", "channels": 2}


@pytest.fixture()
def app(tmp_path, pulse):
    from starlette.testclient import TestClient

    from pipeline.web.app import create_app, prepare_app

    server, sock = prepare_app(tmp_path / "data")
    sock.close()
    with TestClient(create_app(server), base_url=f"http://127.0.0.1:{server.port}",
                    headers={"X-Kaigiroku-Token": server.token}) as client:
        try:
            yield client, server
        finally:
            server.capture.shutdown()  # as the app does at its end: nothing left recording


def status(client) -> dict:
    r = client.get("/api/recorder")
    assert r.status_code == 200
    return r.json()


def wait_elapsed(client, seconds: float, timeout: float = 30.0) -> dict:
    """Until the recording holds `seconds` of audio; its last status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = status(client)["active"]
        assert active is not None, "the recording ended by itself"
        if active["status"]["elapsed"] >= seconds:
            return active
        time.sleep(0.1)
    raise AssertionError(f"not {seconds} s recorded within {timeout} s")


# ---------------------------------------------------------------- a meeting

def test_record_a_meeting_with_markers_pause_and_stop(app, pulse, speech):
    client, server = app
    mid = post_sample(client)
    devices = client.get("/api/devices").json()["devices"]
    assert any(d["name"] == "pulse" and d["channels"] >= 2 for d in devices)
    assert client.post("/api/recorder/stop").status_code == 409  # nothing to stop yet

    r = client.post(f"/api/meetings/{mid}/record", json=MIC)
    assert r.status_code == 201, r.text
    assert r.json()["info"]["channels"] == 2
    assert client.get(f"/api/meetings/{mid}").json()["state"] == "録音中"
    # one recording at a time: neither another meeting nor a voice take may start
    again = client.post(f"/api/meetings/{mid}/record", json=MIC)
    assert again.status_code == 409 and "一度に一つ" in again.json()["error"]
    voice = client.post(f"/api/meetings/{mid}/voices/{urllib.parse.quote('山本 健一')}/record", json=MIC)
    assert voice.status_code == 409

    active = wait_elapsed(client, 1.0)
    assert active["kind"] == "meeting" and active["meeting"] == mid
    agenda = client.get(f"/api/meetings/{mid}").json()["agenda_items"]
    first = client.post("/api/recorder/marker", json={"label": agenda[0]}).json()
    assert first["time"] >= 1.0
    wait_elapsed(client, first["time"] + 0.5)
    # a break: what is said meanwhile is not recorded, a heading may still be placed
    assert client.post("/api/recorder/pause").json()["paused"] is True
    time.sleep(0.3)  # blocks already queued may still land
    held = status(client)["active"]["status"]["elapsed"]
    time.sleep(1.5)
    assert status(client)["active"]["status"]["elapsed"] - held < 0.15
    assert client.post("/api/recorder/marker", json={"label": "休憩"}).status_code == 201
    assert client.post("/api/recorder/resume").json()["paused"] is False
    player = play(pulse, speech)
    try:
        # the meter moves with the speech
        loud = -120.0
        for _ in range(20):
            time.sleep(0.25)
            loud = max(loud, *status(client)["active"]["status"]["levels"])
        assert loud > -40, loud
        second = client.post("/api/recorder/marker", json={"label": agenda[1]}).json()
        assert client.post("/api/recorder/marker", json={"label": "  "}).status_code == 422
    finally:
        player.wait(30)
    time.sleep(0.5)
    last = status(client)["active"]["status"]["elapsed"]
    stopped = client.post("/api/recorder/stop")
    assert stopped.status_code == 200, stopped.text
    result = stopped.json()
    assert [m["label"] for m in result["markers"]] == [agenda[0], "休憩", agenda[1]]
    assert status(client) == {"active": None, "last": result}

    meeting = client.get(f"/api/meetings/{mid}").json()
    assert meeting["state"] == "原稿作成待ち"
    [row] = meeting["recording_list"]
    assert row["source"] == "recorded" and row["id"] == result["id"]
    # the files: the recorder's FLAC and markers sidecar in the meeting's folder, no journal left
    folder = server.context.data.root / "recordings" / str(mid)
    [flac] = folder.glob("rec-*.flac")
    assert abs(sf.info(str(flac)).duration - row["duration"]) < 0.01
    assert 0 <= row["duration"] - last < 0.5  # the pause is not in the file
    assert row["duration"] >= held + SPEECH_SECONDS
    markers = load_markers(markers_path(flac))  # as the draft reads them
    assert [label for _, label in markers] == [agenda[0], "休憩", agenda[1]]
    assert markers[0][0] == round(first["time"], 2) and markers[2][0] == round(second["time"], 2)
    assert not any(p.exists() for p in journal_paths(flac))
    assert_holds_speech(flac, speech)
    assert client.post(f"/api/meetings/{mid}/draft").status_code == 202  # the meeting can be drafted
    assert client.get("/api/recoveries").json() == {"recordings": []}


def test_recording_page_is_served_and_errors_are_japanese(app):
    client, _ = app
    mid = post_sample(client)
    page = client.get(f"/meetings/{mid}/record")
    assert page.status_code == 200 and "record.js" in page.text
    assert client.get(f"/meetings/{mid}/voices").status_code == 200
    r = client.post(f"/api/meetings/{mid}/record", json={"device": "no-such-mic"})
    assert r.status_code == 422 and "見つかりません" in r.json()["error"]
    assert client.post("/api/meetings/999/record", json=MIC).status_code == 404
    assert client.post("/api/recorder/marker", json={"label": "開会"}).status_code == 409
    text = client.get("/static/voice_text.txt").text
    assert 150 <= len(text) <= 400  # 20–60 s read aloud at 5–7 characters a second


# ---------------------------------------------------------------- voices

def record_voice(client, pulse, mid: int, name: str, wav: Path | None, seconds: float):
    r = client.post(f"/api/meetings/{mid}/voices/{urllib.parse.quote(name)}/record", json=MIC)
    assert r.status_code == 201, r.text
    player = play(pulse, wav, delay=0.5) if wav is not None else None  # the clip starts speaking at once
    try:
        wait_elapsed(client, seconds)
    finally:
        if player is not None:
            player.wait(30)
    return client.post("/api/recorder/stop")


def test_voice_registration_from_the_mic(app, pulse, tmp_path):
    client, server = app
    mid = post_sample(client)
    name = "佐藤 由美"
    voice, rate = sf.read(SAMPLE / "voices" / "sato.flac", dtype="float32")
    good, clipped = tmp_path / "good.wav", tmp_path / "clipped.wav"
    sf.write(good, voice, rate, subtype="PCM_16")
    sf.write(clipped, np.clip(voice * 12.0, -1.0, 1.0), rate, subtype="PCM_16")  # the gain far too high
    seconds = len(voice) / rate + 1.0
    folder = server.context.data.root / "voices" / f"meeting-{mid}"

    r = record_voice(client, pulse, mid, name, clipped, seconds)
    assert r.status_code == 422 and "音が割れています" in r.json()["error"], r.text
    assert "\n" not in r.json()["error"]
    r = record_voice(client, pulse, mid, name, None, 4.0)  # the mic is off: nothing reaches the sink
    assert r.status_code == 422 and "無音" in r.json()["error"], r.text
    assert not any(folder.iterdir()), "a refused take is not kept"
    assert not next(p for p in client.get(f"/api/meetings/{mid}").json()["participants"] if p["name"] == name)["voice"]

    r = record_voice(client, pulse, mid, name, good, seconds)
    assert r.status_code == 200, r.text
    take = r.json()
    assert take["name"] == name and take["duration"] >= seconds - 0.5
    audio = client.get(f"/api/takes/{take['take']}")  # played back before it is kept
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/flac"
    (tmp_path / "take.flac").write_bytes(audio.content)
    assert_holds_speech(tmp_path / "take.flac", good)
    kept = client.post(f"/api/takes/{take['take']}/keep?consent=1")
    assert kept.status_code == 200 and kept.json() == {"name": name, "kept": "roster"}
    assert client.get(f"/api/takes/{take['take']}").status_code == 404
    assert next(p for p in client.get(f"/api/meetings/{mid}").json()["participants"] if p["name"] == name)["voice"]
    assert [p.name for p in folder.iterdir()] == ["05.flac"]  # 佐藤 is the 5th participant
    # the export names the kept clip: the CLI drafts with the same voice
    assert str(folder / "05.flac") in client.get(f"/api/meetings/{mid}/meeting.yaml").text


def test_uploaded_clipped_voice_is_refused(app):
    """The clipping check is the upload's too (it was not checked before)."""
    import io

    client, _ = app
    mid = post_sample(client)
    voice, rate = sf.read(SAMPLE / "voices" / "sato.flac", dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, np.clip(voice * 12.0, -1.0, 1.0), rate, format="FLAC", subtype="PCM_16")
    r = client.put(f"/api/meetings/{mid}/voices/{urllib.parse.quote('佐藤 由美')}?name=v.flac", content=buf.getvalue())
    assert r.status_code == 422 and "音が割れています" in r.json()["error"]
    ok = client.put(f"/api/meetings/{mid}/voices/{urllib.parse.quote('佐藤 由美')}?name=v.flac",
                    content=(SAMPLE / "voices" / "sato.flac").read_bytes())
    assert ok.status_code == 200, ok.text


def test_takes_left_by_an_earlier_run_are_removed(tmp_path):
    """A voice take is kept only when the clerk keeps it: a crash's take journal goes at the
    next start; kept clips and meeting journals stay."""
    from pipeline.web.app import create_app, prepare_app

    server, sock = prepare_app(tmp_path / "data")
    sock.close()
    voices = server.context.data.folder("voices", "meeting-1")
    left = [voices / "take-ab12.flac.rec.pcm", voices / "take-ab12.flac.rec.json", voices / "take-cd34.flac"]
    kept = [voices / "01.flac", server.context.data.folder("recordings", 1) / "rec-1.flac.rec.pcm"]
    for f in left + kept:
        f.write_bytes(b"x")
    create_app(server)
    assert [f.exists() for f in left] == [False] * 3 and all(f.exists() for f in kept)
    assert server.capture.recoverable() == [{"meeting": 1, "file": "rec-1.flac", "started": None, "seconds": None}]


# ---------------------------------------------------------------- a crash while recording

class App:
    """`kaigiroku app` in its own process, as the clerk runs it."""

    def __init__(self, data: Path, env: dict, log: Path):
        self.data = data
        self.log = open(log, "a")
        self.proc = subprocess.Popen([*KAIGIROKU, "app", "--no-browser", "--data", str(data)], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
        assert m, (line, log.read_text())
        self.base, self.token = f"http://127.0.0.1:{m.group(1)}", m.group(2)

    def call(self, method: str, path: str, body: dict | None = None, ok=(200, 201, 202)):
        import urllib.error

        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"X-Kaigiroku-Token": self.token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        assert status in ok, (method, path, status, data.decode("utf-8", "replace"))
        return json.loads(data) if data else None

    def post_yaml(self, text: str) -> int:
        req = urllib.request.Request(self.base + "/api/meetings", data=text.encode("utf-8"), method="POST",
                                     headers={"X-Kaigiroku-Token": self.token, **YAML})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["id"]

    def kill9(self) -> None:
        self.proc.kill()  # SIGKILL: no clean-up runs (Windows: TerminateProcess, the same)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def wait_no_worker(data: Path, timeout: float = 10.0) -> None:
    """The app's worker ends with it, even killed (its stdin pipe closes)."""
    deadline = time.monotonic() + timeout
    while processes_naming(f"pipeline.jobs worker --data {data.resolve()}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_naming(f"pipeline.jobs worker --data {data.resolve()}") == []


def test_kill_9_while_recording_then_recover(pulse, speech, tmp_path, cli_env):
    data = tmp_path / "data"
    env = {**cli_env, "PULSE_SERVER": pulse["PULSE_SERVER"]}
    app = App(data, env, tmp_path / "app.log")
    try:
        mid = app.post_yaml(MEETING_YAML)
        app.call("POST", f"/api/meetings/{mid}/record", MIC)  # returns once audio flows
        started = time.monotonic()
        player = play(pulse, speech, delay=0.5)
        app.call("POST", "/api/recorder/marker", {"label": "開会"})
        time.sleep(max(0.0, started + SPEECH_SECONDS + 2.0 - time.monotonic()))
        # what the recorder has captured just before the kill (the driver's first block may
        # come a second after the start: the loss is counted from what was captured)
        seen = app.call("GET", "/api/recorder")["active"]["status"]["elapsed"]
        killed = time.monotonic()
        app.kill9()
        player.wait(30)
    finally:
        app.stop()
    wait_no_worker(data)
    [pcm] = (data / "recordings" / str(mid)).glob("*.flac.rec.pcm")
    out = pcm.with_name(pcm.name[: -len(".rec.pcm")])
    assert not out.exists()

    app = App(data, env, tmp_path / "app.log")
    try:
        offered = app.call("GET", "/api/recoveries")["recordings"]
        assert [(r["meeting"], r["file"]) for r in offered] == [(mid, out.name)]
        assert app.call("GET", f"/api/meetings/{mid}")["state"] == "録音中"  # where the crash left it
        kept = app.call("POST", f"/api/meetings/{mid}/recover")["recordings"]
        [row] = kept
        # everything but at most the last second (the journal is fsynced every 0.5 s)
        assert seen - 1.0 <= row["duration"] <= seen + 0.5, (row, seen)
        assert row["duration"] <= killed - started + 0.5  # the first block holds a little audio from before it
        assert abs(row["duration"] - offered[0]["seconds"]) < 0.01
        meeting = app.call("GET", f"/api/meetings/{mid}")
        assert meeting["state"] == "原稿作成待ち"
        assert [r["source"] for r in meeting["recording_list"]] == ["recovered"]
        assert app.call("GET", "/api/recoveries") == {"recordings": []}
        app.call("POST", f"/api/meetings/{mid}/recover", ok=(404,))
    finally:
        app.stop()
    assert_holds_speech(out, speech)
    assert [label for _, label in load_markers(markers_path(out))] == ["開会"]  # written as it was pressed
    assert not pcm.exists() and oct(os.stat(out).st_mode & 0o777) == "0o600"


# ---------------------------------------------------------------- a crash while drafting

def put(app: App, path: str, body: bytes) -> dict:
    req = urllib.request.Request(app.base + path, data=body, method="PUT",
                                 headers={"X-Kaigiroku-Token": app.token, "Content-Type": "audio/flac"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


@pytest.mark.slow  # a real draft of the sample with the embedded models: run under the heavy-job lock
def test_kill_9_while_drafting_then_the_job_completes_from_the_cache(tmp_path, cli_env):
    """The app dies with a draft half done; started again, its worker queues the job again (its
    heartbeat stopped) and the draft resumes: the stages cached before the kill are reused."""
    import yaml

    data = tmp_path / "data"
    app = App(data, cli_env, tmp_path / "app.log")
    try:
        mid = app.post_yaml(MEETING_YAML)
        for p in yaml.safe_load(MEETING_YAML)["participants"]:
            if p.get("voice"):
                put(app, f"/api/meetings/{mid}/voices/{urllib.parse.quote(p['name'])}?name=v.flac",
                    (SAMPLE / p["voice"]).read_bytes())
        put(app, f"/api/meetings/{mid}/recording?name=meeting.flac", (SAMPLE / "meeting.flac").read_bytes())
        job = app.call("POST", f"/api/meetings/{mid}/draft")["job"]
        cache = data / "results" / str(mid) / ".kaigiroku-cache"
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            view = app.call("GET", f"/api/jobs/{job}")
            assert view["state"] in ("queued", "running"), view
            if cache.is_dir() and any(cache.iterdir()):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("no stage was cached within 600 s")
        before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir() if p.is_file()}
        app.kill9()
    finally:
        app.stop()
    wait_no_worker(data)
    assert view["state"] == "running" and view["progress"] < 1.0, view

    app = App(data, cli_env, tmp_path / "app.log")
    try:
        # the dead worker's job is queued again once its heartbeat is stale (jobs.stale_after_s +
        # sweep_s), then drafted to the end
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            view = app.call("GET", f"/api/jobs/{job}")
            if view["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(1.0)
        assert view["state"] == "done", (view, (tmp_path / "app.log").read_text()[-3000:])
        assert view["attempts"] == 2 and view["progress"] == 1.0
        assert app.call("GET", f"/api/meetings/{mid}")["state"] == "校正中"
        req = urllib.request.Request(f"{app.base}/api/meetings/{mid}/minutes.docx",
                                     headers={"X-Kaigiroku-Token": app.token})
        with urllib.request.urlopen(req, timeout=120) as r:
            assert r.status == 200 and r.read(2) == b"PK"
    finally:
        app.stop()
    after = {p.name: p.stat().st_mtime_ns for p in cache.iterdir() if p.is_file()}
    # what was cached before the kill was read back, not computed and written again
    assert before and all(after.get(name) == mtime for name, mtime in before.items()), (before, after)
    assert len(after) > len(before)  # and the stages after it were cached by the second run


def test_roster_member_voice_from_the_mic(app, pulse, tmp_path):
    """A roster member's voice read into the mic on the roster: kept there only with consent."""
    client, server = app
    bid = client.post("/api/bodies", json={"name": "緑川町公民館運営審議会", "kind": "審議会"}).json()["id"]
    member = client.post(f"/api/bodies/{bid}/members", json={"name": "佐藤 由美", "role": "説明者"}).json()["id"]
    assert client.get(f"/bodies/{bid}/voices").status_code == 200
    voice, rate = sf.read(SAMPLE / "voices" / "sato.flac", dtype="float32")
    wav = tmp_path / "sato.wav"
    sf.write(wav, voice, rate, subtype="PCM_16")
    assert client.post(f"/api/bodies/{bid}/members/{member + 1}/voice/record", json=MIC).status_code == 404

    r = client.post(f"/api/bodies/{bid}/members/{member}/voice/record", json=MIC)
    assert r.status_code == 201, r.text
    assert r.json()["recording"]["member"] == member
    player = play(pulse, wav, delay=0.5)
    try:
        wait_elapsed(client, len(voice) / rate + 1.0)
    finally:
        player.wait(30)
    take = client.post("/api/recorder/stop").json()["take"]
    refused = client.post(f"/api/takes/{take}/keep")
    assert refused.status_code == 422 and "同意" in refused.json()["error"]
    kept = client.post(f"/api/takes/{take}/keep?consent=1")
    assert kept.json() == {"name": "佐藤 由美", "kept": "roster"}
    [m] = client.get(f"/api/bodies/{bid}").json()["members"]
    assert m["voice"] and m["voice_consent"]
    folder = server.context.data.root / "voices" / str(bid)
    assert [p.name for p in folder.iterdir()] == [f"member-{member}.flac"]
    assert_holds_speech(folder / f"member-{member}.flac", wav)
