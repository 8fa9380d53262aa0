"""附属機関と名簿 and 会議の準備 in a real headless Chromium (issue 14, pages 2 and 3).

A body and its roster are made on /bodies (one member marked 退任), its next meeting is prepared
on /meetings/new by unticking the one absent member and adding a guest, the CLI's Japanese line
is shown for a name given twice, and the saved meeting is in the meeting list with what was
ticked; the edit page shows it back. No models (the app's worker idles).
"""

from __future__ import annotations

import json

import pytest

from test_app_browser import app_url  # noqa: F401 - the fixture
from test_review_browser import browser, chromium_path  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

BODY = "緑川町公民館運営審議会"


def api_json(page, path: str):
    return json.loads(page.evaluate("async (p) => await (await fetch(p)).text()", path))


def test_roster_then_a_meeting_prepared_by_ticking(browser, app_url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    page.goto(app_url)
    page.click("#bar nav a:text('附属機関と名簿')")
    page.wait_for_url("**/bodies")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('更新')")
    assert page.locator("#empty").is_visible()

    page.fill("#new-body input[name='name']", BODY)
    page.fill("#new-body input[name='kind']", "審議会")
    page.click("#new-body button[type='submit']")
    page.wait_for_selector("#body:not([hidden])")
    assert page.inner_text("#body-title") == f"{BODY}（審議会）"
    people = [("山本 健一", "委員長", ""), ("小林 明子", "委員", ""), ("石井 真理", "委員", ""),
              ("佐藤 由美", "説明者", "生涯学習課長"), ("森 優子", "委員", "")]
    for n, (name, role, title) in enumerate(people, 1):
        page.fill("#new-member input[name='name']", name)
        page.select_option("#new-member select[name='role']", role)
        page.fill("#new-member input[name='title']", title)
        page.click("#new-member button[type='submit']")
        page.wait_for_function(f"document.querySelectorAll('#members tbody tr').length === {n}")
    # a member who left: out of the roster's list and of the next meeting
    page.locator("#members tbody tr", has=page.locator("input[value='森 優子']")).locator("button", has_text="退任にする").click()
    page.wait_for_function("document.querySelectorAll('#members tbody tr').length === 4")
    page.check("#show-left")
    assert page.locator("#members tbody tr.left").count() == 1
    # a member moved up the roster
    page.locator("#members tbody tr", has=page.locator("input[value='佐藤 由美']")).locator("button[title='上へ']").click()
    page.wait_for_function("document.querySelectorAll('#members tbody tr')[2].querySelector('input').value === '佐藤 由美'")
    # a role that does not exist cannot be chosen; an empty name is refused with one Japanese line
    page.fill("#new-member input[name='name']", "　")
    page.click("#new-member button[type='submit']")
    page.wait_for_selector("#banner.error")
    assert page.inner_text("#banner") == "氏名を入力してください。"

    page.click("#prepare")
    page.wait_for_url("**/meetings/new?body=*")
    page.wait_for_selector("body[data-ready='1']")
    names = page.locator("#people tbody tr td:nth-child(2) input")
    assert [names.nth(i).input_value() for i in range(names.count())] == \
        ["山本 健一", "小林 明子", "佐藤 由美", "石井 真理"]
    assert page.locator("#people tbody input[type='checkbox']:checked").count() == 4
    page.locator("#people tbody tr", has=page.locator("input[value='小林 明子']")).locator("input[type='checkbox']").uncheck()
    page.fill("input[name='session']", "令和6年度 第3回")
    page.fill("input[name='day']", "2024-12-10")
    page.fill("input[name='start']", "14:00")
    page.fill("input[name='end']", "15:00")
    page.dispatch_event("input[name='end']", "change")
    assert page.input_value("input[name='date']") == "令和6年12月10日（火曜日） 14時00分から15時00分まで"
    page.fill("input[name='place']", "緑川町中央公民館 2階 会議室")
    page.fill("textarea[name='agenda']", "14:00 開会\n14:05 案件1 公民館講座について\n15:00 閉会")

    # a guest with a roster member's name: the CLI's line, nothing saved
    page.click("#add-guest")
    guest = page.locator("#people tbody tr").last
    guest.locator("td:nth-child(2) input").fill("山本 健一")
    page.click("#save")
    page.wait_for_selector("#banner.error")
    assert "参加者 山本 健一 が2回書かれています" in page.inner_text("#banner")
    assert api_json(page, "/api/meetings")["meetings"] == []
    guest.locator("td:nth-child(2) input").fill("田中 一郎")
    guest.locator("select").select_option("事務局")
    guest.locator("td:nth-child(4) input").fill("生涯学習課 主査")
    page.click("#save")

    page.wait_for_url(lambda url: url.rstrip("/").endswith(str(app_url.split("/?")[0]).rstrip("/")))
    row = page.locator("#meetings tbody tr").first
    row.wait_for()
    assert row.locator("td").nth(0).inner_text() == BODY
    assert row.locator("td").nth(1).inner_text() == "令和6年度 第3回"
    assert row.locator("td.state").inner_text().startswith("準備中")
    mid = int(row.get_attribute("data-id"))
    got = api_json(page, f"/api/meetings/{mid}")
    assert [(p["name"], p["role"], p["title"]) for p in got["participants"]] == [
        ("山本 健一", "委員長", None), ("佐藤 由美", "説明者", "生涯学習課長"), ("石井 真理", "委員", None),
        ("田中 一郎", "事務局", "生涯学習課 主査")]
    assert got["absent"] == ["小林 明子"] and got["held_on"] == "2024-12-10"
    assert got["agenda"][1] == "14:05 案件1 公民館講座について"

    # the edit page shows it back: 小林 unticked, the guest as a row of their own
    row.locator("a", has_text="編集").click()
    page.wait_for_selector("body[data-ready='1']")
    assert page.input_value("input[name='session']") == "令和6年度 第3回"
    ticked = page.locator("#people tbody tr:not(.absent) td:nth-child(2) input")
    assert sorted(ticked.nth(i).input_value() for i in range(ticked.count())) == \
        sorted(["山本 健一", "佐藤 由美", "石井 真理", "田中 一郎"])
    assert page.locator("#people tbody tr.absent td:nth-child(2) input").input_value() == "小林 明子"
    assert page.get_attribute("#export", "href") == f"/api/meetings/{mid}/meeting.yaml"

    # the body's next meeting: 回次, hours and place follow the last one; pick the day and save
    page.goto(app_url.split("/?")[0] + "/meetings/new")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("input[name='body']", BODY)
    page.dispatch_event("input[name='body']", "change")
    page.wait_for_function("document.querySelectorAll('#people tbody tr').length === 5")  # 田中 joined the roster
    assert page.input_value("input[name='session']") == "令和6年度 第4回"
    assert (page.input_value("input[name='start']"), page.input_value("input[name='end']")) == ("14:00", "15:00")
    assert page.input_value("input[name='place']") == "緑川町中央公民館 2階 会議室"
    page.fill("input[name='day']", "2025-02-04")
    page.dispatch_event("input[name='day']", "change")
    assert page.input_value("input[name='date']") == "令和7年2月4日（火曜日） 14時00分から15時00分まで"
    page.click("#save")
    page.wait_for_function("document.querySelectorAll('#meetings tbody tr').length === 2")
    assert page.locator("#meetings tbody tr").first.locator("td").nth(1).inner_text() == "令和6年度 第4回"
    assert not errors


def test_done_from_the_list_shows_what_was_learned(browser, app_url, tmp_path, options):  # noqa: F811
    """完了にする on a corrected result (made by the real cleaning, edited with the review page's
    function, stored where a finished draft leaves it): the notices in Japanese, the state, and
    the meeting's page locked with what 完了 learned."""
    from test_app_roster import drafted
    from test_words import edited_result

    from pipeline.jobs.data import DataFolder

    from conftest import SAMPLE

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    page.goto(app_url)
    page.wait_for_function("document.getElementById('status').textContent.startsWith('更新')")
    mid = page.evaluate("""async (text) => (await (await fetch('/api/meetings', {method: 'POST',
        headers: {'Content-Type': 'application/yaml'}, body: text})).json()).id""",
                        (SAMPLE / "meeting.yaml").read_text(encoding="utf-8"))
    data = DataFolder(tmp_path / "data")
    drafted(data, data.db_url, mid, edited_result(tmp_path, options, "meeting-1", {"新議会": "審議会"}))
    page.reload()
    row = page.locator(f"#meetings tbody tr[data-id='{mid}']")
    row.locator("button", has_text="完了にする").click()
    page.wait_for_selector("#banner.info")
    notice = page.inner_text("#banner")
    assert notice.startswith("完了にしました。") and "直した語を 1 組記録しました" in notice
    assert "同意が記録されていないため、声は学習しません" in notice
    page.wait_for_function(f"document.querySelector(\"#meetings tbody tr[data-id='{mid}'] td.state\").textContent === '完了'")
    assert row.locator("button", has_text="完了にする").count() == 0

    row.locator("a", has_text="内容").click()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#locked").is_visible() and page.locator("input[name='session']").is_disabled()
    assert page.input_value("input[name='session']") == "令和6年度 第2回"
    learned = page.inner_text("#learning")
    assert "直した語を 1 組記録しました" in learned and "声は学習しません" in learned
    assert not errors
