"""Clean the verbatim text into 会議録 style, keeping every character traceable to its words.

ケバ取り (standalone fillers), 公用文 punctuation (、。 and full-width ？！, no half-width
punctuation among Japanese), Arabic numerals in horizontal text (公用文作成の考え方, 2022) where a
number counts or orders something, and a correction dictionary. The raw words stay in OUT.json;
the cleaned text is derived, so cleaning can be changed and re-exported at any time.

Text is handled as parallel lists (characters, index of the source word), so that after any
substitution each character still knows which Whisper word it came from; that is how the
draft highlights low-confidence words inside cleaned text.

Numerals and vocabulary fixes are decided from words (SudachiPy, pipeline.morph), not from
characters: 十分に検討 is an adjective, 一時休憩 a word, 四日市市 a place (issue #12). Where the
words leave it open the kanji stay: a missed conversion costs the editor a keystroke, a wrong
one changes the record.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import groupby
from pathlib import Path
from typing import Callable, Mapping, Sequence

from . import morph
from .errors import KaigirokuError
from .types import Mark, Utterance, Word

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
INSERTED = -1  # source index of characters the cleaner added (punctuation)

SENTENCE_ENDS = ("ます", "です", "ました", "でした", "ません", "ください", "でしょう", "でしょうか",
                 "ですか", "ますか", "ませんか", "ですね", "ますね", "だ", "である", "た", "か", "ね", "よ")
PUNCT = "、。，．,.？！?!「」『』（）()・：:；;…"


@dataclass(frozen=True)
class CleanOptions:
    """The defaults are configs/default.yaml's `clean:` section (a test keeps them equal), so
    `clean_text` cleans alike where the repository's configs are not next to the package."""

    enabled: bool = True  # false: the draft prints Whisper's words as they are
    # ケバ removed when they stand alone (between pauses/punctuation)
    fillers: tuple[str, ...] = ("えー", "えーと", "えっと", "あのー", "あの", "まあ", "その", "なんか", "うーん")
    punctuation: bool = True  # 公用文 punctuation
    numerals: bool = True  # kanji numerals that count or order something → Arabic
    corrections: str = "corrections.yaml"  # YAML {wrong: right} under configs/ ("" for none)
    vocabulary_fix: bool = True  # a near-miss (one character off) of a vocabulary word is corrected
    low_confidence: float = 0.65  # words below this Whisper probability are marked for the editor
    low_confidence_kanji: float = 0.85  # the same for words written only in kanji (homophone errors)


class Tagged:
    """Characters with the index of the word each came from.

    `fixes` lists the vocabulary corrections, (start, end, text Whisper wrote), as offsets into
    this text; the near-miss fix is the last step, and only its result carries them.
    """

    def __init__(self, chars: list[str], src: list[int], fixes: tuple[tuple[int, int, str], ...] = ()):
        self.chars, self.src, self.fixes = chars, src, fixes

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
        """re.sub that keeps sources (see `splice`)."""
        edits = []
        for m in pattern.finditer(self.text):
            new = repl(m)
            if new != m.group(0):
                edits.append((m.start(), m.end(), new))
        return self.splice(edits)

    def splice(self, edits: Sequence[tuple[int, int, str]]) -> "Tagged":
        """Replace the spans (start, end, new), which must not overlap. New characters take the
        sources of the characters at the same relative place in the span (四 + 十四 from two
        words → 4 + 4, so an unsure word's part stays marked), INSERTED where the span is empty."""
        chars, src, pos = [], [], 0
        for start, end, new in sorted(edits):
            chars.extend(self.chars[pos:start])
            src.extend(self.src[pos:start])
            chars.extend(new)
            src.extend(self.src[start + j * (end - start) // len(new)] if end > start else INSERTED
                       for j in range(len(new)))
            pos = end
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


# --- numerals (公用文作成の考え方 2022: 算用数字 for what is counted or ordered) ----------------

_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG_UNITS = "万億兆"  # stay kanji after the digits: 120万円, 1億2000万円 (as the guide writes them)
_N = "〇零一二三四五六七八九十百千万億兆"
_RUN = re.compile(f"[{_N}]+")

# A number counts something when a counter (助数詞) follows it. Sudachi tags most of these
# 助数詞可能, but also 石, 重, 歩 …, so the list is ours.
COUNTERS = frozenset("""
    件 人 名 円 銭 年 年度 年間 年生 年代 年目 月 か月 カ月 ヶ月 ケ月 ヵ月 箇月 日 日間 日目 時 時間 時半
    分 分間 秒 回 回目 度 度目 号 条 項 款 節 個 台 歳 才 歳児 割 点 点目 枚 本 冊 部 階 ページ 頁
    パーセント ％ % 校 園 社 団体 世帯 か所 カ所 ヶ所 箇所 か国 カ国 期 期目 次 級 週 週間 倍 番 番目 位
    丁目 番地 区 班 組 代 周年 人分 人目 キロ メートル キロメートル センチ トン ヘクタール 平方メートル
    リットル グラム 票 席 棟 軒 基 便 泊 種類 項目 品目 学年 通
""".split())
# …or when it follows a word that orders things: 第3回, 案件1, 資料2, 令和6年度, 午後2時.
ORDER_PREFIXES = frozenset("第 案件 資料 議案 番号 令和 平成 昭和 大正 西暦 別表 様式 附則 午前 午後".split())
_DAY_COUNTERS = ("日", "日間", "日目")  # みっか, とおか: dates and days are Arabic in 和語 readings too
# 和語 readings (ひと, ふた, みっ …): 一つ, 一月 (ひとつき) stay kanji; Sudachi reads 十 in 十日 トウ
_WAGO_READINGS = ("ヒト", "フタ", "ミッ", "ヨッ", "イツ", "ムッ", "ヤッ", "ココノ", "トオ")
# Set phrases and names that Sudachi splits into a numeral and a counter. They keep their kanji
# wherever they occur; a phrase missing here only ever costs a keystroke if it is counted after.
KEEP_PHRASES = ("三日月", "十人十色", "一石二鳥", "一期一会", "十中八九", "四六時中", "三位一体", "二人三脚",
                "二度と", "一日も早", "五十歩百歩", "一か八か", "第一歩", "第一義", "第一声", "十年一昔",
                "七五三", "八十八夜", "百人一首", "三寒四温", "一目散", "一日一善", "一日中", "一年中",
                "六ヶ所")
# 四日市, 十日町, 六日町, 廿日市: a day count followed by 市/町/村 is a place name
_KEEP_PATTERNS = (re.compile(f"[{_N}]日[市町村]"),)
# Dictionary words that are counts all the same (Sudachi has 一回, 三人目, 一学期 as words).
# Not 一人/二人: read ひとり/ふたり they are 和語 like 一つ/二つ and stay, also in 誰一人, 一人で,
# 一人当たり; 三人 (さんにん) and up become 3人. 「二人から3人」 mixes the two, a keystroke to fix.
_COUNT_WORDS = re.compile(f"^(?:[{_N}]+人目|[{_N}]+回|[{_N}]+学期|三十日)$")
# Sudachi knows some counts as names (十人 地名, 五本 地名, 二丁目 地名, 二位 人名); they are
# counts when their reading is the number's (ジュウニン), names when it is not (千歳 チトセ, 八代).
_NAME_COUNTERS = frozenset("人 名 本 区 丁目 か所 カ所 ヶ所 箇所 軒 位 件 台".split())
_CLOCK_BEFORE = ("午前", "午後", "朝", "夕方", "夜")


def kanji_number(s: str) -> int | None:
    """一 … 九千九百九十九 (and digit by digit with 〇: 二〇二四) → int; None if not a plain
    number. Two bare digits (二三, 三四) are an approximate number, not twenty-three."""
    if not s:
        return None
    if all(c in _DIGITS for c in s) and len(s) > 1:
        if not (set(s) & {"〇", "零"} or len(s) >= 4):
            return None
        return int("".join(str(_DIGITS[c]) for c in s))
    total, digit = 0, None
    for c in s:
        if c in _DIGITS:
            if digit is not None:
                return None
            digit = _DIGITS[c]
        elif c in _UNITS:
            total += (1 if digit is None else digit) * _UNITS[c]
            digit = None
        else:
            return None
    return total + (digit or 0)


def arabic_pieces(run: str) -> list[tuple[int, int, str]] | None:
    """(start, end, digits) for the parts of a kanji number between 万/億/兆, which stay:
    百二十万 → [(0, 3, "120")], 一億二千万 → [(0, 1, "1"), (2, 4, "2000")]."""
    pieces, start = [], 0
    for i, c in enumerate(run if run[-1:] in _BIG_UNITS else run + "万"):
        if c in _BIG_UNITS:
            value = kanji_number(run[start:i])
            if value is None:
                return None
            pieces.append((start, i, str(value)))
            start = i + 1
    return pieces


class _Numerals:
    """Decides, kanji number by kanji number, whether it counts or orders something."""

    def __init__(self, text: str, tokens: Sequence[morph.Token]):
        self.text = text
        self.owner: list[morph.Token | None] = [None] * len(text)
        for tk in tokens:
            for i in range(tk.begin, tk.end):
                self.owner[i] = tk
        self.kept = set()
        for phrase in KEEP_PHRASES:
            for m in re.finditer(re.escape(phrase), text):
                self.kept.update(range(m.start(), m.end()))
        for rx in _KEEP_PATTERNS:
            for m in rx.finditer(text):
                self.kept.update(range(m.start(), m.end()))
        self.runs = [m.span() for m in _RUN.finditer(text)]
        self.converted: list[tuple[int, int]] = []

    def edits(self) -> list[tuple[int, int, str]]:
        out = []
        for k, (a, b) in enumerate(self.runs):
            pieces = arabic_pieces(self.text[a:b])
            if pieces is not None and self.counted(k):
                out += [(a + s, a + e, digits) for s, e, digits in pieces]
                self.converted.append((a, b))
        return out

    def token_before(self, a: int) -> morph.Token | None:
        return self.owner[a - 1] if a > 0 else None

    def counted(self, k: int) -> bool:
        a, b = self.runs[k]
        text = self.text
        if self.kept & set(range(a, b)):
            return False
        if (a > 0 and text[a - 1].isdigit()) or (b < len(text) and text[b].isdigit()):
            return False  # 2千万: half written in Arabic already
        tok = self.owner[a]
        if tok is None or tok.begin < a:
            return False  # inside a word: 第三者, 統一, 唯一, 再三, 四谷三丁目
        if self.approximate(k):
            return False
        if not tok.numeral and tok.end >= b:  # (七 接頭辞 + 百五 + 十人 is one number all the same)
            return self.counted_word(tok, a, b)
        if text[b - 1] in _BIG_UNITS:
            return True  # 二十万, 一千万: an amount
        counter = self.counter_after(b)
        if counter:
            unit = text[a:b] + counter
            if text[b + len(counter):].startswith(unit) or text[:a].endswith(unit):
                return False  # 一件一件, 一日一日, 五分五分
            if tok.reading.startswith(_WAGO_READINGS) and counter not in _DAY_COUNTERS:
                return False
            return True
        return self.ordered(a)

    def counter_after(self, b: int) -> str | None:
        """The counter right after the number, also where Sudachi joined it with the number's
        last character (二 + 十人, 二 + 十分: the rest of that token)."""
        tk = self.owner[b] if b < len(self.text) else None
        if tk is None:
            return None
        rest = self.text[b:tk.end]
        if rest in COUNTERS:
            return rest
        if tk.begin == b and tk.pos[:3] == ("接尾辞", "名詞的", "助数詞") and rest != "つ":
            return rest
        return None

    def ordered(self, a: int) -> bool:
        prev = self.token_before(a)
        if prev is None:
            return False
        if prev.surface in ORDER_PREFIXES:
            return True
        if prev.surface == "の" and prev.begin > 0:  # 案件の1につきまして
            before = self.owner[prev.begin - 1]
            if before is not None and before.surface in ("案件", "資料", "議案"):
                return True
        # 資料1、2 and 3分の2: the number before was converted
        last = self.converted[-1][1] if self.converted else -9
        return (last == a - 1 and self.text[a - 1] in "、・") or (last == a - 2 and self.text[:a].endswith("分の"))

    def approximate(self, k: int) -> bool:
        """概数 keep their kanji: 数十人, 十数人, 二十余人, 二三日, 三四人, 二、三日, 四、五十人."""
        a, b = self.runs[k]
        text, run = self.text, self.text[a:b]
        prev = self.token_before(a)
        if prev is not None and prev.surface in ("数", "何", "幾"):
            return True
        if b < len(text) and text[b] in "数余":
            return True
        if len(run) == 2 and all(c in _DIGITS for c in run) and _DIGITS[run[1]] == _DIGITS[run[0]] + 1:
            return True
        for first, second in ((k - 1, k), (k, k + 1)):
            if 0 <= first and second < len(self.runs) and self.pair(first, second):
                return True
        return False

    def pair(self, first: int, second: int) -> bool:
        (a0, b0), (a1, b1) = self.runs[first], self.runs[second]
        if a1 != b0 + 1 or self.text[b0] not in "、・,，":
            return False
        prev = self.token_before(a0)
        if prev is not None and prev.surface in ORDER_PREFIXES:
            return False  # 資料1、2 lists two documents
        x, y = self.text[a0:b0], self.text[a1:b1]
        if x[-1] in _DIGITS and y[0] in _DIGITS and _DIGITS[y[0]] == _DIGITS[x[-1]] + 1:
            return True  # 二、三 / 十二、三 / 四、五十
        return (len(x) == len(y) and x[1:] == y[1:] and x[0] in _DIGITS and y[0] in _DIGITS
                and _DIGITS[y[0]] == _DIGITS[x[0]] + 1)  # 二十、三十

    def counted_word(self, tok: morph.Token, a: int, b: int) -> bool:
        """A dictionary word that starts with the number: a count only where listed or at a
        clock time; otherwise a word of its own (十分, 一時, 一部, 一層, 一目, 四日市市 …)."""
        text, surface = self.text, tok.surface
        if tok.reading.startswith(_WAGO_READINGS):
            return False  # 一人 (ひとり), 一人目, 一言, 二人 …
        if _COUNT_WORDS.match(surface):
            return True
        rest = text[b:tok.end]
        if tok.pos[1] == "固有名詞" and rest in _NAME_COUNTERS:
            return _reads_as_number(tok.reading, text[a:b])
        if surface == "一時":  # 一時休憩, 一時保育 … but 午後一時, 一時三十分, 一時から二時まで
            before, after = text[:a], text[tok.end:]
            return (before.endswith(_CLOCK_BEFORE) or re.match(f"[{_N}\\d]+分|半", after) is not None
                    or re.match(f"(?:から|～|〜)[{_N}\\d]+時", after) is not None
                    or re.search(f"[{_N}\\d]+時(?:から|～|〜)$", before) is not None)
        if re.fullmatch(f"[{_N}]+分", surface):  # 十分 (adjective) is minutes after 三時: 三時十分
            return re.search(f"[{_N}\\d]時$", text[:a]) is not None
        return False


@lru_cache(maxsize=256)
def _number_reading(run: str) -> str:
    tokens = morph.tokenize(run)
    return tokens[0].reading if len(tokens) == 1 and tokens[0].numeral else ""


def _reads_as_number(reading: str, run: str) -> bool:
    """ジュウニン starts with ジュウ, サンジュッケン with サンジュ(ウ): a count; チトセ, ヤツシロ: a name."""
    number = _number_reading(run)
    return bool(number) and (reading.startswith(number) or (len(number) > 1 and reading.startswith(number[:-1])))


def numeral_edits(text: str) -> list[tuple[int, int, str]]:
    """(start, end, Arabic digits) for the kanji numbers of `text` that count or order something."""
    if not _RUN.search(text) or not _sudachi():
        return []
    return _Numerals(text, morph.tokenize(text)).edits()


def arabic_numerals(t: Tagged) -> Tagged:
    return t.splice(numeral_edits(t.text))


@lru_cache(maxsize=1)
def _sudachi() -> bool:
    if morph.available():
        return True
    logger.warning("SudachiPy がないため、漢数字はそのまま残し、語彙による修正もしません。")
    return False


# --- corrections ----------------------------------------------------------------------------

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


def apply_corrections(t: Tagged, corrections: dict[str, str]) -> Tagged:
    if not corrections:
        return t
    pattern = re.compile("|".join(map(re.escape, sorted(corrections, key=len, reverse=True))))
    return t.sub(pattern, lambda m: corrections[m.group(0)])


def apply_learned(t: Tagged, learned: Mapping[str, str]) -> Tagged:
    """The body's accepted corrections (pipeline/words.py), under the meaning-keeping rule of the
    vocabulary fixes: a span is rewritten only where it is not a real word, neither a dictionary
    word by itself (解説 stays, though an editor once made it 開設) nor a piece of one in the
    sentence (田町 inside 三田町)."""
    if not learned or not _sudachi():
        return t
    pattern = re.compile("|".join(map(re.escape, sorted(learned, key=len, reverse=True))))
    text = t.text
    found = list(pattern.finditer(text))
    if not found:
        return t
    words = [tk for tk in morph.tokenize(text) if not tk.oov]
    edits = []
    for m in found:
        a, b = m.span()
        if _dictionary_word(m.group(0)) is None:
            continue
        if any(tk.begin < a < tk.end or tk.begin < b < tk.end for tk in words):
            continue
        edits.append((a, b, learned[m.group(0)]))
    return t.splice(edits)


def fix_near_misses(t: Tagged, vocabulary: Sequence[str], unsure: Sequence[bool]) -> Tagged:
    """Replace same-length spans one character off a vocabulary word (公民間講座 → 公民館講座),
    where Whisper was unsure of the word that character came from and the span is not a word of
    its own (総務部長 is not a near-miss of 総務課長, nor 東部公民館 of 西部公民館)."""
    words = [w for w in vocabulary if len(w) >= 4 and all(_is_japanese(c) for c in w)]
    if not words or not any(unsure) or not _sudachi():
        return t
    chars, fixes = list(t.chars), []
    for word in words:
        n, text = len(word), "".join(chars)
        i = 0
        while i + n <= len(text):
            window = text[i:i + n]
            diff = [k for k in range(n) if window[k] != word[k]]
            source = t.src[i + diff[0]] if len(diff) == 1 else INSERTED
            if (len(diff) == 1 and _is_japanese(window[diff[0]]) and source != INSERTED and unsure[source]
                    and not any(s < i + n and i < e for s, e, _ in fixes)
                    and not _known_word(window, word, diff[0])):
                chars[i:i + n] = list(word)
                fixes.append((i, i + n, window))
                i += n
            else:
                i += 1
    return Tagged(chars, list(t.src), tuple(sorted(fixes)))


def _dictionary_word(window: str) -> list[morph.Token] | None:
    """None when `window` is one dictionary word by itself; else its tokens."""
    seen = morph.tokenize(window)
    return None if len(seen) == 1 and not seen[0].oov else seen


def _known_word(window: str, word: str, k: int) -> bool:
    """The span is a dictionary word, or the word around its odd character is one in the same
    place as the vocabulary word's (総務[部]長 / 総務[課]長), rather than a piece of a misheard
    one (公民[間] / [公民館])."""
    seen = _dictionary_word(window)
    if seen is None:
        return True
    here = next(tk for tk in seen if tk.begin <= k < tk.end)
    there = next(tk for tk in _word_tokens(word) if tk.begin <= k < tk.end)
    return (here.begin, here.end) == (there.begin, there.end) and not here.oov


@lru_cache(maxsize=1024)
def _word_tokens(word: str) -> tuple[morph.Token, ...]:
    return tuple(morph.tokenize(word))


# --- the stage --------------------------------------------------------------------------------

_KANJI_WORD = re.compile(r"^[\u4e00-\u9fff々〆]+$")


def unsure(w: Word, threshold: float, kanji_threshold: float) -> bool:
    """Whisper's mistakes in Japanese are mostly homophones written in kanji (開設→解説,
    公民館→公民間, 審議会→新議会), which it often writes with middling confidence; a word made only
    of kanji therefore needs more confidence than one with kana to go unmarked."""
    limit = kanji_threshold if _KANJI_WORD.match(w.text.strip()) else threshold
    return w.probability < limit


def clean_words(words: Sequence[Word], options: CleanOptions, corrections: dict[str, str],
                vocabulary: Sequence[str], learned: Mapping[str, str] | None = None) -> Tagged:
    t = Tagged.from_words(words)
    if not options.enabled:
        return t.sub(re.compile(r"^\s+|\s+$"), lambda m: "")
    t = remove_fillers(t, options.fillers)
    if options.punctuation:
        t = normalise_punctuation(t)
    if options.numerals:
        t = arabic_numerals(t)
    t = apply_corrections(t, corrections)
    t = apply_learned(t, learned or {})
    if options.vocabulary_fix:
        t = fix_near_misses(t, vocabulary,
                            [unsure(w, options.low_confidence, options.low_confidence_kanji) for w in words])
    return t


def low_confidence_marks(t: Tagged, words: Sequence[Word], threshold: float,
                         kanji_threshold: float) -> tuple[Mark, ...]:
    """Character spans of the cleaned text whose source word Whisper was unsure of, and the
    spans a vocabulary fix rewrote (each a mark of its own, with the text Whisper wrote)."""
    fixed: dict[int, int] = {}
    for n, (s, e, _) in enumerate(t.fixes):
        fixed.update({i: n for i in range(s, e)})

    def key(i: int) -> int | None:  # the fix it belongs to, -1 for an unsure word, None: unmarked
        if i in fixed:
            return fixed[i]
        return -1 if t.src[i] != INSERTED and unsure(words[t.src[i]], threshold, kanji_threshold) else None

    marks, pos = [], 0
    for k, group in groupby(key(i) for i in range(len(t.chars))):
        n = len(list(group))
        if k is not None:
            marks.append(Mark(pos, pos + n, "low_confidence", original=t.fixes[k][2] if k >= 0 else ""))
        pos += n
    return tuple(marks)


def clean_utterances(utterances: Sequence[Utterance], options: CleanOptions,
                     vocabulary: Sequence[str] = (), learned: Mapping[str, str] | None = None) -> tuple[Utterance, ...]:
    """`learned`: the body's accepted corrections (pipeline/words.py `accepted`), applied after
    the built-in dictionary where they keep the meaning."""
    corrections = load_corrections(options.corrections) if options.enabled else {}
    out = []
    for u in utterances:
        t = clean_words(u.words, options, corrections, vocabulary, learned)
        marks = low_confidence_marks(t, u.words, options.low_confidence, options.low_confidence_kanji)
        kept = tuple(m for m in u.marks if m.kind != "low_confidence")
        out.append(replace(u, text=t.text, marks=kept + marks))
    return tuple(out)


def clean_text(text: str, vocabulary: Sequence[str] = ()) -> str:
    """One utterance's text cleaned by the draft's rules (fillers, punctuation, numerals, the
    corrections dictionary), with every word taken as confident.

    Pure and for anyone: tests, other tools. As every word is confident, no vocabulary near-miss
    is corrected (the draft corrects only words Whisper was unsure of); `vocabulary` is taken so
    that callers pass what the draft passes.
    """
    options = CleanOptions()
    return clean_words([Word(0.0, 0.0, text, 1.0)], options, _default_corrections(options.corrections),
                       vocabulary).text


@lru_cache(maxsize=4)
def _default_corrections(name: str) -> dict[str, str]:
    path = Path(name) if Path(name).is_absolute() else CONFIG_DIR / name
    if name and not path.is_file():
        logger.warning("修正辞書 %s がないため、clean_text は修正辞書なしで整えます。", path)
        return {}
    return load_corrections(name)
