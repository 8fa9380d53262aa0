"""How Japanese text sounds: SudachiPy reading forms (katakana) with a map back to the text.

Whisper writes what it heard with whatever characters fit: 閉会 comes out as 編解 or 閉界, 再開
as 再会, 案件2 as 案件のに. The characters differ, the sounds hardly do, so rules that look for
what a speaker *said* compare readings (ヘンカイ ≈ ヘイカイ), not characters (issue 12).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from . import morph
from .morph import Token

# Sentence ends become 。 in a reading; pauses, spaces, brackets and the like are dropped
# (Whisper puts 、 wherever the speaker paused: 「案件1、行政経営…」 is said as one phrase).
_SENTENCE_END = set("。．.？?！!")
_NUMERAL = re.compile(r"^[0-9０-９]+$")

_UNITS = {1: ("イチ",), 2: ("ニ",), 3: ("サン",), 4: ("ヨン", "シ", "ヨ"), 5: ("ゴ",), 6: ("ロク",),
          7: ("ナナ", "シチ"), 8: ("ハチ",), 9: ("キュウ", "ク")}


def number_readings(n: int) -> tuple[str, ...]:
    """How a number is said, the usual reading first: 4 → ヨン, シ, ヨ; 12 → ジュウニ.

    Sudachi reads a written numeral digit by digit (14 → イチヨン), so written numbers get
    their readings from here."""
    if n <= 0 or n >= 100:
        return (str(n),)
    tens, unit = divmod(n, 10)
    head = ("",) if tens == 0 else ("ジュウ",) if tens == 1 else tuple(t + "ジュウ" for t in _UNITS[tens][:1])
    tail = ("",) if unit == 0 else _UNITS[unit]
    return tuple(h + t for h in head for t in tail)


@dataclass(frozen=True)
class Reading:
    """The katakana reading of a text, and for each of its characters the token it came from."""

    text: str
    tokens: tuple[Token, ...]
    token_of: tuple[int, ...]  # len(text) entries: index into tokens

    def begin(self, i: int) -> int:
        """Text offset where the token of reading character i begins."""
        return self.tokens[self.token_of[i]].begin if i < len(self.text) else (
            self.tokens[self.token_of[-1]].end if self.text else 0)

    def end(self, i: int) -> int:
        """Text offset where the token of reading character i - 1 ends (i is an end index)."""
        return self.tokens[self.token_of[i - 1]].end if i > 0 else 0

    def tokens_in(self, a: int, b: int) -> list[Token]:
        """The tokens that reading characters a … b - 1 came from."""
        seen = dict.fromkeys(self.token_of[a:b])
        return [self.tokens[k] for k in seen]

    def sentence_start(self, i: int) -> int:
        return self.text.rfind("。", 0, i) + 1


def read(text: str) -> Reading:
    out: list[str] = []
    token_of: list[int] = []
    tokens: list[Token] = []
    for t in morph.tokenize(text):
        if t.pos[0] == "補助記号" or t.pos[0] == "空白" or not t.surface.strip():
            if t.surface in _SENTENCE_END:
                reading = "。"
            else:
                continue
        elif _NUMERAL.match(t.surface):
            reading = number_readings(int(t.surface))[0]
        else:
            reading = t.reading or t.surface
        tokens.append(replace(t, reading=reading))
        out.append(reading)
        token_of += [len(tokens) - 1] * len(reading)
    return Reading("".join(out), tuple(tokens), tuple(token_of))


# Particles and honorific prefixes come and go when a title is said aloud: 「委員紹介」 is said
# 「委員をご紹介します」, 「本日の資料・案件の確認」 「本日の資料と案件の確認」.
LIGHT = frozenset("ノヲゴオトハガニ")
LIGHT_COST = 0.25


def distance(a: str, b: str, light: frozenset[str] = frozenset()) -> float:
    """Edit distance; inserting or deleting a `light` character costs LIGHT_COST."""
    def indel(c: str) -> float:
        return LIGHT_COST if c in light else 1.0

    prev = [0.0]
    for c in b:
        prev.append(prev[-1] + indel(c))
    for ca in a:
        row = [prev[0] + indel(ca)]
        for j, cb in enumerate(b):
            row.append(min(prev[j + 1] + indel(ca), row[j] + indel(cb), prev[j] + (ca != cb)))
        prev = row
    return prev[-1]


def best_prefix(text: str, start: int, target: str, light: frozenset[str] = frozenset(),
                slack: int = 4) -> tuple[float, int]:
    """The prefix of text[start:] (within the sentence) closest to `target`: (distance, end)."""
    stop = text.find("。", start)
    stop = len(text) if stop < 0 else stop
    window = text[start:min(stop, start + len(target) + slack)]
    best = (float("inf"), start)
    for length in range(max(1, len(target) - slack), len(window) + 1):
        d = distance(window[:length], target, light)
        if d < best[0]:
            best = (d, start + length)
    return best
