"""`kaigiroku app`'s meeting list in a real headless Chromium (issue 14), no draft (no models).

Chromium is Debian's `chromium` driven by Playwright through `executable_path`, as in
test_review_browser.py. The page is opened with the printed address, a meeting is added with the
form and is listed as 準備中, a broken meeting.yaml shows the CLI's message, a recording is
uploaded through the file chooser and the meeting becomes 原稿作成待ち with its 原稿作成 button.
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
    assert not errors
