"""Clean the verbatim text into 会議録 style, keeping every character traceable to its words.

ケバ取り (standalone fillers), 公用文 punctuation (、。 and full-width ？！, no half-width
punctuation among Japanese), Arabic numerals in horizontal text (公用文作成の考え方, 2022) where a
number counts something, and a correction dictionary. The raw words stay in OUT.json; the
cleaned text is derived, so cleaning can be changed and re-exported at any time.

Text is handled as parallel lists (characters, index of the source word), so that after any
substitution each character still knows which Whisper word it came from; that is how the
draft highlights low-confidence words inside cleaned text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from .errors import KaigirokuError
from .types import Mark, Utterance, Word

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
INSERTED = -1  # source index of characters the cleaner added (punctuation)

SENTENCE_ENDS = ("ます", "です", "ました", "でした", "ません", "ください", "でしょう", "でしょうか",
                 "ですか", "ますか", "ませんか", "ですね", "ますね", "だ", "である", "た", "か", "ね", "よ")
PUNCT = "、。，．,.？！?!「」『』（）()・：:；;…"
_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
                 "八": 8, "九": 9}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
# A kanji number becomes Arabic only where it counts or orders something: before a counter or
# after 第/案件/令和…; 一般, 一部, 一番, 一同, 統一 and other set phrases keep their kanji.
COUNTERS = ("件", "人", "名", "円", "万", "億", "年", "月", "日", "時", "分", "秒", "回", "号", "条", "項",
            "個", "台", "歳", "割", "点", "枚", "本", "階", "ページ", "パーセント", "%", "％", "校", "社",
            "団体", "世帯", "か所", "カ所", "箇所", "期", "款", "目", "節", "次", "等", "級", "週", "倍")
PREFIXES = ("第", "案件", "令和", "平成", "昭和", "資料", "議案", "番号")


@dataclass(frozen=True)
class CleanOptions:
    enabled: bool  # false: the draft prints Whisper's words as they are
    fillers: tuple[str, ...]  # ケバ removed when they stand alone (between pauses/punctuation)
    punctuation: bool  # 公用文 punctuation
    numerals: bool  # kanji numerals that count something → Arabic
    corrections: str  # YAML {wrong: right} under configs/ ("" for none)
    vocabulary_fix: bool  # a near-miss (one character off) of a vocabulary word is corrected
    low_confidence: float  # words below this Whisper probability are marked for the editor
    low_confidence_kanji: float  # the same for words written only in kanji (homophone errors)


class Tagged:
    """Characters with the index of the word each came from."""

    def __init__(self, chars: list[str], src: list[int]):
        self.chars, self.src = chars, src

    @classmethod
    def from_words(cls, words: Sequence[Word]) -> "Tagged":
        chars, src = [], []
        for i, w in enumerate(words):
            chars.extend(w.text)
            src.extend([i] * len(w.text))
        return cls(chars, src)

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def sub(self, pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str]) -> "Tagged":
        """re.sub that keeps sources: replacement characters take the matched text's first source
        (or INSERTED for an insertion into an empty match)."""
        chars, src, pos = [], [], 0
        text = self.text
        for m in pattern.finditer(text):
            chars.extend(self.chars[pos:m.start()])
            src.extend(self.src[pos:m.start()])
            new = repl(m)
            origin = self.src[m.start()] if m.end() > m.start() else INSERTED
            if new == m.group(0):
                chars.extend(self.chars[m.start():m.end()])
                src.extend(self.src[m.start():m.end()])
            else:
                chars.extend(new)
                src.extend([origin] * len(new))
            pos = m.end()
        chars.extend(self.chars[pos:])
        src.extend(self.src[pos:])
        return Tagged(chars, src)


def _is_japanese(c: str) -> bool:
    return "\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" or c in "々〆ー"


def remove_fillers(t: Tagged, fillers: Sequence[str]) -> Tagged:
    if not fillers:
        return t
    alternatives = "|".join(re.escape(f.rstrip("ー")) + "ー*" for f in sorted(fillers, key=len, reverse=True))
    # standalone: at the start, or after a space/punctuation, and before one (or the end)
    pattern = re.compile(rf"(?:(?<=^)|(?<=[\s{re.escape(PUNCT)}]))(?:{alternatives})(?:[、,，]|\s|(?=[。？！?!]|$))")
    return t.sub(pattern, lambda m: "")


def _sentence_ended(text: str) -> bool:
    return text.endswith(SENTENCE_ENDS)


def normalise_punctuation(t: Tagged) -> Tagged:
    t = t.sub(re.compile(r"[，,](?!\d)|(?<!\d)[，,]"), lambda m: "、")
    t = t.sub(re.compile(r"[．.](?!\d)|(?<!\d)[．.]"), lambda m: "。")
    t = t.sub(re.compile(r"\?"), lambda m: "？")
    t = t.sub(re.compile(r"!"), lambda m: "！")

    # Whisper separates its segments with a space; in Japanese text that is a pause: a sentence
    # end after a finite verb form, else a comma. Spaces after punctuation just go.
    def space(m: re.Match[str]) -> str:
        before, after = t_text[: m.start()], t_text[m.end():]
        if not before or before[-1] in PUNCT:
            return ""
        if _sentence_ended(before):
            return "。"
        # 「教室 でした」「審議会 を」: a space before a particle or an ending is no pause
        return "" if after[:1] and "\u3040" <= after[0] <= "\u309f" else "、"

    t_text = t.text
    t = t.sub(re.compile(r"\s+"), space)
    t = t.sub(re.compile(r"([、。])[、。]+"), lambda m: m.group(1))
    t = t.sub(re.compile(r"^[、。]+"), lambda m: "")
    text = t.text
    if text and text[-1] not in PUNCT and _sentence_ended(text):
        t = Tagged(t.chars + ["。"], t.src + [INSERTED])
    return t


def kanji_number(s: str) -> int | None:
    """一 … 九千九百九十九 (with 〇 digits too: 二〇二四) → int; None if not a plain number."""
    if not s:
        return None
    if all(c in _KANJI_DIGITS for c in s) and len(s) > 1:  # positional: 二〇二四
        return int("".join(str(_KANJI_DIGITS[c]) for c in s))
    total, digit = 0, None
    for c in s:
        if c in _KANJI_DIGITS:
            if digit is not None:
                return None
            digit = _KANJI_DIGITS[c]
        elif c in _KANJI_UNITS:
            total += (1 if digit is None else digit) * _KANJI_UNITS[c]
            digit = None
        else:
            return None
    return total + (digit or 0)


def arabic_numerals(t: Tagged) -> Tagged:
    number = "[〇零一二三四五六七八九十百千]+"
    counters = "|".join(map(re.escape, sorted(COUNTERS, key=len, reverse=True)))

    def convert(m: re.Match[str]) -> str:
        value = kanji_number(m.group(0))
        return str(value) if value is not None else m.group(0)

    for prefix in PREFIXES:  # look-behinds must be fixed-width: one pattern per prefix
        t = t.sub(re.compile(rf"(?<={re.escape(prefix)}){number}"), convert)
    t = t.sub(re.compile(rf"{number}(?=(?:{counters}))"), convert)
    return t


def load_corrections(name: str) -> dict[str, str]:
    if not name:
        return {}
    import yaml

    path = Path(name) if Path(name).is_absolute() else CONFIG_DIR / name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise KaigirokuError(f"修正辞書 {path} を読めません。clean.corrections の設定とファイルの書式を確認してください。",
                             str(e)) from e
    if not isinstance(data, dict):
        raise KaigirokuError(f"修正辞書 {path} は「誤: 正」の形で書いてください。")
    return {str(k): str(v) for k, v in data.items()}


def apply_corrections(t: Tagged, corrections: dict[str, str], vocabulary: Sequence[str], fuzzy: bool) -> Tagged:
    if corrections:
        pattern = re.compile("|".join(map(re.escape, sorted(corrections, key=len, reverse=True))))
        t = t.sub(pattern, lambda m: corrections[m.group(0)])
    if fuzzy:
        for word in vocabulary:
            if len(word) >= 4 and all(_is_japanese(c) for c in word):
                t = _fix_near_misses(t, word)
    return t


def _fix_near_misses(t: Tagged, word: str) -> Tagged:
    """Replace same-length spans one character off `word` (公民間 → 公民館 for 公民館講座…)."""
    n = len(word)
    text = t.text
    chars, src = list(t.chars), list(t.src)
    i = 0
    while i + n <= len(text):
        window = text[i:i + n]
        diff = [k for k in range(n) if window[k] != word[k]]
        if len(diff) == 1 and _is_japanese(window[diff[0]]) and window != word:
            chars[i:i + n] = list(word)
            i += n
        else:
            i += 1
    return Tagged(chars, src)


def clean_words(words: Sequence[Word], options: CleanOptions, corrections: dict[str, str],
                vocabulary: Sequence[str]) -> Tagged:
    t = Tagged.from_words(words)
    if not options.enabled:
        return t.sub(re.compile(r"^\s+|\s+$"), lambda m: "")
    t = remove_fillers(t, options.fillers)
    if options.punctuation:
        t = normalise_punctuation(t)
    if options.numerals:
        t = arabic_numerals(t)
    return apply_corrections(t, corrections, vocabulary, options.vocabulary_fix)


_KANJI_WORD = re.compile(r"^[\u4e00-\u9fff々〆]+$")


def low_confidence_marks(t: Tagged, words: Sequence[Word], threshold: float,
                         kanji_threshold: float) -> tuple[Mark, ...]:
    """Character spans of the cleaned text whose source word Whisper was unsure of.

    Whisper's mistakes in Japanese are mostly homophones written in kanji (開設→解説,
    公民館→公民間, 審議会→新議会), which it often writes with middling confidence; a word made only
    of kanji therefore needs more confidence than one with kana to go unmarked.
    """
    def unsure(w: Word) -> bool:
        limit = kanji_threshold if _KANJI_WORD.match(w.text.strip()) else threshold
        return w.probability < limit

    marks, start = [], None
    for i, s in enumerate(t.src + [INSERTED]):
        low = s != INSERTED and i < len(t.chars) and unsure(words[s])
        if low and start is None:
            start = i
        elif not low and start is not None:
            marks.append(Mark(start, i, "low_confidence"))
            start = None
    return tuple(marks)


def clean_utterances(utterances: Sequence[Utterance], options: CleanOptions,
                     vocabulary: Sequence[str] = ()) -> tuple[Utterance, ...]:
    corrections = load_corrections(options.corrections) if options.enabled else {}
    out = []
    for u in utterances:
        t = clean_words(u.words, options, corrections, vocabulary)
        marks = low_confidence_marks(t, u.words, options.low_confidence, options.low_confidence_kanji)
        kept = tuple(m for m in u.marks if m.kind != "low_confidence")
        out.append(replace(u, text=t.text, marks=kept + marks))
    return tuple(out)
