"""The shared service's login in a real headless Chromium (issue 15), through uvicorn on a
loopback socket: the login page, a meeting list that shows only the editor's body, a meeting
added from the page (its POST carries the CSRF token that static/account.js adds), an edit
saved on the review page (review.js's own fetch gets the token too) and found in the audit
log, and logout. No models: the draft is test_review's small synthetic result.
"""

from __future__ import annotations

import threading

import pytest

from conftest import screenshot
from test_accounts import BODY_A, PASSWORD, Service, two_meetings
from test_review_browser import browser, chromium_path  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


@pytest.fixture()
def served(tmp_path):
    from pipeline.jobs.options import AccountOptions
    from pipeline.web.app import make_server, prepare_app

    server, sock = prepare_app(tmp_path / "data", accounts=AccountOptions())
    svc = Service(server)
    uv = make_server(server)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield svc, f"http://127.0.0.1:{server.port}"
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()


def test_login_list_edit_audit_logout(browser, served):  # noqa: F811
    svc, base = served
    a, b, _, _ = two_meetings(svc)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    assert page.url == base + "/login?next=%2F"
    page.fill("#name", "editor_a")
    screenshot(page, "8-login")
    page.fill("#password", "wrong password")
    page.click("#submit")
    page.wait_for_selector("#banner.error")
    assert "違います" in page.inner_text("#banner")
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url(base + "/")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('更新')")
    rows = page.locator("#meetings tbody tr")
    assert rows.count() == 1 and rows.first.locator("td").nth(0).inner_text() == BODY_A
    page.wait_for_selector("#account")
    assert "editor_a（編集者・" in page.inner_text("#account") and page.locator("#account a").count() == 0
    # the editor's row offers the review and Word (GET /api/meetings' "can")
    ops = page.locator(f"#meetings tbody tr[data-id='{a}'] td.ops")
    for text in ("校正", "Word（原稿）", "Word（公開用）"):
        assert ops.locator(f"a:text-is('{text}')").count() == 1, (text, ops.inner_text())
    assert ops.locator("button:text-is('完了にする')").count() == 1

    # a meeting added from the page: the POST passes the CSRF check
    page.click("button[data-tab='form']")
    page.fill("#form-fields input[name='body']", BODY_A)
    page.fill("#form-fields input[name='session']", "令和7年度 第1回")
    page.fill("#form-fields input[name='date']", "令和7年5月20日")
    page.click("#form-fields button[type='submit']")
    page.wait_for_function("document.querySelectorAll('#meetings tbody tr').length === 2")

    # the review page of the body's meeting: an edit is saved, then found in the audit log
    page.goto(f"{base}/meetings/{a}/review/")
    page.wait_for_selector("body[data-ready='1']")
    page.locator("tr[data-i='0'] td.text").click()
    page.keyboard.press("End")
    page.keyboard.insert_text("（ブラウザから）")
    page.click("#legend")
    page.wait_for_function("document.getElementById('status').textContent === '保存済み'")
    # the other body's review page is as missing as a meeting that does not exist
    assert "まだありません" in page.goto(f"{base}/meetings/{b}/review/").text()

    with svc.bearer("admin") as admin:
        edits = [e for e in admin.get("/api/audit", params={"meeting": a}).json()["entries"]
                 if e["action"] == "edit.saved"]
        assert len(edits) == 1 and edits[0]["user"] == "editor_a" and edits[0]["address"] == "127.0.0.1"
        assert admin.get(f"/meetings/{a}/review/api/doc").json()["utterances"][0]["text"].endswith("（ブラウザから）")

    page.goto(base + "/")
    page.wait_for_selector("#logout")
    page.click("#logout")
    page.wait_for_url(base + "/login")
    page.goto(base + "/audit")
    assert page.url == base + "/login?next=%2Faudit"

    # the admin lands on the audit page they asked for, and finds the edit there
    page.fill("#name", "admin")
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url(base + "/audit")
    page.fill("#user", "editor_a")
    page.click("#filter button[type='submit']")
    page.wait_for_selector("#entries tbody tr td:text-is('校正の保存')")
    screenshot(page, "9-audit")
    row = page.locator("#entries tbody tr", has_text="校正の保存")
    assert row.count() == 1 and f"会議 {a}" in row.inner_text() and "editor_a" in row.inner_text()

    # a recorder's list offers no review, Word, 完了 or 削除 (the server would answer 403), but the
    # recorder's own work; the shared server has no microphone pages to link to
    rec = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    rec.on("pageerror", lambda e: errors.append(str(e)))
    rec.goto(base + "/")
    rec.fill("#name", "recorder_a")
    rec.fill("#password", PASSWORD)
    rec.click("#submit")
    rec.wait_for_url(base + "/")
    rec.wait_for_function("document.getElementById('status').textContent.startsWith('更新')")
    ops = rec.locator(f"#meetings tbody tr[data-id='{a}'] td.ops")
    shown = ops.inner_text()
    for text in ("校正", "Word", "完了にする", "削除", "録音", "声の登録"):
        assert ops.locator(f":is(a, button):text-is('{text}')").count() == 0, (text, shown)
    assert "Word" not in shown and "校正" not in shown
    for text in ("詳細", "原稿を作り直す", "録音を取り込み直す", "meeting.yaml"):
        assert ops.locator(f":is(a, button):text-is('{text}')").count() == 1, (text, shown)
    assert errors == []
