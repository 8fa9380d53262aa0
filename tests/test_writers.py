import json

import pytest
from docx import Document

from pipeline.errors import KaigirokuError
from pipeline.fileio import check_writable
from pipeline.meeting import Meeting, MeetingInfo, Participant
from pipeline.types import AudioInfo, Heading, Mark, Minutes, Segment, Speaker, Transcript, Turn, Utterance, Word
from pipeline.writers import get_writer, header_rows


def minutes() -> Minutes:
    w1 = (Word(1.0, 1.5, "ただいまから", 0.95), Word(1.5, 2.2, "開会します", 0.9))
    w2 = (Word(3725.0, 3726.0, "資料に", 0.4), Word(3726.0, 3727.0, "沿って説明します", 0.88))
    meeting = Meeting(
        info=MeetingInfo(body="おいらせ町行政経営推進委員会", session="令和2年度 第1回", date="令和2年9月25日",
                         place="庁議室", agenda=("14:00 開会", "15:30 閉会")),
        participants=(Participant("田中 哲", "委員長"), Participant("中村 将人", "委員"),
                      Participant("兼田 敦史", "事務局", title="総務課 主任主査"),
                      Participant("川原 和貴", "説明者", title="政策推進課 主任主査")),
        absent=("苫米地 義之",))
    return Minutes(
        audio=AudioInfo("m.flac", "0" * 64, 4000.0, 16000, 1),
        meeting=meeting.to_dict(),
        transcript=Transcript("ja", 4000.0, (Segment(1.0, 2.2, "ただいまから開会します", w1),
                                             Segment(3725.0, 3727.0, "資料に沿って説明します", w2))),
        speakers=(Speaker("S1", "委員長"), Speaker("S2", "説明者")),
        utterances=(Utterance(1.0, 2.2, "S1", w1, "ただいまから開会します。", 0.91, 0.4),
                    Utterance(3725.0, 3727.0, "S2", w2, "資料に沿って説明します。", 0.62, 0.03, True)),
        created="2026-11-26T10:00:00+09:00",
    )


def test_docx_has_title_header_and_one_row_per_utterance(tmp_path, options):
    path = tmp_path / "d.docx"
    get_writer("docx")(minutes(), path, options.export)
    doc = Document(str(path))
    assert doc.paragraphs[0].text == "会 議 録"
    assert any(p.text == "発言要旨" for p in doc.paragraphs)
    header, body = doc.tables
    values = {r.cells[0].text: r.cells[1].text for r in header.rows}
    assert list(values) == ["附属機関名", "回次", "日時", "場所", "出席者等", "次第及び進行", "説明者"]
    assert values["附属機関名"] == "おいらせ町行政経営推進委員会"
    assert "出席者：田中 哲、中村 将人" in values["出席者等"]
    assert "欠席者：苫米地 義之" in values["出席者等"]
    assert "事務局：総務課 主任主査 兼田 敦史" in values["出席者等"]
    assert values["次第及び進行"] == "14:00 開会\n15:30 閉会"
    assert values["説明者"] == "政策推進課 主任主査 川原 和貴"
    rows = [(r.cells[0].text, r.cells[1].text) for r in body.rows]
    assert rows == [("委員長", "[00:00:01] ただいまから開会します。"),
                    ("説明者", "[01:02:05] 資料に沿って説明します。")]
    # the time stamp is its own small run, so an editor can strip it with a style search
    assert body.rows[0].cells[1].paragraphs[0].runs[0].style.name == "会議録時刻"
    # the uncertain speaker is shaded, the sure one is not, and the legend explains it
    fills = [r.cells[0]._tc.xpath("./w:tcPr/w:shd/@w:fill") for r in body.rows]
    assert fills == [[], ["FFF2CC"]]
    assert "話者欄が黄色" in doc.paragraphs[-1].text


def test_docx_without_meeting_file_leaves_header_cells_empty(tmp_path, options):
    from dataclasses import replace

    path = tmp_path / "d.docx"
    get_writer("docx")(replace(minutes(), meeting=None), path, options.export)
    header = Document(str(path)).tables[0]
    assert [r.cells[1].text for r in header.rows] == [""] * 7


def test_json_round_trips_the_typed_result(tmp_path, options):
    path = tmp_path / "d.json"
    m = minutes()
    get_writer("json")(m, path, options.export)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["utterances"][1]["words"][0] == {"start": 3725.0, "end": 3726.0, "text": "資料に",
                                                 "probability": 0.4}
    assert Minutes.from_dict(data) == m


def test_txt(tmp_path, options):
    path = tmp_path / "d.txt"
    get_writer("txt")(minutes(), path, options.export)
    assert path.read_text(encoding="utf-8").splitlines()[1] == "[01:02:05] 説明者　資料に沿って説明します。"


def test_unknown_format():
    with pytest.raises(KaigirokuError, match="pdf"):
        get_writer("pdf")


def test_existing_output_is_never_replaced_without_force(tmp_path, options):
    path = tmp_path / "edited.docx"
    path.write_bytes(b"the editor's corrected draft")
    with pytest.raises(KaigirokuError, match="--force"):
        check_writable(path, force=False)
    check_writable(path, force=True)


def test_a_failing_writer_leaves_the_old_file_and_no_temp_file(tmp_path, options, monkeypatch):
    from pipeline import writers

    path = tmp_path / "d.json"
    path.write_text("old", encoding="utf-8")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers.json, "dumps", boom)
    with pytest.raises(KaigirokuError, match="ディスクがいっぱい"):
        get_writer("json")(minutes(), path, options.export)
    assert path.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json"]


def test_header_rows_names_only_members_as_attendees():
    m = Meeting.from_dict(minutes().meeting)
    attendance = dict(header_rows(m))["出席者等"]
    assert "兼田" not in attendance.split("\n")[1]


def rich_minutes() -> Minutes:
    from dataclasses import replace

    m = minutes()
    u0, u1 = m.utterances
    u1 = replace(u1, marks=(Mark(0, 3, "low_confidence"), Mark(5, 7, "pii", "人名")))
    return replace(m, utterances=(u0, u1),
                   headings=(Heading(0, 0.5, "開会", "agenda"), Heading(1, 3725.0, "案件1 公民館講座について", "agenda"),
                             Heading(2, 3800.0, "閉会", "agenda")),
                   turns=(Turn(1.0, 2.2, "S1"), Turn(3725.0, 3727.0, "S2")))


def test_heading_rows_are_merged_full_width_rows_in_order(tmp_path, options):
    path = tmp_path / "d.docx"
    get_writer("docx")(rich_minutes(), path, options.export)
    body = Document(str(path)).tables[1]
    merged = [r.cells[0]._tc is r.cells[-1]._tc for r in body.rows]
    assert merged == [True, False, True, False, True]
    assert [r.cells[0].text for r in body.rows if r.cells[0]._tc is r.cells[-1]._tc] == [
        "[00:00:00] 開会", "[01:02:05] 案件1 公民館講座について", "[01:03:20] 閉会"]


def test_marked_words_are_highlighted_and_explained(tmp_path, options):
    from docx.enum.text import WD_COLOR_INDEX

    path = tmp_path / "d.docx"
    get_writer("docx")(rich_minutes(), path, options.export)
    doc = Document(str(path))
    runs = doc.tables[1].rows[3].cells[1].paragraphs[0].runs
    coloured = [(r.text, r.font.highlight_color) for r in runs if r.font.highlight_color]
    assert coloured == [("資料に", WD_COLOR_INDEX.YELLOW), ("て説", WD_COLOR_INDEX.TURQUOISE)]
    legend = doc.paragraphs[-1].text
    assert "黄色の語" in legend and "黒塗り候補" in legend and "話者欄が黄色" in legend


def test_a_suggested_heading_is_highlighted_commented_and_explained(tmp_path, options):
    from dataclasses import replace

    from docx.enum.text import WD_COLOR_INDEX

    m = minutes()
    u0, u1 = m.utterances
    u1 = replace(u1, marks=(Mark(0, 3, "heading", "案件1 講座について"), Mark(1, 3, "low_confidence")))
    path = tmp_path / "d.docx"
    get_writer("docx")(replace(m, utterances=(u0, u1)), path, options.export)
    doc = Document(str(path))
    runs = doc.tables[1].rows[1].cells[1].paragraphs[0].runs
    assert [(r.text, r.font.highlight_color) for r in runs if r.font.highlight_color] == [
        ("資", WD_COLOR_INDEX.BRIGHT_GREEN), ("料に", WD_COLOR_INDEX.BRIGHT_GREEN)]  # green over yellow
    assert "緑の語" in doc.paragraphs[-1].text and "黄色の語" in doc.paragraphs[-1].text
    if hasattr(doc, "comments"):  # python-docx >= 1.2
        assert [c.text for c in doc.comments] == ["見出しの候補：案件1 講座について（ここで次第の区切りか、録音で確認してください）"]
    public = tmp_path / "public.docx"
    get_writer("docx")(replace(m, utterances=(u0, u1)), public, replace(options.export, public=True))
    doc = Document(str(public))
    assert not any(r.font.highlight_color for row in doc.tables[1].rows for r in row.cells[1].paragraphs[0].runs)
    assert not list(getattr(doc, "comments", []))


def test_public_variant_has_no_flags_and_no_times(tmp_path, options):
    from dataclasses import replace

    path = tmp_path / "public.docx"
    get_writer("docx")(rich_minutes(), path, replace(options.export, public=True))
    doc = Document(str(path))
    body = doc.tables[1]
    assert [r.cells[-1].text for r in body.rows] == ["開会", "ただいまから開会します。", "案件1 公民館講座について",
                                                     "資料に沿って説明します。", "閉会"]
    assert not any(r.font.highlight_color for row in body.rows for p in row.cells[1].paragraphs for r in p.runs)
    assert not body.rows[3].cells[0]._tc.xpath("./w:tcPr/w:shd")
    assert all(p.style.name != "会議録凡例" for p in doc.paragraphs)


def test_subtitle_and_rttm_writers(tmp_path, options):
    m = rich_minutes()
    for fmt in ("srt", "vtt", "rttm"):
        get_writer(fmt)(m, tmp_path / f"d.{fmt}", options.export)
    srt = (tmp_path / "d.srt").read_text(encoding="utf-8").splitlines()
    assert srt[:3] == ["1", "00:00:01,000 --> 00:00:02,200", "委員長：ただいまから開会します。"]
    vtt = (tmp_path / "d.vtt").read_text(encoding="utf-8").splitlines()
    assert vtt[0] == "WEBVTT" and vtt[3] == "<v 委員長>ただいまから開会します。"
    rttm = (tmp_path / "d.rttm").read_text(encoding="utf-8").splitlines()
    assert rttm[1] == "SPEAKER m 1 3725.000 2.000 <NA> <NA> 説明者 <NA> <NA>"


def test_second_voices_are_in_the_rttm_and_survive_the_json(tmp_path, options):
    """Issue #13: overlapped speech keeps its second speaker in the exported turns."""
    from dataclasses import replace

    from pipeline.types import Minutes, Turn

    m = rich_minutes()
    m = replace(m, turns=(Turn(1.0, 4.0, m.utterances[0].speaker),),
                overlaps=(Turn(3.0, 4.0, m.utterances[1].speaker),))
    get_writer("rttm")(m, tmp_path / "d.rttm", options.export)
    rttm = (tmp_path / "d.rttm").read_text(encoding="utf-8").splitlines()
    labels = {s.id: s.label for s in m.speakers}
    assert rttm == [f"SPEAKER m 1 1.000 3.000 <NA> <NA> {labels[m.utterances[0].speaker]} <NA> <NA>",
                    f"SPEAKER m 1 3.000 1.000 <NA> <NA> {labels[m.utterances[1].speaker]} <NA> <NA>"]
    assert Minutes.from_dict(m.to_dict()).overlaps == m.overlaps
