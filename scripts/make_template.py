#!/usr/bin/env python3
"""Write configs/minutes-template.docx: the styling of the 会議録 draft.

Fonts, sizes, margins and table styles live in this template, not in the writer's code, so a
town can restyle the draft in Word (open the template, change the styles, save) without code.
Run once after changing this script: ``.venv/bin/python scripts/make_template.py``.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

OUT = Path(__file__).resolve().parent.parent / "configs" / "minutes-template.docx"
# Japanese government documents are usually set in MS 明朝 / Century; Word substitutes 游明朝
# and LibreOffice maps MS 明朝 to IPA/Noto Mincho through fontconfig when those are missing.
MINCHO = "ＭＳ 明朝"
LATIN = "Century"


def set_fonts(style, size: float, bold: bool = False) -> None:
    style.font.name = LATIN
    style.font.size = Pt(size)
    style.font.bold = bold
    style.font.color.rgb = RGBColor(0, 0, 0)
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), MINCHO if attr == "w:eastAsia" else LATIN)


def paragraph_style(doc, name: str, size: float, bold=False, align=None, before=0, after=0):
    try:
        style = doc.styles[name]
    except KeyError:
        style = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = doc.styles["Normal"]
    set_fonts(style, size, bold)
    fmt = style.paragraph_format
    fmt.space_before, fmt.space_after = Pt(before), Pt(after)
    if align is not None:
        fmt.alignment = align
    return style


def main() -> None:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)  # A4
    section.top_margin = section.bottom_margin = Mm(25)
    section.left_margin = section.right_margin = Mm(20)
    paragraph_style(doc, "Normal", 10.5)
    paragraph_style(doc, "会議録タイトル", 16, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=12)
    paragraph_style(doc, "会議録見出し", 12, bold=True, before=12, after=6)
    paragraph_style(doc, "会議録表", 10.5)
    paragraph_style(doc, "会議録議題", 10.5, bold=True)  # agenda heading rows (開会, 案件1 …)
    stamp = doc.styles.add_style("会議録時刻", WD_STYLE_TYPE.CHARACTER)  # [00:12:34] before each utterance
    stamp.font.size = Pt(8)
    stamp.font.color.rgb = RGBColor(0x59, 0x59, 0x59)
    paragraph_style(doc, "会議録凡例", 9, before=12)
    set_fonts(doc.styles["Table Grid"], 10.5)
    body = doc.element.body
    for child in list(body):
        if child.tag != qn("w:sectPr"):
            body.remove(child)
    # Two prototype tables, copied by the writer: 1) the header (項目 | 内容), 2) the 発言要旨
    # (発言者 | 発言). Their widths, borders and style are the draft's; edit them in Word.
    for widths in ((Mm(32), Mm(138)), (Mm(28), Mm(142))):
        table = doc.add_table(rows=1, cols=2)
        table.style = doc.styles["Table Grid"]
        table.autofit = False
        for cell, width in zip(table.rows[0].cells, widths):
            cell.width = width
        for col, width in zip(table.columns, widths):
            col.width = width
    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc.save(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
