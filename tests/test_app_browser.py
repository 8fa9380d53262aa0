"""`kaigiroku app`'s pages in a real headless Chromium (issue 14).

Chromium is Debian's `chromium` driven by Playwright through `executable_path`, as in
test_review_browser.py. The page is opened with the printed address, a meeting is added with the
form and is listed as 準備中, a broken meeting.yaml shows the CLI's message, a recording is
uploaded through the file chooser and the meeting becomes 原稿作成待ち with its 原稿作成 button.
Then a real draft (embedded models: run with the heavy-job lock) is started from the list,
corrected on the review page the app serves for the meeting, and both Word files carry the edit.
"""

from __future__ import annotations

import re
import signal
import subprocess

import pytest

from conftest import KAIGIROKU, REPO
from test_review_browser import browser, chromium_path  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


@pytest.fixture()
def app_url(tmp_path, cli_env):
    proc = subprocess.Popen([*KAIGIROKU, "app", "--no-browser", "--data", str(tmp_path / "data")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env, cwd=REPO)
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=[\w-]+)", line)
    if not m:
        proc.kill()
        pytest.fail(f"no URL from kaigiroku app: {line!r} {proc.stderr.read()}")
    yield m.group(1)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_meeting_list_form_and_upload(browser, app_url, sample_dir):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url)
    assert "token" not in page.url
    page.wait_for_function("document.getElementById('status').textContent.startsWith('更新')")
    assert page.locator("#empty").is_visible()

    page.click("button[data-tab='form']")
    page.fill("#form-fields input[name='body']", "緑川町公民館運営審議会")
    page.fill("#form-fields input[name='session']", "令和6年度 第2回")
    page.fill("#form-fields input[name='date']", "令和6年10月15日（火曜日） 14時00分から15時00分まで")
    page.fill("#form-fields textarea[name='agenda']", "14:00 開会\n15:00 閉会")
    page.fill("#form-fields textarea[name='participants']", "山本 健一, 委員長\n佐藤 由美, 説明者, 生涯学習課長")
    page.click("#form-fields button[type='submit']")
    row = page.locator("#meetings tbody tr").first
    row.wait_for()
    assert row.locator("td").nth(0).inner_text() == "緑川町公民館運営審議会"
    assert row.locator("td.state").inner_text().startswith("準備中")
    page.wait_for_selector("#detail-people tbody tr")
    assert page.locator("#detail-people tbody tr").count() == 2

    # a broken meeting file: the CLI's line, nothing added
    page.click("button[data-tab='paste']")
    page.fill("#yaml", "participants:\n  - name: 田中\n    role: 書記\n")
    page.click("#form-paste button[type='submit']")
    page.wait_for_selector("#banner.error")
    assert "書記" in page.inner_text("#banner")
    assert page.locator("#meetings tbody tr").count() == 1

    # an IC recorder's file
    with page.expect_file_chooser() as chooser:
        row.locator("button", has_text="録音を取り込む").click()
    chooser.value.set_files(str(sample_dir / "voices" / "sato.flac"))
    page.wait_for_function("document.querySelector('#meetings tbody tr td.state').textContent.startsWith('原稿作成待ち')")
    assert page.locator("#meetings tbody tr button", has_text="原稿作成").count() == 1

    # search
    page.fill("#q", "都市計画")
    page.click("#search button[type='submit']")
    page.wait_for_function("document.querySelectorAll('#meetings tbody tr').length === 0")
    page.fill("#q", "令和6年10月15日")
    page.click("#search button[type='submit']")
    page.wait_for_function("document.querySelectorAll('#meetings tbody tr').length === 1")

    # 削除: asked first (dismissed: nothing happens), then accepted: gone with its message
    page.once("dialog", lambda d: d.dismiss())
    row.locator("button", has_text="削除").click()
    assert page.locator("#meetings tbody tr").count() == 1
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    row.locator("button", has_text="削除").click()
    page.wait_for_function("document.querySelectorAll('#meetings tbody tr').length === 0")
    assert "元に戻せません" in asked[0] and "削除しました" in page.inner_text("#banner")
    assert not errors


def test_review_inside_the_app(browser, app_url, sample_dir):  # noqa: F811
    """A real draft through the app, corrected on the review page the app serves for the
    meeting; the Word file from the API has the correction (embedded models: run with the lock)."""
    import time
    import urllib.parse

    import yaml
    from docx import Document

    from test_app_e2e import Api

    port = int(re.search(r":(\d+)/", app_url).group(1))
    api = Api(port, urllib.parse.parse_qs(urllib.parse.urlparse(app_url).query)["token"][0])
    text = (sample_dir / "meeting.yaml").read_text(encoding="utf-8")
    mid = api.json("POST", "/api/meetings", text.encode("utf-8"), "application/yaml")["id"]
    for p in yaml.safe_load(text)["participants"]:
        if p.get("voice"):
            api.json("PUT", f"/api/meetings/{mid}/voices/{urllib.parse.quote(p['name'])}",
                     (sample_dir / p["voice"]).read_bytes(), "audio/flac")
    api.json("PUT", f"/api/meetings/{mid}/recording?name=meeting.flac", (sample_dir / "meeting.flac").read_bytes())

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url)
    page.locator("#meetings tbody tr button", has_text="原稿作成").click()
    # the list follows the job: a progress bar while it runs, then 校正中 with the links
    page.wait_for_selector("#meetings tbody tr .bar, #meetings tbody tr a:text('校正')", timeout=60_000)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not page.locator("#meetings tbody tr a", has_text="校正").count():
        time.sleep(1)
    assert page.locator("#meetings tbody tr td.state").inner_text().startswith("校正中")

    with page.context.expect_page() as opened:
        page.locator("#meetings tbody tr a", has_text="校正").click()
    review = opened.value
    review.on("pageerror", lambda e: errors.append(str(e)))
    review.wait_for_selector("body[data-ready='1']")
    assert review.url.endswith(f"/meetings/{mid}/review/")
    cell = review.locator("tr[data-i='1'] td.text")
    cell.click()
    review.evaluate("""() => {
        const cell = document.querySelector("tr[data-i='1'] td.text");
        const sel = getSelection(); sel.removeAllRanges();
        const r = document.createRange(); r.selectNodeContents(cell); sel.addRange(r);
    }""")
    review.keyboard.insert_text("校正画面で直した発言です。")
    review.click("#legend")
    review.wait_for_function("document.getElementById('status').textContent === '保存済み'")

    status, docx = api.call("GET", f"/api/meetings/{mid}/minutes.docx")
    assert status == 200
    import io

    rows = [(r.cells[0].text, r.cells[1].text) for r in Document(io.BytesIO(docx)).tables[1].rows]
    assert any(t.endswith("校正画面で直した発言です。") for _, t in rows), rows[:6]
    # 公開用: the correction too, without the times the draft shows for checking
    status, docx = api.call("GET", f"/api/meetings/{mid}/minutes.docx?public=1")
    public = [(r.cells[0].text, r.cells[1].text) for r in Document(io.BytesIO(docx)).tables[1].rows]
    assert "校正画面で直した発言です。" in [t for _, t in public]
    assert not any(t.startswith("[00:") for _, t in public)
    assert not errors
