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


def _body(path: Path):
    tables = Document(str(path)).tables
    return max(tables, key=lambda t: sum(len(c.text) for r in t.rows for c in r.cells))


def docx_rows(path: Path) -> list[tuple[str, str]]:
    """(label, text) rows of the 発言要旨 table; full-width (merged) heading rows left out,
    as score_docx.py does."""
    return [(r.cells[0].text, r.cells[-1].text) for r in _body(path).rows
            if r.cells[0]._tc is not r.cells[-1]._tc]


def docx_headings(path: Path) -> list[str]:
    """The agenda heading rows (merged full-width) of the 発言要旨 table, time stamp removed."""
    return [STAMP.sub("", r.cells[0].text).strip() for r in _body(path).rows
            if r.cells[0]._tc is r.cells[-1]._tc]


def truth_text(truth_json: Path) -> str:
    truth = json.loads(truth_json.read_text(encoding="utf-8"))
    return "".join(t["spoken"] for t in truth["turns"])


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = norm(reference), norm(hypothesis)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))


def role_cer(truth_json: Path, rows: list[tuple[str, str]]) -> float:
    """raCER: per role, that role's text against the reference role's text (score_docx.py)."""
    from collections import defaultdict

    truth = json.loads(truth_json.read_text(encoding="utf-8"))
    ref, hyp = defaultdict(str), defaultdict(str)
    for t in truth["turns"]:
        ref[t["role"]] += norm(t["spoken"])
    for label, text in rows:
        hyp[label] += norm(text)
    errors = sum(Levenshtein.distance(ref.get(r, ""), hyp.get(r, "")) for r in set(ref) | set(hyp))
    return errors / max(1, sum(len(v) for v in ref.values()))


def label_sequence(labels: list[str]) -> list[str]:
    """Labels with consecutive repeats collapsed: the order in which people took the floor."""
    out: list[str] = []
    for label in labels:
        if not out or out[-1] != label:
            out.append(label)
    return out
