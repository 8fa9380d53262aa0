"""One writer per output format, chosen by name (`get_writer`), after openai/whisper.

Every writer takes the typed result (`Minutes`) and a path, and writes atomically.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import KaigirokuError
from .fileio import atomic_path
from .meeting import Meeting, empty_meeting
from .types import Minutes

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[str, ...]  # which writers `draft` runs (docx, json, txt)
    timestamps: bool  # print each utterance's start time in the draft
    template: str  # .docx holding the styles; relative names are under configs/


Writer = Callable[[Minutes, Path, ExportOptions], None]

MEMBER_ROLES = ("委員長", "副委員長", "会長", "副会長", "委員")


def hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def write_json(minutes: Minutes, path: Path, options: ExportOptions) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(minutes.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")


def write_txt(minutes: Minutes, path: Path, options: ExportOptions) -> None:
    lines = []
    for u in minutes.utterances:
        stamp = f"[{hms(u.start)}] " if options.timestamps else ""
        lines.append(f"{stamp}{minutes.speaker(u.speaker).label}　{u.text}")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


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
    meeting = Meeting.from_dict(minutes.meeting) if minutes.meeting else empty_meeting()
    doc.add_paragraph("会 議 録", style="会議録タイトル")
    _table(doc, header_rows(meeting), widths=(3.2, 13.8))
    doc.add_paragraph("発言要旨", style="会議録見出し")
    body = doc.add_table(rows=0, cols=2)
    body.style = doc.styles["Table Grid"]
    flagged = 0
    for u in minutes.utterances:
        left, right = body.add_row().cells
        left.paragraphs[0].text = minutes.speaker(u.speaker).label
        if u.speaker_uncertain:
            _shade(left, SPEAKER_FLAG_FILL)
            flagged += 1
        para = right.paragraphs[0]
        if options.timestamps:
            para.add_run(f"[{hms(u.start)}] ", style="会議録時刻")
        para.add_run(u.text)
    _set_widths(body, (3.2, 13.8))
    legend = []
    if flagged:
        legend.append("話者欄が黄色の発言は、声の照合が不確かです。録音で話者を確認してください。")
    if options.timestamps:
        legend.append("[時:分:秒] は録音の開始からの時刻です。")
    if legend:
        doc.add_paragraph("凡例　" + "　".join(legend), style="会議録凡例")
    with atomic_path(path) as tmp:
        doc.save(str(tmp))


SPEAKER_FLAG_FILL = "FFF2CC"  # light yellow: check who is speaking


def _shade(cell, fill: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shd)


def _table(doc, rows: list[tuple[str, str]], widths: tuple[float, float]):
    table = doc.add_table(rows=0, cols=2)
    table.style = doc.styles["Table Grid"]
    for label, value in rows:
        left, right = table.add_row().cells
        left.paragraphs[0].text = label
        lines = value.split("\n") if value else [""]
        right.paragraphs[0].text = lines[0]
        for line in lines[1:]:
            right.add_paragraph(line)
    _set_widths(table, widths)
    return table


def _set_widths(table, widths_cm: tuple[float, ...]) -> None:
    from docx.shared import Cm

    table.autofit = False
    for row in table.rows:
        for cell, w in zip(row.cells, widths_cm):
            cell.width = Cm(w)


_WRITERS: dict[str, Writer] = {"docx": write_docx, "json": write_json, "txt": write_txt}


def get_writer(name: str) -> Writer:
    try:
        return _WRITERS[name]
    except KeyError:
        raise KaigirokuError(f"出力形式「{name}」には対応していません。使える形式: {', '.join(_WRITERS)}。") from None


def formats() -> tuple[str, ...]:
    return tuple(_WRITERS)
