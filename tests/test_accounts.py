"""The shared service's accounts (issue 15): the app in multi-user mode through Starlette's
TestClient, on a real data folder and database (SQLite, and the private PostgreSQL of
test_jobs for the visibility test). No models: a meeting's draft is a small synthetic result
(test_review.make_minutes) with a done job row, as a worker would leave it.

Asserted: an editor of one body sees and fetches nothing of another (list, search, direct GETs,
uploads, drafts, jobs, Word, review page) and the refusals read exactly as a missing item's;
roles within a body; the login limit (measured with short delays); CSRF on every state-changing
request made with the session cookie; Bearer tokens and disabled users; the audit log of an
edit saved through the review page and of the exports; `kaigiroku users`.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from audio_files import tone, write
from conftest import KAIGIROKU, REPO
from test_jobs import postgres  # noqa: F401 - the private PostgreSQL fixture
from test_review import JSON_ONLY, make_minutes

SAMPLE = REPO / "tests" / "data" / "sample"
MEETING_YAML = (SAMPLE / "meeting.yaml").read_text(encoding="utf-8")
BODY_A = "緑川町公民館運営審議会"  # the sample meeting's body
BODY_B = "緑川町都市計画審議会"
PASSWORD = "correct horse 42"


def make_server(tmp_path, db_url: str | None = None, **options):
    """The app with accounts on a data folder (its SQLite database, or `db_url`)."""
    from pipeline.jobs.data import DataFolder
    from pipeline.jobs.db import upgrade
    from pipeline.jobs.options import AccountOptions
    from pipeline.jobs.queue import make_queue
    from pipeline.web.api import AppContext
    from pipeline.web.app import AppServer

    data = DataFolder.open(tmp_path / "data")
    url = db_url or data.db_url
    upgrade(url)
    context = AppContext(data=data, db_url=url, queue=make_queue(data, url))
    return AppServer(context, "unused-token", 8000, accounts=AccountOptions(**options))


class Service:
    """The server and its users: name → API token."""

    def __init__(self, server):
        from pipeline.jobs.accounts import add_user
        from pipeline.jobs.options import AccountOptions

        self.server, self.tokens = server, {}
        with server.context.sessions() as s:
            for name, role, body in (("admin", "admin", None), ("editor_a", "editor", BODY_A),
                                     ("editor_b", "editor", BODY_B), ("recorder_a", "recorder", BODY_A)):
                _, self.tokens[name], _ = add_user(s, name, role, PASSWORD, body, AccountOptions())
            s.commit()

    def client(self, client=("10.0.0.1", 50000), **kw):
        from starlette.testclient import TestClient

        from pipeline.web.app import create_app

        return TestClient(create_app(self.server), base_url="http://127.0.0.1:8000", client=client, **kw)

    def bearer(self, name: str):
        return self.client(headers={"Authorization": f"Bearer {self.tokens[name]}"})

    def login(self, name: str, client=("10.0.0.1", 50000)):
        c = self.client(client)
        r = c.post("/login", json={"name": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = c.cookies["kaigiroku_csrf"]  # what static/account.js sends
        return c


@pytest.fixture()
def service(tmp_path):
    return Service(make_server(tmp_path))


def fake_draft(server, mid: int) -> int:
    """A finished draft of meeting `mid` (result JSON + recording + done job); returns the job."""
    from pipeline.jobs.models import Job, JobState, RecordingRow
    from pipeline.writers import write_json

    data = server.context.data
    folder = data.folder("results", mid)
    audio = write(folder / "recording.wav", tone(17.0, 16000), 16000)
    write_json(make_minutes(audio), folder / "draft.json", JSON_ONLY)
    with server.context.sessions() as s:
        rec = RecordingRow(meeting_id=mid, path=data.relative(audio), sha256="0" * 64, duration=17.0)
        s.add(rec)
        s.flush()
        job = Job(meeting_id=mid, recording_id=rec.id, key=f"test-{mid}", state=JobState.DONE,
                  result=data.relative(folder / "draft.docx"), progress=1.0)
        s.add(job)
        s.commit()
        return job.id


def two_meetings(svc: Service) -> tuple[int, int, int, int]:
    """Meetings of body A and B (posted by the admin), each with a finished draft: (a, b, job a, job b)."""
    with svc.bearer("admin") as admin:
        a = admin.post("/api/meetings", content=MEETING_YAML.encode(), headers={"Content-Type": "application/yaml"})
        b = admin.post("/api/meetings", json={"meeting": {"body": BODY_B, "date": "2025-02-03", "session": "第1回"},
                                              "participants": [{"name": "田中 一郎", "role": "会長"}]})
        assert a.status_code == 201 and b.status_code == 201, (a.text, b.text)
    a, b = a.json()["id"], b.json()["id"]
    return a, b, fake_draft(svc.server, a), fake_draft(svc.server, b)


# ---------------------------------------------------------------- visibility

@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_editor_sees_and_fetches_nothing_of_another_body(tmp_path, request, backend):
    db = request.getfixturevalue("postgres")() if backend == "postgresql" else None
    svc = Service(make_server(tmp_path, db))
    a, b, job_a, job_b = two_meetings(svc)
    missing = 987654  # no such meeting or job: what the other body's items must look like
    with svc.login("editor_a") as ed, svc.bearer("admin") as admin:
        assert [m["id"] for m in ed.get("/api/meetings").json()["meetings"]] == [a]
        assert {m["id"] for m in admin.get("/api/meetings").json()["meetings"]} == {a, b}
        assert ed.get("/api/meetings", params={"q": "都市計画"}).json()["meetings"] == []
        assert ed.get("/api/meetings", params={"date": "2025-02-03"}).json()["meetings"] == []

        def same_as_missing(method: str, template: str, ident: int, other: int, **kw):
            got = ed.request(method, template.format(ident), **kw)
            gone = ed.request(method, template.format(other), **kw)
            assert got.status_code == 404, (method, template, got.status_code, got.text)
            expected = gone.text.replace(str(other), str(ident))
            assert got.text == expected, (method, template, got.text, gone.text)

        for template in ("/api/meetings/{}", "/api/meetings/{}/meeting.yaml", "/api/meetings/{}/minutes.docx",
                         "/api/meetings/{}/minutes.docx?public=1", "/meetings/{}/review/",
                         "/meetings/{}/review/api/doc", "/meetings/{}/review/audio"):
            same_as_missing("GET", template, b, missing)
        same_as_missing("GET", "/api/jobs/{}", job_b, missing)
        same_as_missing("DELETE", "/api/jobs/{}", job_b, missing)
        same_as_missing("POST", "/api/meetings/{}/draft", b, missing)
        same_as_missing("PUT", "/api/meetings/{}/recording", b, missing, content=b"RIFF")
        same_as_missing("PUT", "/api/meetings/{}/voices/田中 一郎", b, missing, content=b"RIFF")
        same_as_missing("POST", "/meetings/{}/review/api/edit", b, missing,
                        json={"op": "text", "index": 0, "text": "書き換え", "rev": "x"})
        # a meeting for the other body cannot be created either
        other = ed.post("/api/meetings", json={"meeting": {"body": BODY_B, "date": "2025-03-01"}})
        assert other.status_code == 403 and BODY_A in other.json()["error"]

        # their own body's meeting opens: the refusals above are the policy, not a broken page
        assert ed.get(f"/api/meetings/{a}").json()["body"] == BODY_A
        assert ed.get(f"/api/jobs/{job_a}").json()["state"] == "done"
        assert "/static/review.js" in ed.get(f"/meetings/{a}/review/").text
        assert ed.get(f"/meetings/{a}/review/api/doc").json()["utterances"]
        docx = ed.get(f"/api/meetings/{a}/minutes.docx")
        assert docx.status_code == 200 and docx.content[:2] == b"PK"
        assert ed.get(f"/api/meetings/{a}/meeting.yaml").status_code == 200
        # the admin opens both
        assert admin.get(f"/api/meetings/{b}").json()["body"] == BODY_B
        assert admin.get(f"/meetings/{b}/review/api/doc").status_code == 200
    with svc.bearer("editor_b") as eb:
        assert [m["id"] for m in eb.get("/api/meetings").json()["meetings"]] == [b]
        assert eb.get(f"/api/meetings/{a}").status_code == 404


def test_a_recorder_prepares_and_drafts_but_does_not_read_the_draft(service):
    a, b, job_a, _ = two_meetings(service)
    with service.login("recorder_a") as rec:
        assert [m["id"] for m in rec.get("/api/meetings").json()["meetings"]] == [a]
        made = rec.post("/api/meetings", json={"meeting": {"body": BODY_A, "date": "2025-04-01", "session": "第3回"}})
        assert made.status_code == 201
        assert rec.get(f"/api/meetings/{made.json()['id']}").status_code == 200
        for path in (f"/meetings/{a}/review/api/doc", f"/api/meetings/{a}/minutes.docx"):
            r = rec.get(path)
            assert r.status_code == 403 and "録音者" in r.text, (path, r.text)
        assert rec.get(f"/api/meetings/{b}/minutes.docx").status_code == 404  # another body: not even 403
        assert rec.get("/api/audit").status_code == 403


# ---------------------------------------------------------------- the way in

def test_without_a_login_pages_redirect_and_the_api_refuses(service):
    with service.client() as anon:
        page = anon.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F"
        review = anon.get("/meetings/1/review/", follow_redirects=False)
        assert review.headers["location"] == "/login?next=%2Fmeetings%2F1%2Freview%2F"
        login_page = anon.get("/login")
        assert login_page.status_code == 200 and "パスワード" in login_page.text
        assert anon.get("/static/login.js").status_code == 200
        for method, path in (("GET", "/api/meetings"), ("POST", "/api/meetings"), ("GET", "/api/audit"),
                             ("GET", "/api/me"), ("POST", "/logout")):
            r = anon.request(method, path)
            message = r.json()["error"] if path.startswith("/api/") else r.text
            assert r.status_code == 401 and "ログインしていません" in message, (method, path)
        # the single-PC token scheme is not a way in here
        assert anon.get("/api/meetings", headers={"X-Kaigiroku-Token": "unused-token"}).status_code == 401
        wrong = anon.post("/login", json={"name": "editor_a", "password": "wrong password"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "名前かパスワードが違います。"
        unknown = anon.post("/login", json={"name": "nobody", "password": PASSWORD})
        assert unknown.status_code == 401 and unknown.json() == wrong.json()
        # a login posted from another site's page is refused
        assert anon.post("/login", json={"name": "editor_a", "password": PASSWORD},
                         headers={"Origin": "http://evil.example"}).status_code == 403


def test_session_cookies_are_httponly_strict_and_secure_over_tls(service):
    from starlette.testclient import TestClient

    from pipeline.web.app import create_app

    for scheme in ("http", "https"):
        with TestClient(create_app(service.server), base_url=f"{scheme}://127.0.0.1:8000") as c:
            r = c.post("/login", json={"name": "editor_a", "password": PASSWORD})
            cookies = {h.split("=", 1)[0]: h.lower() for h in r.headers.get_list("set-cookie")}
            session, csrf = cookies["kaigiroku_session"], cookies["kaigiroku_csrf"]
            assert "httponly" in session and "samesite=strict" in session and "samesite=strict" in csrf
            assert "httponly" not in csrf  # the page's script reads it to send the header
            assert ("secure" in session) == (scheme == "https") and ("secure" in csrf) == (scheme == "https")
    # the database keeps only a hash of the session's value
    from sqlalchemy import select

    from pipeline.jobs.models import LoginSession

    with service.server.context.sessions() as s:
        stored = s.scalars(select(LoginSession.token_hash)).all()
    assert len(stored) == 2 and all(len(h) == 64 for h in stored)


def test_state_changing_requests_with_the_cookie_need_the_csrf_token(service):
    a, _, _, _ = two_meetings(service)
    with service.login("editor_a") as ed:
        good = ed.headers.pop("X-CSRF-Token")
        doc = ed.get(f"/meetings/{a}/review/api/doc").json()  # reading needs no token
        attempts = [("POST", "/api/meetings", {"json": {"meeting": {"body": BODY_A}}}),
                    ("POST", f"/meetings/{a}/review/api/edit",
                     {"json": {"op": "text", "index": 0, "text": "偽の修正", "rev": doc["rev"]}}),
                    ("POST", f"/api/meetings/{a}/draft", {}), ("PUT", f"/api/meetings/{a}/recording", {"content": b"x"}),
                    ("POST", "/logout", {})]
        for token in (None, "x" * 43):
            headers = {"X-CSRF-Token": token} if token else {}
            for method, path, kw in attempts:
                r = ed.request(method, path, headers=headers, **kw)
                assert r.status_code == 403, (method, path, r.status_code)
                message = r.json()["error"] if path.startswith("/api/") else r.text
                assert "CSRF" in message and "読み込み直して" in message
        # nothing happened: no meeting added, the draft unchanged, still logged in
        assert len(ed.get("/api/meetings").json()["meetings"]) == 1
        assert ed.get(f"/meetings/{a}/review/api/doc").json()["rev"] == doc["rev"]
        ok = ed.post(f"/meetings/{a}/review/api/edit", headers={"X-CSRF-Token": good},
                     json={"op": "text", "index": 0, "text": "ただいまから開会いたします。", "rev": doc["rev"]})
        assert ok.status_code == 200, ok.text
        assert ed.post("/logout", headers={"X-CSRF-Token": good}).status_code == 200
        assert ed.get("/api/meetings").status_code == 401  # the session is gone on the server


def test_bearer_tokens_and_disabled_users(service):
    from pipeline.jobs.accounts import disable_user

    with service.bearer("editor_a") as api:
        assert api.get("/api/me").json() == {"name": "editor_a", "role": "editor", "role_label": "編集者",
                                             "body": BODY_A}
        made = api.post("/api/meetings", json={"meeting": {"body": BODY_A, "date": "2025-05-01"}})
        assert made.status_code == 201  # no CSRF token: a Bearer request is no browser's doing
        assert api.get("/api/meetings", headers={"Authorization": "Bearer " + "y" * 43}).status_code == 401
        browser = service.login("editor_a")
        with service.server.context.sessions() as s:
            disable_user(s, "editor_a")
            s.commit()
        refused = api.get("/api/meetings")
        assert refused.status_code == 401 and "無効" in refused.json()["error"]
        assert browser.get("/api/meetings").status_code == 401  # the open login ended too
        browser.close()
        again = service.client().post("/login", json={"name": "editor_a", "password": PASSWORD})
        assert again.status_code == 401


# ---------------------------------------------------------------- the login limit

@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_wrong_password_seven_times_is_slowed_per_account(tmp_path, request, backend):
    db = request.getfixturevalue("postgres")() if backend == "postgresql" else None
    svc = Service(make_server(tmp_path, db, delay_s=0.6, max_delay_s=5.0))
    # each try from another address: what slows the seventh is the account's count
    tries = iter(range(1, 100))
    post = lambda password: svc.client((f"10.1.0.{next(tries)}", 1)).post(
        "/login", json={"name": "editor_a", "password": password})
    for _ in range(6):
        assert post("wrong password").status_code == 401
    start = time.monotonic()
    held = post(PASSWORD)  # even the right password is not looked at before the wait is over
    assert held.status_code == 429 and "秒後" in held.json()["error"] and held.headers["Retry-After"] == "1"
    time.sleep(max(0.0, 0.65 - (time.monotonic() - start)))
    assert post("wrong password").status_code == 401  # the 7th failure: the next wait doubles (1.2 s)
    start = time.monotonic()
    assert post(PASSWORD).status_code == 429
    time.sleep(0.65)
    assert post(PASSWORD).status_code == 429  # 0.65 s < 1.2 s
    time.sleep(max(0.0, 1.25 - (time.monotonic() - start)))
    assert post(PASSWORD).status_code == 200
    # a good login clears the account's count
    assert post("wrong password").status_code == 401
    assert post(PASSWORD).status_code == 200
    # the other accounts were never held
    assert svc.client(("10.2.0.1", 1)).post("/login", json={"name": "editor_b", "password": PASSWORD}).status_code == 200


def test_many_names_from_one_address_are_slowed(tmp_path):
    svc = Service(make_server(tmp_path, delay_s=0.6))
    guesser = svc.client(("10.9.9.9", 1))
    for n in range(6):
        assert guesser.post("/login", json={"name": f"guess{n}", "password": "x"}).status_code == 401
    held = guesser.post("/login", json={"name": "editor_b", "password": PASSWORD})
    assert held.status_code == 429
    # the same account from another desk is not held
    assert svc.client(("10.9.9.10", 1)).post("/login", json={"name": "editor_b", "password": PASSWORD}).status_code == 200
    time.sleep(0.65)
    assert guesser.post("/login", json={"name": "editor_b", "password": PASSWORD}).status_code == 200


# ---------------------------------------------------------------- audit

def test_the_audit_log_has_the_edit_and_the_exports(service):
    a, b, job_a, _ = two_meetings(service)
    with service.login("editor_a", ("10.3.0.7", 1)) as ed:
        doc = ed.get(f"/meetings/{a}/review/api/doc").json()
        saved = ed.post(f"/meetings/{a}/review/api/edit",
                        json={"op": "text", "index": 1, "text": "講座を3件開催しました。", "rev": doc["rev"]})
        assert saved.status_code == 200, saved.text
        assert ed.get(f"/api/meetings/{a}/minutes.docx", params={"public": "1"}).status_code == 200
        refused = ed.get(f"/api/meetings/{b}/minutes.docx")  # not theirs: refused, and not an export
        assert refused.status_code == 404
        assert ed.get("/api/audit").status_code == 403 and ed.get("/audit").status_code == 403
    with service.bearer("admin") as admin:
        entries = admin.get("/api/audit", params={"meeting": a}).json()["entries"]
        by_action = {e["action"]: e for e in entries}
        edit = by_action["edit.saved"]
        assert edit["user"] == "editor_a" and edit["meeting"] == a and edit["address"] == "10.3.0.7"
        assert edit["detail"]["op"] == "text" and edit["detail"]["index"] == 1 and edit["action_label"] == "校正の保存"
        export = by_action["export"]
        assert export["user"] == "editor_a" and export["detail"] == {"format": "docx", "public": True}
        assert by_action["meeting.created"]["user"] == "admin"
        assert not [e for e in admin.get("/api/audit", params={"meeting": b}).json()["entries"]
                    if e["action"] == "export"]
        mine = admin.get("/api/audit", params={"user": "editor_a"}).json()["entries"]
        assert [e["action"] for e in mine] == ["export", "edit.saved", "login.ok"]  # newest first
        today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 9 * 3600))  # the audit's days are Japan's
        assert len(admin.get("/api/audit", params={"from": today, "to": today}).json()["entries"]) >= 5
        assert admin.get("/api/audit", params={"to": "2000-01-01"}).json()["entries"] == []
        assert admin.get("/api/audit", params={"from": "きのう"}).status_code == 422
        # the saved draft holds the edit the log names
        assert admin.get(f"/meetings/{a}/review/api/doc").json()["utterances"][1]["text"] == "講座を3件開催しました。"
        # the page
        with service.login("admin") as page:
            assert "監査ログ" in page.get("/audit").text


def test_the_review_page_loads_the_csrf_helper():
    """Every page that changes something sends the token: app.html and review.html load account.js
    before their own scripts."""
    static = REPO / "pipeline" / "web" / "static"
    for page, own in (("app.html", "app.js"), ("review.html", "review.js"), ("audit.html", "audit.js")):
        html = (static / page).read_text(encoding="utf-8")
        assert html.index('src="/static/account.js"') < html.index(f'src="/static/{own}"'), page


# ---------------------------------------------------------------- kaigiroku users

def test_users_add_prints_a_token_that_authenticates(tmp_path, cli_env):
    from pipeline.jobs.data import DataFolder

    data = DataFolder.open(tmp_path / "data")
    users = [*KAIGIROKU, "users"]
    where = ["--db", data.db_url]
    r = subprocess.run([*users, "add", "佐藤", "--role", "editor", "--body", BODY_A, *where, "--password-stdin"],
                       input=f"{PASSWORD}\n", capture_output=True, text=True, env=cli_env, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    assert len(token) >= 40 and token not in r.stderr
    server = make_server(tmp_path)  # the same data folder and database
    svc = Service.__new__(Service)
    svc.server, svc.tokens = server, {"佐藤": token}
    with svc.bearer("佐藤") as api:
        assert api.get("/api/me").json()["body"] == BODY_A
    # `users token` replaces it
    r2 = subprocess.run([*users, "token", "佐藤", *where], capture_output=True, text=True, env=cli_env, cwd=REPO,
                        timeout=120)
    new = r2.stdout.strip().splitlines()[-1]
    assert r2.returncode == 0 and new != token
    with svc.client(headers={"Authorization": f"Bearer {token}"}) as old:
        assert old.get("/api/me").status_code == 401
    svc.tokens["佐藤"] = new
    with svc.bearer("佐藤") as api:
        assert api.get("/api/me").status_code == 200
    listed = subprocess.run([*users, "list", *where], capture_output=True, text=True, env=cli_env, cwd=REPO, timeout=120)
    assert "佐藤\t編集者\t" + BODY_A + "\t有効" in listed.stdout
    # errors: one Japanese line, exit 1
    for args, text in ((["add", "佐藤", "--role", "admin", *where, "--password-stdin"], "もう登録されています"),
                       (["add", "鈴木", "--role", "admin", *where, "--password-stdin"], "10 文字以上"),
                       (["add", "鈴木", "--role", "recorder", *where], "--body"),
                       (["disable", "誰か", *where], "登録されていません")):
        bad = subprocess.run([*users, *args], input="short\n" if "佐藤" not in args else f"{PASSWORD}\n",
                             capture_output=True, text=True, env=cli_env, cwd=REPO, timeout=120)
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 1 and len(lines) == 1 and text in lines[0], (args, bad.stderr)
    # a new password: the old one no longer logs in
    pw = subprocess.run([*users, "password", "佐藤", *where, "--password-stdin"], input="another password 7\n",
                        capture_output=True, text=True, env=cli_env, cwd=REPO, timeout=120)
    assert pw.returncode == 0, pw.stderr
    with svc.client() as c:
        assert c.post("/login", json={"name": "佐藤", "password": PASSWORD}).status_code == 401
        assert c.post("/login", json={"name": "佐藤", "password": "another password 7"}).status_code == 200
    off = subprocess.run([*users, "disable", "佐藤", *where], capture_output=True, text=True, env=cli_env, cwd=REPO,
                         timeout=120)
    assert off.returncode == 0
    with svc.bearer("佐藤") as api:
        assert api.get("/api/me").status_code == 401


def test_list_filters_for_routes_of_other_pages(service):
    """visible_jobs / visible_bodies: what a job list or the roster page narrows its query with."""
    from sqlalchemy import select

    from pipeline.jobs.accounts import find_user, principal
    from pipeline.jobs.models import Body, Job
    from pipeline.web.access import SCOPE_KEY, visible_bodies, visible_jobs

    a, b, job_a, job_b = two_meetings(service)
    with service.server.context.sessions() as s:
        def scope(name):
            user = find_user(s, name)
            return {SCOPE_KEY: principal(user, s.get(Body, user.body_id) if user.body_id else None)}

        jobs = lambda sc: s.scalars(visible_jobs(sc, select(Job.id))).all()
        bodies = lambda sc: s.scalars(visible_bodies(sc, select(Body.name))).all()
        assert jobs(scope("editor_a")) == [job_a] and jobs(scope("editor_b")) == [job_b]
        assert sorted(jobs(scope("admin"))) == [job_a, job_b] and sorted(jobs({})) == [job_a, job_b]
        assert bodies(scope("recorder_a")) == [BODY_A] and sorted(bodies(scope("admin"))) == sorted([BODY_A, BODY_B])


def test_a_login_ends_after_the_idle_time(tmp_path):
    from datetime import timedelta

    from sqlalchemy import select

    from pipeline.jobs.models import LoginSession

    svc = Service(make_server(tmp_path, session_idle_s=600.0))
    with svc.login("editor_a") as ed:
        assert ed.get("/api/meetings").status_code == 200
        with svc.server.context.sessions() as s:
            row = s.scalar(select(LoginSession))
            row.last_seen -= timedelta(seconds=500)  # within the idle time: still in, and touched
            s.commit()
        assert ed.get("/api/meetings").status_code == 200
        with svc.server.context.sessions() as s:
            row = s.scalar(select(LoginSession))
            row.last_seen -= timedelta(seconds=601)
            s.commit()
        assert ed.get("/api/meetings").status_code == 401
        with svc.server.context.sessions() as s:
            assert s.scalar(select(LoginSession)) is None  # removed, not only refused


def test_rosters_and_done_follow_the_same_policy(service):
    """The roster pages' API (附属機関と名簿) and 完了 under accounts: a body's editor lists only
    their own body, cannot open another's or add a body; a recorder cannot mark 完了."""
    a, b, _, _ = two_meetings(service)
    with service.bearer("admin") as admin:
        bodies = {x["name"]: x["id"] for x in admin.get("/api/bodies").json()["bodies"]}
    assert {BODY_A, BODY_B} <= set(bodies)
    with service.bearer("editor_a") as ed:
        assert [x["name"] for x in ed.get("/api/bodies").json()["bodies"]] == [BODY_A]
        other = ed.get(f"/api/bodies/{bodies[BODY_B]}")
        assert other.status_code == 404
        r = ed.post("/api/bodies", json={"name": "新しい審議会"})
        assert r.status_code == 403 and "管理者" in r.json()["error"]
        new = ed.post("/api/meetings", content=MEETING_YAML.encode(), headers={"Content-Type": "application/yaml"})
        assert new.status_code == 201, new.text
        r = ed.put(f"/api/meetings/{new.json()['id']}", json={"meeting": {"body": BODY_B, "date": "2025-02-03"},
                                                             "participants": [{"name": "田中 一郎", "role": "会長"}]})
        assert r.status_code == 403, r.text  # never moved into another body
    with service.bearer("recorder_a") as rec:
        r = rec.post(f"/api/meetings/{a}/done")
        assert r.status_code == 403, r.text
    with service.bearer("admin") as admin:
        assert admin.post("/api/bodies", json={"name": "新しい審議会"}).status_code == 201


def test_deleting_a_meeting_is_an_editors_and_audited(service):
    """Only an editor of the meeting's body (or an admin) deletes it; the audit log keeps who."""
    a, b, job_a, _ = two_meetings(service)
    with service.bearer("recorder_a") as rec:
        assert rec.delete(f"/api/meetings/{a}").status_code == 403
    with service.bearer("editor_b") as other:
        assert other.delete(f"/api/meetings/{a}").status_code == 404
    with service.bearer("editor_a") as ed:
        r = ed.delete(f"/api/meetings/{a}")
        assert r.status_code == 200, r.text
        assert ed.get(f"/api/meetings/{a}").status_code == 404
    with service.bearer("admin") as admin:
        entries = admin.get("/api/audit", params={"meeting": a}).json()["entries"]
        assert [e["user"] for e in entries if e["action"] == "meeting.deleted"] == ["editor_a"]
        assert admin.get(f"/api/meetings/{b}").status_code == 200


def test_the_review_page_names_no_server_folder(service):
    """Inside the service (and the app) the review page may be on another PC: it names the
    draft's file, never the server's folders."""
    a, _, _, _ = two_meetings(service)
    root = str(service.server.context.data.root)
    with service.bearer("editor_a") as ed:
        doc = ed.get(f"/meetings/{a}/review/api/doc")
        assert doc.status_code == 200, doc.text
        assert doc.json()["file"] == "draft.json" and root not in doc.text


# ---------------------------------------------------------------- what the page offers

# The request each button of the meeting list (static/app.js) makes, by the operation named in
# the list's "can"; in this order, so the draft queued by "draft" is what "cancel" cancels and the
# meeting is deleted last.
PAGE_REQUESTS = {
    "detail": [("GET", "/api/meetings/{m}", {})],
    "yaml": [("GET", "/api/meetings/{m}/meeting.yaml", {})],
    "change": [("PUT", "/api/meetings/{m}", {"content": MEETING_YAML.encode(),
                                            "headers": {"Content-Type": "application/yaml"}})],
    "record": [("POST", "/api/meetings/{m}/record", {"json": {}})],
    "record_voice": [("POST", "/api/meetings/{m}/voices/山本 健一/record", {"json": {}})],
    "voice": [("PUT", "/api/meetings/{m}/voices/山本 健一", {"content": b"RIFF"})],
    "upload": [("PUT", "/api/meetings/{m}/recording", {"content": b"RIFF"})],
    "draft": [("POST", "/api/meetings/{m}/draft", {})],
    "cancel": [("DELETE", "/api/jobs/{j}", {})],
    "done": [("POST", "/api/meetings/{m}/done", {})],
    "review": [("GET", "/meetings/{m}/review/", {}), ("GET", "/meetings/{m}/review/api/doc", {})],
    "minutes": [("GET", "/api/meetings/{m}/minutes.docx", {}), ("GET", "/api/meetings/{m}/minutes.docx?public=1", {})],
    "delete": [("DELETE", "/api/meetings/{m}", {})],
}


@pytest.mark.parametrize("name", ["recorder_a", "editor_a", "admin"])
def test_the_list_offers_exactly_what_the_guard_lets_through(service, name):
    """GET /api/meetings' "can" (pipeline.web.access.meeting_can): every operation listed really
    passes the guard for this user, every one left out really answers 403 (the microphone pages,
    the single-PC app's only, are not on a shared server at all)."""
    from pipeline.web.access import MEETING_OPS, MICROPHONE_OPS

    assert list(PAGE_REQUESTS) == list(MEETING_OPS)  # a new operation needs its request here
    a, _, job_a, _ = two_meetings(service)
    with service.login(name) as c:
        listed = {m["id"]: m["can"] for m in c.get("/api/meetings").json()["meetings"]}
        can = listed[a]
        assert c.get(f"/api/meetings/{a}").json()["can"] == can
        editors = {"review", "minutes", "done", "delete"}
        if name == "recorder_a":
            assert not editors & set(can) and {"detail", "upload", "draft", "cancel"} <= set(can), can
        else:
            assert editors <= set(can), can
        assert not MICROPHONE_OPS & set(can)
        job = job_a
        for op, requests in PAGE_REQUESTS.items():
            for method, template, kw in requests:
                r = c.request(method, template.format(m=a, j=job), **kw)
                if op in MICROPHONE_OPS:
                    assert r.status_code == 404, (op, r.status_code, r.text)  # no such route here
                elif op in can:
                    assert r.status_code not in (401, 403), (name, op, r.status_code, r.text)
                    if op in ("detail", "yaml", "review", "minutes", "delete"):
                        assert r.status_code == 200, (name, op, r.status_code, r.text)
                else:
                    assert r.status_code == 403 and "録音者" in r.text, (name, op, r.status_code, r.text)
                if op == "draft" and r.status_code == 202:
                    job = r.json()["job"]  # "cancel" cancels this one
        assert c.get(f"/api/meetings/{a}").status_code == (200 if "delete" not in can else 404)
