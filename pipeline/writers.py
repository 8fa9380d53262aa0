"""One writer per output format, chosen by name (`get_writer`), after openai/whisper.

Every writer takes the typed result (`Minutes`) and a path, and writes atomically. The docx
takes its styling (fonts, sizes, margins, table widths) from configs/minutes-template.docx.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .errors import KaigirokuError
from .fileio import atomic_path
from .meeting import Meeting, empty_meeting
from .types import Heading, Mark, Minutes, Utterance

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[str, ...]  # which writers `draft` runs (docx, json, txt, srt, vtt, rttm)
    timestamps: bool  # print each utterance's start time in the draft
    template: str  # .docx holding the styles; relative names are under configs/
    public: bool  # the variant for publication: no flags, no timestamps


Writer = Callable[[Minutes, Path, ExportOptions], None]

MEMBER_ROLES = ("委員長", "副委員長", "会長", "副会長", "委員")
# Highlight colours (python-docx WD_COLOR_INDEX names) and shading, explained in the legend.
LOW_CONFIDENCE_COLOR = "YELLOW"
PII_COLOR = "TURQUOISE"
HEADING_COLOR = "BRIGHT_GREEN"  # where an agenda item may start (pipeline.agenda: not sure enough)
# Where marks overlap, the first kind here colours the words (黒塗り候補 must never be hidden).
MARK_COLORS = (("pii", PII_COLOR), ("heading", HEADING_COLOR), ("low_confidence", LOW_CONFIDENCE_COLOR))
SPEAKER_FLAG_FILL = "FFF2CC"  # light yellow shading of the speaker cell


def hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms % 3600000 // 60000:02d}:{ms % 60000 // 1000:02d}{sep}{ms % 1000:03d}"


def rows(minutes: Minutes) -> Iterator[Heading | Utterance]:
    """Headings and utterances in reading order."""
    headings = sorted(minutes.headings, key=lambda h: h.before)
    k = 0
    for i, u in enumerate(minutes.utterances):
        while k < len(headings) and headings[k].before <= i:
            yield headings[k]
            k += 1
        yield u
    yield from headings[k:]


def result_json(minutes_dict: dict) -> bytes:
    """The bytes of OUT.json. The review page's store writes edits with this too: its revision
    is a hash of these bytes, so both must format alike."""
    return json.dumps(minutes_dict, ensure_ascii=False, indent=1).encode("utf-8")


def write_json(minutes: Minutes, path: Path, options: ExportOptions) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(result_json(minutes.to_dict()))


def _text_file(path: Path, lines: list[str]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_txt(minutes: Minutes, path: Path, options: ExportOptions) -> None:
    stamps = options.timestamps and not options.public
    lines = []
    for row in rows(minutes):
        stamp = f"[{hms(row.time if isinstance(row, Heading) else row.start)}] " if stamps else ""
        if isinstance(row, Heading):
            lines.append(f"\n{stamp}■ {row.title}")
        else:
            lines.append(f"{stamp}{minutes.speaker(row.speaker).label}　{row.text}")
    _text_file(path, lines)


def write_srt(minutes: Minutes, path: Path, options: ExportOptions) -> None:
    lines = []
    for n, u in enumerate(minutes.utterances, 1):
        lines += [str(n), f"{_clock(u.start, ',')} --> {_clock(u.end, ',')}",
                  f"{minutes.speaker(u.speaker).label}：{u.text}", ""]
    _text_file(path, lines)


def write_vtt(minutes: Minutes, path: Path, options: ExportOptions) -> None:
    lines = ["WEBVTT", ""]
    for u in minutes.utterances:
        lines += [f"{_clock(u.start, '.')} --> {_clock(u.end, '.')}",
                  f"<v {minutes.speaker(u.speaker).label}>{u.text}", ""]
    _text_file(path, lines)


def write_rttm(minutes: Minutes, path: Path, options: ExportOptions) -> None:
    """Diarization as RTTM (speaker = printed label), for scoring with pyannote.metrics."""
    uri = Path(minutes.audio.path).stem.replace(" ", "_")
    labels = {s.id: s.label.replace(" ", "_") for s in minutes.speakers}
    # overlapped speech: the second voice's lines interleave with the turns, as RTTM allows
    turns = sorted(minutes.turns + minutes.overlaps, key=lambda t: (t.start, t.end)) or minutes.utterances
    lines = [f"SPEAKER {uri} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {labels.get(t.speaker, t.speaker)} <NA> <NA>"
             for t in turns]
    _text_file(path, lines)


def header_rows(meeting: Meeting) -> list[tuple[str, str]]:
    """The 会議録 header table (see shared/reference/CONVENTIONS.md); empty where unknown."""
    info, people = meeting.info, meeting.participants
    members = [p.name for p in people if p.role in MEMBER_ROLES]
    staff = [" ".join(x for x in (p.title, p.name) if x) for p in people if p.role == "事務局"]
    attendance = []
    if members or meeting.absent:
        attendance += ["委員（敬称略）", f"出席者：{'、'.join(members)}",
                       f"欠席者：{'、'.join(meeting.absent) if meeting.absent else 'なし'}"]
    if staff:
        attendance.append(f"事務局：{'、'.join(staff)}")
    explainers = [" ".join(x for x in (p.title, p.name) if x) for p in people if p.role == "説明者"]
    return [
        ("附属機関名", info.body),
        ("回次", info.session),
        ("日時", info.date),
        ("場所", info.place),
        ("出席者等", "\n".join(attendance)),
        ("次第及び進行", "\n".join(info.agenda)),
        ("説明者", "\n".join(explainers)),
    ]


def _template(options: ExportOptions) -> Path:
    path = Path(options.template)
    path = path if path.is_absolute() else CONFIG_DIR / path
    if not path.is_file():
        raise KaigirokuError(f"会議録のひな形 {path} が見つかりません。export.template の設定を確認してください。")
    return path


def write_docx(minutes: Minutes, path: Path, options: ExportOptions) -> None:
    from docx import Document  # python-docx; only the exporter needs it

    doc = Document(str(_template(options)))
    if len(doc.tables) < 2:
        raise KaigirokuError(f"会議録のひな形 {_template(options)} に表が2つ（見出し表と発言表）ありません。ひな形を作り直してください。")
    header_proto, body_proto = (_copy_table(t) for t in doc.tables[:2])
    for t in doc.tables[:2]:
        t._tbl.getparent().remove(t._tbl)
    meeting = Meeting.from_dict(minutes.meeting) if minutes.meeting else empty_meeting()
    public = options.public
    doc.add_paragraph("会 議 録", style="会議録タイトル")
    header = _new_table(doc, header_proto)
    for label, value in header_rows(meeting):
        left, right = _new_row(header, header_proto)
        left.paragraphs[0].text = label
        lines = value.split("\n") if value else [""]
        right.paragraphs[0].text = lines[0]
        for line in lines[1:]:
            right.add_paragraph(line)
    doc.add_paragraph("発言要旨", style="会議録見出し")
    body = _new_table(doc, body_proto)
    used = set()
    for row in rows(minutes):
        left, right = _new_row(body, body_proto)
        if isinstance(row, Heading):
            cell = left.merge(right)  # a full-width row: the agenda heading
            for extra in cell.paragraphs[1:]:  # merging leaves one empty paragraph per cell
                extra._p.getparent().remove(extra._p)
            para = cell.paragraphs[0]
            para.style = doc.styles["会議録議題"]
            if options.timestamps and not public:
                para.add_run(f"[{hms(row.time)}] ", style="会議録時刻")
            para.add_run(row.title)
            continue
        left.paragraphs[0].text = minutes.speaker(row.speaker).label
        para = right.paragraphs[0]
        if options.timestamps and not public:
            para.add_run(f"[{hms(row.start)}] ", style="会議録時刻")
        if public:
            para.add_run(row.text)
            continue
        if row.speaker_uncertain:
            _shade(left, SPEAKER_FLAG_FILL)
            used.add("speaker")
        runs: dict[Mark, list] = {}
        for text, marks in _segments(row):
            run = para.add_run(text)
            kinds = {m.kind for m in marks}
            if kinds:
                run.font.highlight_color = _color(next((c for k, c in MARK_COLORS if k in kinds), LOW_CONFIDENCE_COLOR))
                used |= kinds
            for m in marks:
                runs.setdefault(m, []).append(run)
        for m, marked in runs.items():
            if m.kind == "heading":
                _comment(doc, marked, f"見出しの候補：{m.note}（ここで次第の区切りか、録音で確認してください）")
    legend = _legend(used, options.timestamps and not public)
    if legend:
        doc.add_paragraph("凡例　" + "　".join(legend), style="会議録凡例")
    with atomic_path(path) as tmp:
        doc.save(str(tmp))


def _legend(used: set[str], timestamps: bool) -> list[str]:
    out = []
    if "speaker" in used:
        out.append("話者欄が黄色の発言は、声の照合が不確かです。録音で話者を確認してください。")
    if "low_confidence" in used:
        out.append("黄色の語は、音声認識の確からしさが低い語です。")
    if "pii" in used:
        out.append("水色の語は、公開前に確認が必要な個人情報の候補（黒塗り候補）です。")
    if "heading" in used:
        out.append("緑の語は、次第の区切り（見出し）の候補です。ここから次の議題か確かめ、そうなら見出しを入れてください。")
    if timestamps:
        out.append("[時:分:秒] は録音の開始からの時刻です。")
    return out


def _segments(u: Utterance) -> list[tuple[str, tuple[Mark, ...]]]:
    """Split the text where the set of marks covering it changes."""
    cuts = sorted({0, len(u.text)} | {m.start for m in u.marks} | {m.end for m in u.marks})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        if a >= b or b > len(u.text):
            continue
        out.append((u.text[a:b], tuple(m for m in u.marks if m.start <= a and b <= m.end)))
    return out


def _comment(doc, runs, text: str) -> None:
    """A Word comment on the runs (python-docx ≥ 1.2); the highlight and legend say it otherwise."""
    if hasattr(doc, "add_comment"):
        doc.add_comment(runs, text=text, author="kaigiroku", initials="K")


def _color(name: str):
    from docx.enum.text import WD_COLOR_INDEX

    return getattr(WD_COLOR_INDEX, name)


def _copy_table(table):
    tbl = copy.deepcopy(table._tbl)
    model_row = copy.deepcopy(tbl.tr_lst[0])
    for tr in list(tbl.tr_lst):
        tbl.remove(tr)
    return tbl, model_row


def _new_table(doc, proto):
    from docx.table import Table

    tbl = copy.deepcopy(proto[0])
    body = doc.element.body
    sect = body.sectPr
    if sect is not None:
        sect.addprevious(tbl)
    else:
        body.append(tbl)
    return Table(tbl, doc._body)


def _new_row(table, proto):
    from docx.table import _Row

    tr = copy.deepcopy(proto[1])
    table._tbl.append(tr)
    return _Row(tr, table).cells


def _shade(cell, fill: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shd)


_WRITERS: dict[str, Writer] = {"docx": write_docx, "json": write_json, "txt": write_txt,
                               "srt": write_srt, "vtt": write_vtt, "rttm": write_rttm}


def get_writer(name: str) -> Writer:
    try:
        return _WRITERS[name]
    except KeyError:
        raise KaigirokuError(f"出力形式「{name}」には対応していません。使える形式: {', '.join(_WRITERS)}。") from None

