"""The review page's server and edits (issue #8), on a small synthetic result: no models, no browser.

The server is the real one (uvicorn on a loopback socket), driven over HTTP with urllib.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from audio_files import tone, write
from conftest import KAIGIROKU, REPO
from pipeline.web.edits import (EditError, add_heading, carry_marks, check_flags, edit_text, merge_with_next,
                            remove_heading, rename_heading, set_speaker, split_utterance, word_spans)
from pipeline.meeting import Meeting, MeetingInfo, Participant
from pipeline.web.store import Conflict, ReviewFile, revision
from pipeline.types import (AudioInfo, Heading, Mark, Minutes, Speaker, Transcript, Utterance, Word)
from pipeline.writers import ExportOptions, write_json


def words_of(text: str, start: float, step: float = 0.4, low: set[int] = frozenset()) -> tuple[Word, ...]:
    return tuple(Word(start + i * step, start + (i + 1) * step, w, 0.3 if i in low else 0.95)
                 for i, w in enumerate(text.split("|")))


def make_minutes(audio: Path) -> Minutes:
    meeting = Meeting(MeetingInfo(body="テスト町公民館運営審議会", session="令和6年度 第2回", date="令和6年10月1日",
                                  place="公民館", agenda=("開会", "案件1 講座について")),
                      participants=(Participant("山本 健一", "委員長"), Participant("小林 明子", "委員"),
                                    Participant("田村 浩", "委員"), Participant("佐藤 由美", "説明者")))
    u = [
        Utterance(0.5, 3.0, "P1", words_of("ただ|いま|から|開会|します。", 0.5, low={3}), "ただいまから開会します。",
                  marks=(Mark(5, 7, "low_confidence"),)),
        Utterance(3.5, 7.0, "P5", words_of("講座|を|3|件|解説|しました。", 3.5, low={4}), "講座を3件解説しました。",
                  marks=(Mark(5, 7, "low_confidence"),)),
        Utterance(7.5, 10.0, "U1", words_of("山田|太郎|さん|が|来ました。", 7.5), "山田太郎さんが来ました。",
                  speaker_uncertain=True, marks=(Mark(0, 4, "pii", "人名"),)),
        Utterance(10.5, 13.0, "P2", words_of("質問|が|あります。", 10.5), "質問があります。"),
        Utterance(13.5, 16.0, "P2", words_of("講座|は|いつ|ですか。", 13.5), "講座はいつですか。"),
    ]
    speakers = (Speaker("P1", "委員長", "山本 健一", "委員長"), Speaker("P5", "説明者", "佐藤 由美", "説明者"),
                Speaker("U1", "発言者不明1", uncertain=True), Speaker("P2", "A委員", "小林 明子", "委員"))
    return Minutes(audio=AudioInfo(str(audio), "0" * 64, 17.0, 16000, 1), meeting=meeting.to_dict(),
                   transcript=Transcript("ja", 17.0, ()), speakers=speakers, utterances=tuple(u),
                   headings=(Heading(0, 0.5, "開会", "agenda"), Heading(1, 3.5, "案件1 講座について", "agenda")))


JSON_ONLY = ExportOptions(("json",), True, "minutes-template.docx", False)


@pytest.fixture()
def result(tmp_path) -> Path:
    audio = write(tmp_path / "meeting.wav", tone(17.0, 16000), 16000)
    out = tmp_path / "OUT.json"
    write_json(make_minutes(audio), out, JSON_ONLY)
    return out


class Page:
    """A running review server and a tiny HTTP client that carries the token."""

    def __init__(self, options):
        self.options = options
        self.base = f"http://127.0.0.1:{options.port}"

    def request(self, path, body=None, token=True, headers=None, method=None):
        h = dict(headers or {})
        if token:
            h["X-Kaigiroku-Token"] = self.options.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def doc(self):
        status, _, body = self.request("/api/doc")
        assert status == 200, body
        return json.loads(body)

    def edit(self, rev, **args):
        status, _, body = self.request("/api/edit", {"rev": rev, **args})
        return status, json.loads(body)


@pytest.fixture()
def page(result):
    from pipeline.web.review import make_server, prepare

    options, sock, _ = prepare(result)
    server = make_server(options)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    yield Page(options)
    server.should_exit = True
    thread.join(10)
    sock.close()


def own_addresses() -> set[str]:
    """This machine's IPv4 addresses, as far as they can be found without the network."""
    found = set()
    try:
        found |= {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # UDP: sends nothing, only picks the outgoing address
            found.add(s.getsockname()[0])
    except OSError:
        pass
    return found


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# --- security ------------------------------------------------------------------------------

def test_requests_without_the_token_are_refused(page):
    for path in ("/", "/api/doc", "/audio", "/static/review.js", "/static/review.html"):
        assert page.request(path, token=False)[0] == 403, path
        assert page.request(path + "?token=wrong", token=False)[0] == 403, path
        assert page.request(path, token=False, headers={"X-Kaigiroku-Token": "x" * 43})[0] == 403, path
    status, _, body = page.request("/api/edit", {"rev": "x", "op": "text", "index": 0, "text": "乗っ取り"}, token=False)
    assert status == 403 and "アクセスできません" in body.decode()
    assert "乗っ取り" not in page.options.result.read_text(encoding="utf-8")
    # a page on another site resolving its own name to 127.0.0.1 (DNS rebinding) is refused too
    assert page.request("/api/doc", headers={"Host": f"evil.example:{page.options.port}"})[0] == 403


def test_the_token_in_the_address_becomes_a_cookie(page):
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{page.base}/?token={page.options.token}", timeout=10)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as e:
        assert e.code == 303 and e.headers["Location"] == "/"
        cookie = e.headers["Set-Cookie"]
    assert f"kaigiroku_{page.options.port}={page.options.token}" in cookie
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    jar = cookie.split(";")[0]
    status, _, body = page.request("/", token=False, headers={"Cookie": jar})
    assert status == 200 and b"/static/review.js" in body
    assert page.request("/api/doc", token=False, headers={"Cookie": jar})[0] == 200


def test_the_page_uses_no_outside_resources(page):
    for name in ("review.html", "review.js", "review.css"):
        status, _, body = page.request(f"/static/{name}")
        assert status == 200
        assert not re.search(rb"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", body), f"{name} refers to an outside address"


def test_server_listens_on_loopback_only(result, cli_env):
    proc = subprocess.Popen([*KAIGIROKU, "review", result, "--no-browser"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env, cwd=REPO)
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
        assert m, line + proc.stderr.read()
        port = int(m.group(1))
        listening = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for row in Path(table).read_text().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                addr, p = local.split(":")
                if int(p, 16) == port and state == "0A":  # LISTEN
                    listening.append((table, addr))
        assert listening == [("/proc/net/tcp", "0100007F")], listening  # 127.0.0.1, no IPv6, no 0.0.0.0
        # the machine's other addresses do not answer
        for addr in own_addresses():
            if not addr.startswith("127."):
                with pytest.raises(OSError):
                    socket.create_connection((addr, port), timeout=2).close()
        url = f"http://127.0.0.1:{port}/api/doc"
        req = urllib.request.Request(url, headers={"X-Kaigiroku-Token": m.group(2)})
        assert urllib.request.urlopen(req, timeout=10).status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "閉じました" in out


# --- audio ---------------------------------------------------------------------------------

def test_audio_is_served_with_range_requests(page):
    audio = Path(page.options.audio).read_bytes()
    status, headers, body = page.request("/audio", headers={"Range": "bytes=1000-1999"})
    assert status == 206
    assert headers["content-range"] == f"bytes 1000-1999/{len(audio)}"
    assert body == audio[1000:2000]
    status, headers, body = page.request("/audio", headers={"Range": f"bytes={len(audio) - 10}-"})
    assert status == 206 and body == audio[-10:]
    status, headers, body = page.request("/audio")
    assert status == 200 and headers["accept-ranges"] == "bytes" and body == audio
    assert headers["content-type"] == "audio/wav"


def test_missing_audio_still_allows_editing(result, tmp_path):
    from pipeline.audio import find_audio
    from pipeline.web.review import page_data, prepare
    from pipeline.web.store import ReviewFile

    Path(tmp_path / "meeting.wav").unlink()
    options, sock, minutes = prepare(result)
    sock.close()
    assert options.audio is None and find_audio(minutes, result) is None
    data = page_data(ReviewFile(result).load(), options)
    assert data["audio"]["available"] is False and len(data["utterances"]) == 5


def test_audio_is_found_beside_the_result_when_the_saved_path_is_stale(result, tmp_path):
    from pipeline.audio import find_audio

    minutes = Minutes.from_dict(json.loads(result.read_text(encoding="utf-8")))
    moved = replace(minutes, audio=replace(minutes.audio, path="/gone/elsewhere/meeting.wav"))
    assert find_audio(moved, result) == (tmp_path / "meeting.wav").resolve()


# --- saving --------------------------------------------------------------------------------

def test_save_is_atomic_private_and_reads_back(page, result):
    original = Minutes.from_dict(json.loads(result.read_text(encoding="utf-8")))
    doc = page.doc()
    status, new = page.edit(doc["rev"], op="text", index=1, text="講座を3件開設しました。")
    assert status == 200, new
    assert new["rev"] == revision(result.read_bytes()) != doc["rev"]
    minutes = Minutes.from_dict(json.loads(result.read_text(encoding="utf-8")))
    assert minutes.utterances[1].text == "講座を3件開設しました。"
    assert minutes.utterances[1].words == original.utterances[1].words  # times kept
    assert minutes.utterances[1].marks == ()  # the flagged word was the one edited
    assert stat.S_IMODE(result.stat().st_mode) == 0o600
    history = result.with_name("OUT.json.history")
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert not [p for p in result.parent.iterdir() if p.name.endswith(".part")]


def test_stale_revision_is_refused_and_the_file_is_unchanged(page, result):
    first = page.doc()["rev"]
    status, saved = page.edit(first, op="text", index=0, text="ただいまから会議を開会します。")
    assert status == 200
    before = result.read_bytes()
    # a second tab still on the first revision
    status, body = page.edit(first, op="text", index=0, text="古いタブの文")
    assert status == 409 and body["conflict"] and body["rev"] == saved["rev"]
    assert "別のタブ" in body["error"]
    assert result.read_bytes() == before
    # the file changed on disk (another program): the page's revision is stale too
    data = json.loads(before)
    data["utterances"][3]["text"] = "外で直した文。"
    result.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    changed = result.read_bytes()
    status, body = page.edit(saved["rev"], op="merge", index=3)
    assert status == 409 and result.read_bytes() == changed
    status, _, _ = page.request("/api/undo", {"rev": saved["rev"]})
    assert status == 409 and result.read_bytes() == changed


def test_undo_restores_each_previous_version(page, result):
    original = result.read_bytes()
    original_minutes = Minutes.from_dict(json.loads(original))
    rev = page.doc()["rev"]
    versions = [original]
    for args in ({"op": "text", "index": 0, "text": "ただいまから会議を開会します。"},
                 {"op": "speaker", "index": 2, "choice": {"participant": "田村 浩"}},
                 {"op": "split", "index": 1, "at": 6},
                 {"op": "add_heading", "before": 3, "title": "休憩"},
                 {"op": "merge", "index": 4}):
        status, doc = page.edit(rev, **args)
        assert status == 200, doc
        rev = doc["rev"]
        versions.append(result.read_bytes())
    assert doc["undo"] == 5 and doc["undo_what"].startswith("発言の結合")
    for expected in reversed(versions[:-1]):
        status, _, body = page.request("/api/undo", {"rev": rev})
        assert status == 200, body
        doc = json.loads(body)
        rev = doc["rev"]
        assert Minutes.from_dict(json.loads(result.read_bytes())) == Minutes.from_dict(json.loads(expected))
    assert Minutes.from_dict(json.loads(result.read_bytes())) == original_minutes
    assert doc["undo"] == 0
    assert page.request("/api/undo", {"rev": rev})[0] == 409


def test_bad_edits_are_refused_with_a_message(page, result):
    rev = page.doc()["rev"]
    before = result.read_bytes()
    for args in ({"op": "text", "index": 0, "text": "  "}, {"op": "text", "index": 99, "text": "x"},
                 {"op": "split", "index": 0, "at": 0}, {"op": "merge", "index": 4},
                 {"op": "merge", "index": 0}, {"op": "speaker", "index": 0, "choice": {"participant": "誰か"}},
                 {"op": "nothing"}, {"op": "text", "index": "0", "text": "x"}, {"op": "text"}):
        status, body = page.edit(rev, **args)
        assert status == 400 and body["error"], args
    status, _, body = page.request("/api/edit", method="POST", headers={"Content-Type": "text/plain"})
    assert status == 400
    assert result.read_bytes() == before


def test_history_is_bounded(result, monkeypatch):
    import pipeline.web.store as store

    monkeypatch.setattr(store, "HISTORY_LIMIT", 3)
    f = ReviewFile(result)
    saved = f.load()
    for n in range(6):
        saved = f.edit(saved.rev, lambda m, n=n: edit_text(m, 0, f"文{n}。"), "文の修正")
    assert len(result.with_name("OUT.json.history").read_text(encoding="utf-8").splitlines()) == 3
    assert saved.undo == 3
    for _ in range(3):
        saved = f.undo(saved.rev)
    assert saved.minutes.utterances[0].text == "文2。"
    with pytest.raises(Conflict):
        f.undo(saved.rev)


def test_a_crash_between_history_and_save_is_harmless(result):
    f = ReviewFile(result)
    saved = f.edit(f.load().rev, lambda m: edit_text(m, 0, "一つ目。"), "文の修正")
    # the next edit's history entry landed, its save did not
    entries = f._entries() + [{"before": saved.rev, "after": "0" * 16, "what": "文の修正", "patch": {}}]
    f._write_entries(entries)
    assert f.load().undo == 1
    back = f.undo(saved.rev)
    assert back.minutes.utterances[0].text == "ただいまから開会します。"


# --- exporting from the page ---------------------------------------------------------------

def test_export_from_the_page_never_overwrites_silently(page, result):
    from docx import Document

    rev = page.doc()["rev"]
    status, doc = page.edit(rev, op="text", index=1, text="講座を3件開設しました。")
    status, doc = page.edit(doc["rev"], op="speaker", index=2, choice={"participant": "田村 浩"})
    assert status == 200
    status, _, body = page.request("/api/export", {"name": "校正済.docx"})
    assert status == 200, body
    out = result.parent / "校正済.docx"
    cells = [(r.cells[0].text, r.cells[1].text) for r in Document(str(out)).tables[1].rows]
    # 田村 speaks before 小林 now: the letters follow, as `kaigiroku export` gives them
    assert any(label == "A委員" and "山田" in text for label, text in cells)
    assert any(label == "B委員" and "質問" in text for label, text in cells)
    assert any("開設しました" in text for _, text in cells)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    written = out.read_bytes()
    status, _, body = page.request("/api/export", {"name": "校正済.docx"})
    assert status == 409 and json.loads(body)["exists"]
    assert out.read_bytes() == written
    status, _, body = page.request("/api/export", {"name": "校正済.docx", "public": True, "force": True})
    assert status == 200
    texts = [r.cells[1].text for r in Document(str(out)).tables[1].rows]
    assert not any(re.match(r"\[\d\d:\d\d:\d\d\]", t) for t in texts)  # the public variant: no times
    for bad in ("../outside.docx", "sub/x.docx", ".hidden.docx", "x.txt", "OUT.json"):
        assert page.request("/api/export", {"name": bad})[0] == 400, bad
    assert not (result.parent.parent / "outside.docx").exists()


# --- the edits themselves --------------------------------------------------------------------

def test_marks_survive_only_where_the_text_was_not_touched():
    old = "ただいまから開会します。"
    marks = tuple(Mark(old.index(w), old.index(w) + len(w), kind) for w, kind in
                  (("ただ", "low_confidence"), ("開会", "low_confidence"), ("ます", "pii")))
    new = "はい、ただいまから会議を開会します。"
    kept = carry_marks(marks, old, new)
    assert [(new[m.start:m.end], m.kind) for m in kept] == [("ただ", "low_confidence"), ("開会", "low_confidence"),
                                                           ("ます", "pii")]
    assert carry_marks(marks, old, "ただいまから解散します。") == (marks[0], marks[2])


def test_word_spans_follow_cleaned_and_edited_text():
    m = make_minutes(Path("x.wav"))
    u = m.utterances[1]  # 講座|を|3|件|解説|しました。
    spans = word_spans(u)
    assert [(u.text[a:b], w) for a, b, w in spans] == [("講座", 0), ("を", 1), ("3", 2), ("件", 3), ("解説", 4),
                                                       ("しました。", 5)]
    edited = edit_text(m, 1, "新しい講座を3件開設しました。").utterances[1]
    text = edited.text
    shown = {w: text[a:b] for a, b, w in word_spans(edited)}
    assert shown[0].endswith("講座") and shown[5] == "しました。"
    assert "".join(text[a:b] for a, b, _ in word_spans(edited)) == text


def test_split_and_merge_keep_words_marks_and_headings():
    m = make_minutes(Path("x.wav"))
    s = split_utterance(m, 1, 5)  # 講座を3件|解説しました。
    a, b = s.utterances[1], s.utterances[2]
    assert (a.text, b.text) == ("講座を3件", "解説しました。")
    assert [w.text for w in a.words] == ["講座", "を", "3", "件"] and b.words[0].text == "解説"
    assert a.end <= b.start and a.start == 3.5 and b.end == 7.0
    assert b.marks == (Mark(0, 2, "low_confidence"),) and a.marks == ()
    assert [h.before for h in s.headings] == [0, 1] and len(s.utterances) == 6
    with_heading = add_heading(m, 4, "質疑")
    shifted = split_utterance(with_heading, 1, 5)
    assert [h.before for h in shifted.headings] == [0, 1, 5]
    merged = merge_with_next(s, 1)
    assert merged.utterances[1] == m.utterances[1]
    with pytest.raises(EditError):
        merge_with_next(with_heading, 3)  # a heading lies between
    with pytest.raises(EditError):
        merge_with_next(m, 1)  # different speakers


def test_speaker_changes_relabel_like_export():
    m = make_minutes(Path("x.wav"))
    one = set_speaker(m, 2, {"participant": "田村 浩"})
    new = one.speaker(one.utterances[2].speaker)
    assert new.id == "E1" and new.name == "田村 浩" and new.label == "A委員"  # first member to speak
    assert one.speaker("P2").label == "B委員"
    assert one.utterances[2].speaker_uncertain is False
    chorus = set_speaker(m, 3, {"speaker": "ALL"})
    assert chorus.speaker(chorus.utterances[3].speaker).label == "一同"
    assert chorus.speaker("P2").label == "A委員" and chorus.utterances[4].speaker == "P2"
    everywhere = set_speaker(m, 3, {"participant": "田村 浩"}, everywhere=True)
    assert {everywhere.utterances[i].speaker for i in (3, 4)} == {"E1"}
    assert everywhere.speaker("E1").label == "A委員"  # now the first member to speak
    existing = set_speaker(m, 0, {"participant": "小林 明子"})
    assert existing.utterances[0].speaker == "P2" and len(existing.speakers) == len(m.speakers)


def test_headings_and_flags():
    m = make_minutes(Path("x.wav"))
    h = add_heading(m, 3, "質疑応答")
    assert [(x.before, x.title, x.source) for x in h.headings][-1] == (3, "質疑応答", "editor")
    assert h.headings[-1].time == m.utterances[3].start
    assert rename_heading(h, 0, "開 会").headings[0].title == "開 会"
    assert [x.title for x in remove_heading(h, 1).headings] == ["開会", "質疑応答"]
    assert check_flags(m, 2, mark=0).utterances[2].marks == ()
    assert check_flags(m, 2, mark=0).utterances[2].speaker_uncertain is True
    assert check_flags(m, 2, speaker=True).utterances[2].speaker_uncertain is False
    cleared = check_flags(m, 2).utterances[2]
    assert cleared.marks == () and not cleared.speaker_uncertain


def test_inserting_the_suggested_heading_answers_its_mark():
    m = make_minutes(Path("x.wav"))
    u = m.utterances[3]
    suggested = replace(u, marks=(Mark(0, 2, "heading", "案件2 質疑"), Mark(2, 3, "low_confidence")))
    m = replace(m, utterances=m.utterances[:3] + (suggested,) + m.utterances[4:])
    assert add_heading(m, 4, "別の見出し").utterances[3].marks == suggested.marks
    assert add_heading(m, 4, "案件2 質疑").utterances[3].marks == (Mark(2, 3, "low_confidence"),)
    assert check_flags(m, 3, mark=0).utterances[3].marks == (Mark(2, 3, "low_confidence"),)


def test_every_writer_prints_an_edited_result(tmp_path):
    from pipeline.writers import get_writer

    m = make_minutes(tmp_path / "x.wav")
    m = edit_text(m, 1, "講座を3件開設しました。")
    m = split_utterance(m, 0, 6)
    m = merge_with_next(set_speaker(m, 3, {"participant": "山本 健一"}), 4)
    m = add_heading(m, 5, "閉会")
    options = ExportOptions(("docx",), True, "minutes-template.docx", False)
    for fmt in ("docx", "json", "txt", "srt", "vtt", "rttm"):
        path = tmp_path / f"out.{fmt}"
        get_writer(fmt)(m, path, options)
        assert path.stat().st_size > 0
    assert "開設しました" in (tmp_path / "out.txt").read_text(encoding="utf-8")
    back = Minutes.from_dict(json.loads((tmp_path / "out.json").read_text(encoding="utf-8")))
    assert [u.text for u in back.utterances] == [u.text for u in m.utterances]
    assert back.headings == m.headings


# --- the command ---------------------------------------------------------------------------

def test_review_command_errors_are_one_line(tmp_path, cli_env, result):
    r = subprocess.run([*KAIGIROKU, "review", tmp_path / "none.json", "--no-browser"], capture_output=True,
                       text=True, env=cli_env, timeout=60)
    assert r.returncode == 1 and "見つかりません" in r.stderr and "Traceback" not in r.stderr
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        r = subprocess.run([*KAIGIROKU, "review", result, "--no-browser", "--port", str(busy.getsockname()[1])],
                           capture_output=True, text=True, env=cli_env, timeout=60)
    finally:
        busy.close()
    assert r.returncode == 1 and "ポート" in r.stderr
    r = subprocess.run([*KAIGIROKU, "review", "--help"], capture_output=True, text=True, env=cli_env, timeout=60)
    assert r.returncode == 0 and "--no-browser" in r.stdout


def test_the_browser_is_started_with_a_one_time_code_not_the_token(result, cli_env, tmp_path):
    """Issue #12: the address given to the browser is on its command line (`ps`); it must not
    carry the token. A stand-in browser (BROWSER) records what it was started with."""
    seen = tmp_path / "browser-argv.txt"
    fake = tmp_path / "browser.sh"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {seen}\n')
    fake.chmod(0o700)
    env = dict(cli_env, BROWSER=str(fake))
    proc = subprocess.Popen([*KAIGIROKU, "review", result], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", proc.stdout.readline())
        assert m
        port, token = m.group(1), m.group(2)
        for _ in range(100):
            if seen.is_file() and seen.read_text().strip():
                break
            time.sleep(0.1)
        argv = seen.read_text()
        assert token not in argv
        code = re.search(rf"http://127\.0\.0\.1:{port}/\?code=([\w-]+)", argv)
        assert code, argv
        opener = urllib.request.build_opener(NoRedirect)
        url = f"http://127.0.0.1:{port}/?code={code.group(1)}"
        with pytest.raises(urllib.error.HTTPError) as first:
            opener.open(url, timeout=10)
        assert first.value.code == 303 and f"={token}" in first.value.headers["Set-Cookie"]
        # used once: someone who read it from `ps` afterwards gets nothing
        with pytest.raises(urllib.error.HTTPError) as again:
            opener.open(url, timeout=10)
        assert again.value.code == 403 and "使用済み" in again.value.read().decode()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)


def test_a_one_time_code_works_once_and_not_after_it_expired():
    from pipeline.web.review import OneTimeCode

    code = OneTimeCode()
    assert not code.redeem("wrong") and code.redeem(code.value) and not code.redeem(code.value)
    late = OneTimeCode(ttl_s=0.0)
    assert not late.redeem(late.value)
