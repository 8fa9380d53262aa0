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
