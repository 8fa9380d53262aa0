"""黒塗り候補: personal information the editor must review before the minutes are published.

Minutes and disclosed documents must have personal information masked (one committee member in
the reference meeting complains it was not). The draft marks candidates, it never masks: names
of people who are not participants (SudachiPy's 人名, with the core dictionary), phone numbers,
e-mail addresses, street addresses (a 地名 followed by 番地/丁目/番/号) and ages.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Sequence

from .meeting import Meeting
from .readings import tokenizer
from .types import Mark, Utterance

logger = logging.getLogger(__name__)

_PATTERNS = (
    ("電話番号", re.compile(r"0\d{1,4}[-‐－−ー]\d{1,4}[-‐－−ー]\d{3,4}|0\d{9,10}")),
    ("メールアドレス", re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")),
    ("年齢", re.compile(r"\d{1,3}(歳|才)")),
    ("住所", re.compile(r"\d+丁目(\d+番(地)?)?(\d+号)?|\d+番地(の\d+)?")),
)


@dataclass(frozen=True)
class PiiOptions:
    enabled: bool
    names: bool  # look for names of people and places with SudachiPy



def _known_names(meeting: Meeting) -> set[str]:
    """Participants, absentees and vocabulary: their names are not personal information here."""
    known: set[str] = set(meeting.vocabulary)
    for name in [p.name for p in meeting.participants] + list(meeting.absent):
        known.add(name.replace(" ", "").replace("\u3000", ""))
        known.update(part for part in re.split(r"[\s\u3000]+", name) if part)
    return known


def name_spans(text: str, known: set[str]) -> list[tuple[int, int, str]]:
    from sudachipy import SplitMode

    out: list[tuple[int, int, str]] = []
    tokens = list(tokenizer().tokenize(text, SplitMode.C))
    for i, m in enumerate(tokens):
        pos = m.part_of_speech()
        if pos[1] != "固有名詞":
            continue
        if pos[2] == "人名" and m.surface() not in known and not any(m.surface() in k for k in known):
            out.append((m.begin(), m.end(), "人名"))
        elif pos[2] == "地名" and i + 2 < len(tokens) and tokens[i + 1].part_of_speech()[1] == "数詞" \
                and tokens[i + 2].surface() in ("番地", "丁目", "番", "号"):
            out.append((m.begin(), tokens[i + 2].end(), "住所"))
    # 姓 + 名 side by side are one name
    merged: list[tuple[int, int, str]] = []
    for span in out:
        if merged and merged[-1][2] == span[2] == "人名" and merged[-1][1] == span[0]:
            merged[-1] = (merged[-1][0], span[1], "人名")
        else:
            merged.append(span)
    return merged


def find_pii(utterances: Sequence[Utterance], meeting: Meeting, options: PiiOptions) -> tuple[Utterance, ...]:
    if not options.enabled:
        return tuple(utterances)
    known = _known_names(meeting)
    use_names = options.names
    if use_names:
        try:
            tokenizer()
        except ImportError:
            logger.warning("SudachiPy がないため、人名・地名の黒塗り候補は探しません。")
            use_names = False
    out = []
    for u in utterances:
        spans = [(m.start(), m.end(), kind) for kind, rx in _PATTERNS for m in rx.finditer(u.text)]
        if use_names and u.text:
            spans += name_spans(u.text, known)
        marks = tuple(Mark(a, b, "pii", kind) for a, b, kind in sorted(set(spans)))
        out.append(replace(u, marks=tuple(m for m in u.marks if m.kind != "pii") + marks))
    return tuple(out)
