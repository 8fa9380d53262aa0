"""Character error rate of a draft against a truth.json, as ../shared/bench/score_docx.py counts it."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from docx import Document
from rapidfuzz.distance import Levenshtein

PUNCT = re.compile(r"[\s、。，．,.・「」『』（）()［］\[\]？！?!…‥：:；;“”\"'〜~―－\-]+")
STAMP = re.compile(r"[\[［(（〔【]\s*\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?\s*[\]］)）〕】]")


def norm(text: str) -> str:
    return PUNCT.sub("", STAMP.sub("", unicodedata.normalize("NFKC", text)))


def docx_rows(path: Path) -> list[tuple[str, str]]:
    """(label, text) rows of the largest two-column table: the 発言要旨."""
    tables = Document(str(path)).tables
    body = max(tables, key=lambda t: sum(len(c.text) for r in t.rows for c in r.cells))
    return [(r.cells[0].text, r.cells[-1].text) for r in body.rows]


def truth_text(truth_json: Path) -> str:
    truth = json.loads(truth_json.read_text(encoding="utf-8"))
    return "".join(t["spoken"] for t in truth["turns"])


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = norm(reference), norm(hypothesis)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))
