"""Issue 14's end-to-end test in a real headless Chromium (Debian's chromium through Playwright),
with the PulseAudio null sink as the rig's microphone and the embedded models (slow: run under
the heavy-job lock).

On the pages: the body and its roster made on 附属機関と名簿, the meeting prepared on 会議の準備
by ticking (all present) with the sample's agenda; a voice registered from the mic while the
person's clip plays into the sink (the other three clips by the API, for a draft of the usual
quality),
listened to and kept in the roster; the bundled sample recorded while two agenda buttons are
pressed, the page left and opened again mid-recording; 終了; the draft job with visible
progress; one utterance edited on the review page; Word downloaded and read back with
python-docx: the header from the meeting, the two headings at the times they were pressed,
the edit.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse

import pytest
import soundfile as sf
import yaml
from docx import Document

from conftest import SAMPLE, screenshot
from pulse_rig import play
from scoring import STAMP, docx_headings, docx_rows
from test_app_record import App, put
from test_app_e2e import Api
from test_review_browser import browser, chromium_path  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

EDIT = "録音画面から作った原稿を直しました。"


def pick_pulse(page) -> None:
    """The input and channels, as the clerk picks them: the `pulse` device, 2 channels."""
    page.wait_for_selector("#device option", state="attached")
    value = page.evaluate("[...document.querySelectorAll('#device option')].find(o => o.textContent.includes(': pulse（')).value")
    page.select_option("#device", value)
    page.select_option("#channels", "2")


def seconds(stamp: str) -> int:
    h, m, s = (int(x) for x in re.search(r"(\d+):(\d+):(\d+)", stamp).groups())
    return h * 3600 + m * 60 + s


def test_a_meeting_from_the_mic_to_word(browser, pulse, tmp_path, cli_env):  # noqa: F811
    text = (SAMPLE / "meeting.yaml").read_text(encoding="utf-8")  # what the clerk types in
    meeting = yaml.safe_load(text)
    info = meeting["meeting"]
    data = tmp_path / "data"
    app = App(data, {**cli_env, "PULSE_SERVER": pulse["PULSE_SERVER"]}, tmp_path / "app.log")
    errors: list[str] = []
    try:
        api = Api(int(app.base.rsplit(":", 1)[1]), app.token)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: d.accept())
        page.goto(f"{app.base}/?token={app.token}")

        # ---- 附属機関と名簿: the body and its roster
        page.click("#bar nav a:text('附属機関と名簿')")
        page.wait_for_url("**/bodies")
        page.fill("#new-body input[name='name']", info["body"])
        page.fill("#new-body input[name='kind']", "審議会")
        page.click("#new-body button[type='submit']")
        page.wait_for_selector("#body:not([hidden])")
        for n, p in enumerate(meeting["participants"], 1):
            page.fill("#new-member input[name='name']", p["name"])
            page.select_option("#new-member select[name='role']", p["role"])
            page.fill("#new-member input[name='title']", p.get("title", ""))
            page.click("#new-member button[type='submit']")
            page.wait_for_function(f"document.querySelectorAll('#members tbody tr').length === {n}")
        screenshot(page, "2-bodies")

        # ---- 会議の準備: everyone on the roster ticked as present, the sample's agenda
        page.click("#prepare")
        page.wait_for_url("**/meetings/new?body=*")
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#people tbody input[type='checkbox']:checked").count() == len(meeting["participants"])
        page.fill("input[name='session']", info["session"])
        page.fill("input[name='day']", "2024-10-15")
        page.fill("input[name='start']", "14:00")
        page.fill("input[name='end']", "15:00")
        page.dispatch_event("input[name='end']", "change")
        assert page.input_value("input[name='date']") == info["date"]
        page.fill("input[name='place']", info["place"])
        page.fill("textarea[name='agenda']", "\n".join(info["agenda"]))
        screenshot(page, "3-prepare")
        page.click("#save")
        page.wait_for_url(f"{app.base}/")
        row = page.locator("#meetings tbody tr").first
        row.wait_for()
        mid = int(row.get_attribute("data-id"))
        row = page.locator(f"#meetings tbody tr[data-id='{mid}']")
        for p in meeting["participants"]:
            if p.get("voice") and p["name"] != "佐藤 由美":  # 佐藤's is registered from the mic below
                put(app, f"/api/meetings/{mid}/voices/{urllib.parse.quote(p['name'])}?name=v.flac",
                    (SAMPLE / p["voice"]).read_bytes())

        # ---- 声の登録: 佐藤 reads into the mic (her clip is played into the sink)
        row.locator("a", has_text="声の登録").click()
        page.wait_for_selector("#people tbody tr")
        page.locator("#people tr[data-name='佐藤 由美'] button").click()
        # the text to read, from the data file (fetched after the people are listed)
        page.wait_for_function("document.getElementById('reading').textContent.length > 150")
        pick_pulse(page)
        page.click("#rec")
        page.wait_for_function("!document.getElementById('end').disabled")
        clip = SAMPLE / "voices" / "sato.flac"
        player = play(pulse, clip, delay=0.5)
        page.wait_for_function("document.getElementById('elapsed').textContent >= '00:00:13'", timeout=30_000)
        player.wait(30)
        screenshot(page, "4-voice")
        assert float(page.evaluate("parseFloat(getComputedStyle(document.querySelector('.meter .fill')).width)")) >= 0
        page.click("#end")
        page.wait_for_selector("#check", state="visible")
        # played back before it is kept: the browser loads the take
        page.wait_for_function("document.getElementById('play').readyState >= 1")
        took = page.evaluate("document.getElementById('play').duration")
        assert abs(took - sf.info(str(clip)).duration - 2.0) < 2.0, took
        page.check("#consent")
        page.click("#keep")
        page.wait_for_function("document.getElementById('banner').textContent.includes('名簿にも残しました')")
        page.wait_for_function("document.querySelector(\"#people tr[data-name='佐藤 由美'] td:nth-child(3)\")?.textContent === '登録済み'")

        # ---- 録音: the sample into the mic, two agenda buttons pressed
        page.goto(f"{app.base}/")
        row.wait_for()
        row.locator("a", has_text="録音").first.click()
        page.wait_for_selector("#marks button")
        agenda = [b.get_attribute("data-label") for b in page.locator("#marks button").all()]
        assert agenda[-2:] == ["休憩", "再開"] and len(agenda) == 5
        pick_pulse(page)
        page.click("#start")
        page.wait_for_function("document.getElementById('state').textContent === '録音中'")
        player = play(pulse, SAMPLE / "meeting.flac", delay=1.0)
        played = time.monotonic() + 1.0
        page.click(f"#marks button[data-label='{agenda[0]}']")
        # navigating away does not stop the recording
        page.goto(f"{app.base}/")
        page.wait_for_function(f"document.querySelector(\"#meetings tr[data-id='{mid}'] td.state\")?.textContent.startsWith('録音中')")
        page.goto(f"{app.base}/meetings/{mid}/record")
        page.wait_for_function("document.getElementById('state').textContent === '録音中'")
        assert page.locator("#markers li").count() == 1
        time.sleep(max(0.0, played + 15.0 - time.monotonic()))  # within the 説明者's report (10.7–22.4 s)
        page.click(f"#marks button[data-label='{agenda[1]}']")
        page.wait_for_function("document.querySelectorAll('#markers li').length === 2")
        screenshot(page, "5-record")
        assert page.locator(".meter").count() == 2
        player.wait(120)
        time.sleep(1.0)
        page.click("#stop")
        page.wait_for_selector("#done", state="visible", timeout=60_000)
        assert "見出し 2 件" in page.inner_text("#done-text")
        [flac] = (data / "recordings" / str(mid)).glob("rec-*.flac")
        markers = json.loads((flac.parent / (flac.name + ".markers.json")).read_text(encoding="utf-8"))["markers"]
        assert [m["label"] for m in markers] == agenda[:2]

        # ---- 原稿作成: the job with visible progress in the list
        page.click("#draft")
        page.wait_for_url(f"{app.base}/")
        page.wait_for_selector(f"#meetings tr[data-id='{mid}'] .bar", timeout=120_000)
        shown, pictured = set(), False
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not row.locator("a", has_text="校正").count():
            line = row.locator(".jobline")
            if line.count():
                shown.add(line.inner_text())
                if not pictured and re.search(r"[1-9]\d*%", line.inner_text()):
                    screenshot(page, "6-drafting")
                    pictured = True
            time.sleep(1.0)
        assert row.locator("td.state").inner_text().startswith("校正中"), (tmp_path / "app.log").read_text()[-3000:]
        assert any(re.search(r"\d+%", s) for s in shown), shown

        # ---- 校正: one utterance edited on the review page inside the app
        with page.context.expect_page() as opened:
            row.locator("a", has_text="校正").click()
        review = opened.value
        review.on("pageerror", lambda e: errors.append(str(e)))
        review.wait_for_selector("body[data-ready='1']")
        review.locator("tr[data-i='1'] td.text").click()
        review.evaluate("""() => {
            const cell = document.querySelector("tr[data-i='1'] td.text");
            const sel = getSelection(); sel.removeAllRanges();
            const r = document.createRange(); r.selectNodeContents(cell); sel.addRange(r);
        }""")
        review.keyboard.insert_text(EDIT)
        review.click("#legend")
        review.wait_for_function("document.getElementById('status').textContent === '保存済み'")
        screenshot(review, "7-review")

        # ---- Word, downloaded from the list
        page.reload()
        row.wait_for()
        page.wait_for_function(f"document.querySelector(\"#meetings tr[data-id='{mid}'] td.state\")?.textContent.startsWith('校正中')")
        screenshot(page, "1-meetings")
        with page.expect_download() as got:
            row.locator("a", has_text="Word（原稿）").click()
        docx = tmp_path / "minutes.docx"
        got.value.save_as(docx)
        recordings = api.json("GET", f"/api/meetings/{mid}")["recording_list"]
    finally:
        app.stop()

    assert [r["source"] for r in recordings] == ["recorded"]
    header = {r.cells[0].text: r.cells[1].text for r in Document(str(docx)).tables[0].rows}
    assert header["附属機関名"] == info["body"] and header["回次"] == info["session"]
    assert header["日時"] == info["date"] and header["場所"] == info["place"]
    # the two headings pressed, at the times they were pressed (the stamp is the marker's time)
    assert docx_headings(docx) == agenda[:2]
    body = Document(str(docx)).tables[1]
    stamps = [STAMP.search(r.cells[0].text).group(0) for r in body.rows if r.cells[0]._tc is r.cells[-1]._tc]
    for stamp, marker in zip(stamps, markers):
        assert abs(seconds(stamp) - marker["time"]) <= 1.0, (stamp, marker)
    assert markers[1]["time"] - markers[0]["time"] >= 13.0
    rows = docx_rows(docx)
    assert any(t.endswith(EDIT) for _, t in rows), rows[:4]
    # the voice registered from the mic names its speaker: the report after the opening is 佐藤's (説明者)
    assert [label for label, _ in rows[:2]] == ["委員長", "説明者"], [label for label, _ in rows]
    [result] = (data / "results" / str(mid)).glob("rec-*.json")
    draft = json.loads(result.read_text(encoding="utf-8"))
    sato = next(s for s in draft["speakers"] if s["name"] == "佐藤 由美")
    assert sato["voice_source"] == "clip" and any(u["speaker"] == sato["id"] for u in draft["utterances"])
    assert not errors, errors


def test_roster_voice_and_the_recovery_banner(browser, pulse, tmp_path, cli_env):  # noqa: F811
    """No models: a roster member's voice read into the mic from the roster page (refused
    without consent, kept with it); then the app is killed while recording a meeting, and the
    next start's meeting list offers the recording with the issue's line and recovers it."""

    data = tmp_path / "data"
    env = {**cli_env, "PULSE_SERVER": pulse["PULSE_SERVER"]}
    app = App(data, env, tmp_path / "app.log")
    errors: list[str] = []
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{app.base}/?token={app.token}")
        bid = app.call("POST", "/api/bodies", {"name": "緑川町公民館運営審議会"})["id"]
        app.call("POST", f"/api/bodies/{bid}/members", {"name": "佐藤 由美", "role": "説明者"})
        page.goto(f"{app.base}/bodies?id={bid}")
        page.locator("#members a", has_text="マイクで録音").click()
        page.wait_for_selector("#panel:not([hidden])")
        assert page.inner_text("#who") == "佐藤 由美 さんの声"
        pick_pulse(page)
        page.click("#rec")
        page.wait_for_function("!document.getElementById('end').disabled")
        player = play(pulse, SAMPLE / "voices" / "sato.flac", delay=0.5)
        page.wait_for_function("document.getElementById('elapsed').textContent >= '00:00:12'", timeout=30_000)
        player.wait(30)
        page.click("#end")
        page.wait_for_selector("#check", state="visible")
        page.click("#keep")
        page.wait_for_function("document.getElementById('banner').textContent.includes('同意')")
        page.check("#consent")
        page.click("#keep")
        page.wait_for_function("document.getElementById('banner').textContent.includes('登録しました')")
        [member] = app.call("GET", f"/api/bodies/{bid}")["members"]
        assert member["voice"] and member["voice_consent"]

        mid = app.post_yaml((SAMPLE / "meeting.yaml").read_text(encoding="utf-8"))
        app.call("POST", f"/api/meetings/{mid}/record", {"device": "pulse", "channels": 2})
        time.sleep(2.0)
        app.kill9()
    finally:
        app.stop()
    app = App(data, env, tmp_path / "app.log")
    try:
        page.goto(f"{app.base}/?token={app.token}")
        page.wait_for_selector("#recovery")
        assert "前回の録音が途中で止まっています。復元しますか" in page.inner_text("#recovery")
        page.click(f"#recovery button[data-meeting='{mid}']")
        page.wait_for_function("document.getElementById('banner').textContent.includes('録音を復元しました')")
        page.wait_for_selector("#recovery", state="detached")
        page.wait_for_function(f"document.querySelector(\"#meetings tr[data-id='{mid}'] td.state\")?.textContent.startsWith('原稿作成待ち')")
        [row] = app.call("GET", f"/api/meetings/{mid}")["recording_list"]
        assert row["source"] == "recovered" and row["duration"] >= 1.0
    finally:
        app.stop()
    assert not errors, errors
