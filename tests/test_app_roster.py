"""附属機関と名簿, 会議の準備 and 完了 in `kaigiroku app`'s API (issue 14 pages 2 and 3), through
Starlette's TestClient on a real data folder (migrated SQLite, Huey's SQLite queue; no worker).

Asserted: bodies and members created, renamed, reordered, marked 退任 and never deleted once a
meeting names them, with one Japanese line (422) for what cannot be stored; member voice clips
only with consent and checked as enrollment clips; a meeting edited with the CLI's validation
until its draft starts, its own clips kept with the same people; 完了 on a corrected result:
the editor's word corrections collected (real cleaning, real edit function), the voices queued
for the worker only with the body's consent, and 完了 standing when the learning fails.
"""

from __future__ import annotations

import json
import shutil
import stat

import pytest
import yaml

from conftest import REPO
from test_app import MEETING_YAML, YAML, app, flac, post_sample  # noqa: F401 - the fixture

SAMPLE = REPO / "tests" / "data" / "sample"
BODY = "緑川町公民館運営審議会"


def new_body(client, name=BODY, **extra) -> int:
    r = client.post("/api/bodies", json={"name": name, "kind": "審議会", **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def add(client, bid, name, role="委員", **extra) -> int:
    r = client.post(f"/api/bodies/{bid}/members", json={"name": name, "role": role, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_bodies_and_members(app):  # noqa: F811
    client, anonymous, _ = app
    for method, path in (("GET", "/api/bodies"), ("POST", "/api/bodies"), ("GET", "/api/bodies/1"),
                         ("PATCH", "/api/bodies/1"), ("POST", "/api/bodies/1/members"), ("GET", "/bodies"),
                         ("GET", "/meetings/new"), ("PUT", "/api/meetings/1"), ("POST", "/api/meetings/1/done")):
        assert anonymous.request(method, path, content=b"{}").status_code == 401, path

    bid = new_body(client, member_labels="plain")
    ids = [add(client, bid, "山本 健一", "委員長"), add(client, bid, "小林 明子"),
           add(client, bid, "佐藤 由美", "説明者", title="生涯学習課長")]
    got = client.get(f"/api/bodies/{bid}").json()
    assert (got["name"], got["kind"], got["member_labels"]) == (BODY, "審議会", "plain")
    assert [(m["name"], m["role"], m["title"], m["active"], m["voice"]) for m in got["members"]] == [
        ("山本 健一", "委員長", None, True, False), ("小林 明子", "委員", None, True, False),
        ("佐藤 由美", "説明者", "生涯学習課長", True, False)]
    assert got["learning"] == {"consent": None, "people": {}} and got["last_meeting"] is None
    listed = client.get("/api/bodies").json()
    assert [(b["name"], b["members"]) for b in listed["bodies"]] == [(BODY, 3)]
    assert "説明者" in listed["roles"]

    # one Japanese line, 422, nothing stored
    for payload, words in (({"name": " "}, "附属機関名を入力"), ({"name": "x", "member_labels": "abc"}, "委員の表記「abc」"),
                           ({"name": "緑川町公民館運営審議会"}, "もう登録されています"),
                           ({"name": "緑川町公民館運営審議会\u3000"}, "もう登録されています")):
        r = client.post("/api/bodies", json=payload)
        assert r.status_code == 422 and words in r.json()["error"], (payload, r.text)
    r = client.post(f"/api/bodies/{bid}/members", json={"name": "田中", "role": "書記"})
    assert r.status_code == 422 and r.json()["error"].startswith("役割「書記」は使えません。委員長、")
    r = client.post(f"/api/bodies/{bid}/members", json={"name": "小林\u3000明子", "role": "委員"})
    assert r.status_code == 422 and "もういます" in r.json()["error"]
    assert client.post(f"/api/bodies/{bid}/members", content=b"[1]",
                       headers={"Content-Type": "application/json"}).status_code == 422
    assert client.get("/api/bodies/99").status_code == 404
    assert len(client.get(f"/api/bodies/{bid}").json()["members"]) == 3

    # edit, reorder, 退任
    r = client.patch(f"/api/bodies/{bid}/members/{ids[1]}", json={"title": "公募委員", "label": "小林委員"})
    assert r.status_code == 200 and (r.json()["title"], r.json()["label"]) == ("公募委員", "小林委員")
    r = client.put(f"/api/bodies/{bid}/order", json={"members": [ids[2], ids[0], ids[1]]})
    assert [m["name"] for m in r.json()["members"]] == ["佐藤 由美", "山本 健一", "小林 明子"]
    assert client.put(f"/api/bodies/{bid}/order", json={"members": [ids[0], ids[1]]}).status_code == 422
    r = client.patch(f"/api/bodies/{bid}/members/{ids[1]}", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.get("/api/bodies").json()["bodies"][0]["left"] == 1

    # a member no meeting names can be deleted; one a meeting names cannot (退任 instead)
    extra = add(client, bid, "誤登録 太郎")
    assert client.delete(f"/api/bodies/{bid}/members/{extra}").status_code == 200
    mid = post_sample(client)  # the sample names 山本 健一, 小林 明子 … of this body
    r = client.delete(f"/api/bodies/{bid}/members/{ids[0]}")
    assert r.status_code == 409 and "退任" in r.json()["error"]
    names = [m["name"] for m in client.get(f"/api/bodies/{bid}").json()["members"]]
    assert "山本 健一" in names and "誤登録 太郎" not in names
    # the sample's people new to the roster joined it; its meeting counts for the body
    got = client.get(f"/api/bodies/{bid}").json()
    assert {"石井 真理", "田村 浩"} <= set(names) and got["meetings"] == 1
    assert got["last_meeting"]["id"] == mid and got["last_meeting"]["place"] == "緑川町中央公民館 2階 会議室"
    assert next(m for m in got["members"] if m["name"] == "山本 健一")["meetings"] == 1


def test_rename_moves_the_learned_words_and_the_meetings_not_yet_drafted(app):  # noqa: F811
    from pipeline import voices, words
    from pipeline.jobs.finish import library_root

    client, _, server = app
    bid = new_body(client)
    mid = post_sample(client)
    root = library_root(server.context.data)
    words.add_meeting(root, BODY, "m1", [("新議会", "審議会")])
    client.put(f"/api/bodies/{bid}/consent", json={"note": "令和6年4月の会議で全員同意"})
    assert voices.load_body(root, BODY).consent["note"] == "令和6年4月の会議で全員同意"
    r = client.patch(f"/api/bodies/{bid}", json={"name": "緑川町公民館審議会", "kind": "審議会"})
    assert r.status_code == 200 and r.json()["name"] == "緑川町公民館審議会"
    assert r.json()["learning"]["consent"]["note"] == "令和6年4月の会議で全員同意"
    assert [p.right for p in words.load_pairs(root, "緑川町公民館審議会")] == ["審議会"]
    assert words.load_pairs(root, BODY) == [] and voices.load_body(root, BODY).consent is None
    assert client.get(f"/api/meetings/{mid}").json()["body"] == "緑川町公民館審議会"  # 準備中: follows
    other = new_body(client, "緑川町都市計画審議会")
    words.add_meeting(root, "緑川町都市計画審議会", "m9", [("都市計", "都市計画")])
    r = client.patch(f"/api/bodies/{bid}", json={"name": "緑川町都市計画審議会"})
    assert r.status_code == 422 and "もう登録されています" in r.json()["error"]
    assert client.patch(f"/api/bodies/{other}", json={"member_labels": "names"}).json()["member_labels"] == "names"
    # learned data under the new name (a body deleted from the app, the CLI's library): not merged
    words.add_meeting(root, "緑川町教育審議会", "m7", [("教育委", "教育委員会")])
    r = client.patch(f"/api/bodies/{bid}", json={"name": "緑川町教育審議会"})
    assert r.status_code == 422 and "もう学習データがあります" in r.json()["error"]
    assert client.get(f"/api/bodies/{bid}").json()["name"] == "緑川町公民館審議会"
    assert [p.right for p in words.load_pairs(root, "緑川町公民館審議会")] == ["審議会"]
    # consent withdrawn: the body's learned voices and consent are gone
    assert client.delete(f"/api/bodies/{bid}/consent").json()["consent"] is None


def test_member_voice_only_with_consent_and_checked(app):  # noqa: F811
    client, _, server = app
    bid = new_body(client)
    ishii = add(client, bid, "石井 真理")
    clip = (SAMPLE / "voices" / "ishii.flac").read_bytes()
    r = client.put(f"/api/bodies/{bid}/members/{ishii}/voice?name=ishii.flac", content=clip)
    assert r.status_code == 422 and "同意" in r.json()["error"]
    silence = flac(__import__("numpy").zeros(16000 * 10, dtype="int16"))
    r = client.put(f"/api/bodies/{bid}/members/{ishii}/voice?consent=1", content=silence,
                   headers={"Content-Type": "audio/flac"})
    assert r.status_code == 422 and "無音" in r.json()["error"]
    r = client.put(f"/api/bodies/{bid}/members/{ishii}/voice?consent=1&name=ishii.flac", content=clip)
    assert r.status_code == 200 and r.json()["voice"] and r.json()["voice_consent"]
    kept = server.context.data.root / "voices" / str(bid) / f"member-{ishii}.flac"
    assert kept.read_bytes() == clip and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert [p.name for p in kept.parent.iterdir()] == [kept.name]  # no upload left behind
    # a meeting of the body gets the roster's voice
    mid = client.post("/api/meetings", json={"meeting": {"body": BODY},
                                             "participants": [{"name": "石井 真理", "role": "委員"}]}).json()["id"]
    assert client.get(f"/api/meetings/{mid}").json()["participants"][0]["voice"]
    r = client.delete(f"/api/bodies/{bid}/members/{ishii}/voice")
    assert r.status_code == 200 and not r.json()["voice"] and not r.json()["voice_consent"]
    assert not kept.exists()
    assert not client.get(f"/api/meetings/{mid}").json()["participants"][0]["voice"]


def form(**changes) -> dict:
    """What the page sends: the same fields as meeting.yaml."""
    data = {"meeting": {"body": BODY, "session": "令和6年度 第3回", "date": "令和6年12月10日（火曜日） 14時00分から",
                        "place": "中央公民館", "agenda": ["14:00 開会", "15:00 閉会"], "member_labels": "letters"},
            "participants": [{"name": "山本 健一", "role": "委員長"}, {"name": "石井 真理", "role": "委員"}],
            "absent": ["小林 明子"], "vocabulary": ["公民館講座"]}
    data.update(changes)
    return data


def test_meeting_edited_until_its_draft_starts(app):  # noqa: F811
    from pipeline.errors import KaigirokuError
    from pipeline.meeting import meeting_from_data

    client, _, server = app
    mid = post_sample(client)
    # a clip of this meeting stays with its person when the list changes around them
    clip = (SAMPLE / "voices" / "ishii.flac").read_bytes()
    assert client.put(f"/api/meetings/{mid}/voices/石井 真理?name=ishii.flac", content=clip).status_code == 200
    assert client.put(f"/api/meetings/{mid}/voices/山本 健一?name=y.flac",
                      content=(SAMPLE / "voices" / "yamamoto.flac").read_bytes()).status_code == 200
    edited = form(participants=[{"name": "田村 浩", "role": "委員"}, {"name": "石井 真理", "role": "委員", "label": "石井委員"}])
    r = client.put(f"/api/meetings/{mid}", json=edited)
    assert r.status_code == 200, r.text
    got = client.get(f"/api/meetings/{mid}").json()
    assert (got["session"], got["held_on"], got["absent"]) == ("令和6年度 第3回", "2024-12-10", ["小林 明子"])
    assert [(p["name"], p["label"], p["voice"]) for p in got["participants"]] == [("田村 浩", None, False),
                                                                                   ("石井 真理", "石井委員", True)]
    folder = server.context.data.root / "voices" / f"meeting-{mid}"
    files = list(folder.iterdir())
    assert len(files) == 1 and files[0].read_bytes() == clip  # 山本's clip went with him
    exported = yaml.safe_load(client.get(f"/api/meetings/{mid}/meeting.yaml").text)
    assert exported["participants"][1]["voice"] == str(files[0])

    # the CLI's checks and lines, nothing changed
    bad = form(participants=[{"name": "山本 健一", "role": "委員長"}, {"name": "山本 健一", "role": "委員"}])
    with pytest.raises(KaigirokuError) as cli:
        meeting_from_data(bad, "会議ファイル")
    r = client.put(f"/api/meetings/{mid}", json=bad)
    assert r.status_code == 422 and r.json()["error"] == cli.value.message and "2回" in r.json()["error"]
    r = client.put(f"/api/meetings/{mid}", content=MEETING_YAML.replace("role: 委員長", "role: 議長").encode(), headers=YAML)
    assert r.status_code == 422 and "議長" in r.json()["error"]
    assert client.get(f"/api/meetings/{mid}").json()["session"] == "令和6年度 第3回"
    assert client.put("/api/meetings/999", json=form()).status_code == 404

    # YAML too; once a draft is queued the meeting is what it drafts
    assert client.put(f"/api/meetings/{mid}", content=MEETING_YAML.encode(), headers=YAML).status_code == 200
    assert client.get(f"/api/meetings/{mid}").json()["session"] == "令和6年度 第2回"
    client.put(f"/api/meetings/{mid}/recording?name=m.flac", content=(SAMPLE / "voices" / "sato.flac").read_bytes())
    assert client.post(f"/api/meetings/{mid}/draft").status_code == 202
    r = client.put(f"/api/meetings/{mid}", json=form())
    assert r.status_code == 409 and "編集できません" in r.json()["error"]


# ---------------------------------------------------------------- 完了

def drafted(data, db_url: str, mid: int, result_json) -> None:
    """The meeting as a finished draft leaves it: a recording, a done job, its result in the
    results folder (here a result made by the real cleaning and edited by the review's function)."""
    from pipeline.fileio import sha256_file
    from pipeline.jobs.db import session_factory
    from pipeline.jobs.models import Job, JobState, MeetingRow, MeetingState, RecordingRow

    folder = data.folder("results", mid)
    shutil.copyfile(result_json, folder / "meeting.json")
    audio = data.folder("recordings", mid) / "meeting.flac"
    shutil.copyfile(SAMPLE / "meeting.flac", audio)
    with session_factory(db_url)() as s:
        rec = RecordingRow(meeting_id=mid, path=data.relative(audio), sha256=sha256_file(audio), duration=83.5)
        s.add(rec)
        s.flush()
        s.add(Job(meeting_id=mid, recording_id=rec.id, key=f"test-{mid}", state=JobState.DONE,
                  result=data.relative(folder / "meeting.docx")))
        s.get(MeetingRow, mid).state = MeetingState.REVIEWING
        s.commit()


def _pending(server) -> list:
    return list(server.context.queue.huey.pending())


def test_done_collects_the_editors_words_and_queues_voices_only_with_consent(app, tmp_path, options):  # noqa: F811
    from test_words import BODY as WORDS_BODY, edited_result

    from pipeline import words
    from pipeline.jobs.finish import library_root

    assert WORDS_BODY == BODY
    client, _, server = app
    fixes = {"新議会": "審議会", "公民間": "公民館"}
    first, second = post_sample(client), post_sample(client)
    assert client.post(f"/api/meetings/{first}/done").status_code == 409  # no draft yet
    drafted(server.context.data, server.context.db_url, first, edited_result(tmp_path, options, "meeting-1", fixes))
    drafted(server.context.data, server.context.db_url, second, edited_result(tmp_path, options, "meeting-2", fixes))

    r = client.post(f"/api/meetings/{first}/done")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "完了" and client.get(f"/api/meetings/{first}").json()["state"] == "完了"
    assert done["words"]["state"] == "done" and done["words"]["pairs"] == 2
    assert "直した語を 2 組記録しました" in done["notices"][0]
    assert done["voices"]["state"] == "skipped" and "同意が記録されていない" in done["notices"][1]
    assert _pending(server) == []
    root = library_root(server.context.data)
    assert {(p.wrong, p.right) for p in words.load_pairs(root, BODY)} == {("新議会", "審議会"), ("公民間", "公民館")}
    assert stat.S_IMODE((root / "words").stat().st_mode) == 0o700

    # the second meeting of the body: the same corrections are now offered; with consent the
    # voices go to the worker's queue
    bid = client.get("/api/bodies").json()["bodies"][0]["id"]
    client.put(f"/api/bodies/{bid}/consent", json={"note": "全員同意"})
    done = client.post(f"/api/meetings/{second}/done").json()
    assert done["words"]["offered"] == 2 and "候補" in done["notices"][0]
    assert done["voices"]["state"] == "queued"
    tasks = _pending(server)
    assert [t.name for t in tasks] == ["learn"]
    assert tasks[0].args == (second, f"results/{second}/meeting.json", f"recordings/{second}/meeting.flac")
    assert client.get(f"/api/meetings/{second}/learning").json()["voices"]["state"] == "queued"

    # 完了 again learns again, once per meeting; back to 校正中 and the list shows it
    again = client.post(f"/api/meetings/{first}/done").json()
    assert all(len(p.meetings) == 2 for p in words.load_pairs(root, BODY))
    assert again["words"]["pairs"] == 2
    assert client.delete(f"/api/meetings/{first}/done").json()["state"] == "校正中"
    assert client.delete(f"/api/meetings/{first}/done").status_code == 409
    states = {m["id"]: m["state"] for m in client.get("/api/meetings").json()["meetings"]}
    assert states == {first: "校正中", second: "完了"}


def test_done_stands_when_the_learning_fails(app, tmp_path):  # noqa: F811
    """A result the words cannot be read from and a library file that cannot be read: 完了 is
    kept, each part says why in one line."""
    from pipeline.jobs.finish import library_root
    from pipeline.library import body_file

    client, _, server = app
    mid = post_sample(client)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"schema": 1, "audio": {}}), encoding="utf-8")
    drafted(server.context.data, server.context.db_url, mid, broken)
    voices_file = body_file(library_root(server.context.data), "voices", BODY)
    voices_file.parent.mkdir(parents=True)
    voices_file.write_text("{not json", encoding="utf-8")
    r = client.post(f"/api/meetings/{mid}/done")
    assert r.status_code == 200 and r.json()["state"] == "完了"
    assert r.json()["words"]["state"] == "failed" and "結果ファイルとして読めません" in r.json()["notices"][0]
    assert r.json()["voices"]["state"] == "failed" and "学習データ" in r.json()["notices"][1]
    assert client.get(f"/api/meetings/{mid}").json()["state"] == "完了"
    assert _pending(server) == []


@pytest.mark.slow
def test_the_worker_learns_the_voices_of_a_meeting_marked_done(app, tmp_path):  # noqa: F811
    """The queued task's body on the sample's true turns as a corrected result (CAM++ and VAD:
    run with the heavy-job lock)."""
    pytest.importorskip("torch")
    from pipeline import voices
    from pipeline.jobs.finish import library_root
    from pipeline.jobs.queue import JobQueue

    client, _, server = app
    result = tmp_path / "OUT.json"
    result.write_text(json.dumps(_sample_result().to_dict(), ensure_ascii=False), encoding="utf-8")
    mid = post_sample(client)
    drafted(server.context.data, server.context.db_url, mid, result)
    client.put(f"/api/bodies/{client.get('/api/bodies').json()['bodies'][0]['id']}/consent", json={"note": "同意"})
    assert client.post(f"/api/meetings/{mid}/done").json()["voices"]["state"] == "queued"
    task = _pending(server)[0]
    queue: JobQueue = server.context.queue
    queue.huey.execute(task)  # what the worker's consumer does with it
    status = client.get(f"/api/meetings/{mid}/learning").json()["voices"]
    assert status["state"] == "done", status
    assert "佐藤 由美: 学習しました" in "\n".join(status["lines"])  # 30 s of her own speech
    assert "佐藤 由美" in voices.load_body(library_root(server.context.data), BODY).people


def _sample_result():
    """The bundled sample's true turns as a corrected result (as test_voices.sample_minutes)."""
    from pipeline.fileio import sha256_file
    from pipeline.meeting import load_meeting
    from pipeline.types import AudioInfo, Minutes, Speaker, Transcript, Turn, Utterance

    truth = json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))
    meeting = load_meeting(SAMPLE / "meeting.yaml")
    ids = {p.name: f"P{i + 1}" for i, p in enumerate(meeting.participants)}
    utts = tuple(Utterance(t["start"], t["end"], ids[t["name"]], (), t["spoken"]) for t in truth["turns"])
    speakers = tuple(Speaker(ids[p.name], p.role, p.name, p.role) for p in meeting.participants
                     if ids[p.name] in {u.speaker for u in utts})
    audio = SAMPLE / "meeting.flac"
    return Minutes(AudioInfo(str(audio), sha256_file(audio), 83.5, 16000, 1), meeting.to_dict(),
                   Transcript("ja", 83.5, ()), speakers, utts, turns=tuple(Turn(u.start, u.end, u.speaker) for u in utts))


def test_pages_served_by_themselves(app):  # noqa: F811
    """The two pages and what they load come from kaigiroku (no CDN), each page has its own
    script after common.js, and the scripts call only the documented API."""
    import re

    client, _, _ = app
    mid = post_sample(client)
    for path, script, title in (("/bodies", "bodies.js", "附属機関と名簿"), ("/meetings/new", "meeting.js", "会議の準備"),
                                (f"/meetings/{mid}/edit", "meeting.js", "会議の準備")):
        page = client.get(path)
        assert page.status_code == 200 and title in page.text, path
        assert page.text.index("/static/common.js") < page.text.index(f"/static/{script}")
    assert client.get("/meetings/999/edit").status_code == 404
    for name in ("bodies.html", "bodies.js", "meeting.html", "meeting.js", "roster.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", r.text, re.I), name
    for name in ("bodies.js", "meeting.js"):
        called = {c.lstrip("`") for c in re.findall(r"`?/api/[a-z]+", client.get(f"/static/{name}").text)}
        assert called <= {"/api/bodies", "/api/meetings"}, name
    assert 'href="/bodies"' in client.get("/").text and 'href="/meetings/new"' in client.get("/").text
