"""Japanese words: SudachiPy with its core dictionary, loaded once for every stage that asks.

The cleaning decides numerals and vocabulary fixes from words (十分 is an adjective, 四日市市 a
place name), and the 黒塗り候補 search looks for names; both read the same tokens from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# SudachiPy refuses longer input ("it can't be more than 49149 bytes"); an utterance of a long
# monologue can pass that, so text is tokenized in pieces cut after a sentence end.
_MAX_CHARS = 12000


@dataclass(frozen=True)
class Token:
    surface: str
    begin: int  # character offsets into the text that was tokenized
    end: int
    pos: tuple[str, ...]  # Sudachi's part of speech: ("名詞", "数詞", "*", …)
    reading: str  # katakana (十分 形状詞: ジュウブン; 十 + 分: ジュウ, フン)
    oov: bool  # not in the dictionary

    @property
    def numeral(self) -> bool:
        return self.pos[1] == "数詞"


@lru_cache(maxsize=1)
def tokenizer():
    """The one Sudachi tokenizer (ImportError when SudachiPy or its dictionary is missing)."""
    from sudachipy import Dictionary

    return Dictionary(dict="core").tokenizer()


def available() -> bool:
    try:
        tokenizer()
    except ImportError:
        return False
    return True


def tokenize(text: str, mode: str = "C") -> list[Token]:
    """Mode C: the longest dictionary words (第三者, 一人一人, 四日市市 stay whole)."""
    from sudachipy import SplitMode

    split = getattr(SplitMode, mode)
    out: list[Token] = []
    for offset, piece in _pieces(text):
        for m in tokenizer().tokenize(piece, split):
            out.append(Token(m.surface(), offset + m.begin(), offset + m.end(), tuple(m.part_of_speech()),
                             m.reading_form(), m.is_oov()))
    return out


def _pieces(text: str):
    start = 0
    while len(text) - start > _MAX_CHARS:
        cut = max(text.rfind(c, start, start + _MAX_CHARS) for c in "。？！、 ") + 1
        if cut <= start:
            cut = start + _MAX_CHARS
        yield start, text[start:cut]
        start = cut
    if start < len(text):
        yield start, text[start:]
