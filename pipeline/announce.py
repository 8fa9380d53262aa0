"""Where an agenda item is announced: 「それでは再開させていただきます」, 「案件2…について事務局から
説明をお願いします」, 「以上で本日の審議会を閉会します」 (issue 12).

An announcement is an item's name *and* an announcing form in one sentence, matched on readings
(pipeline.readings), so that Whisper's 編解, 閉界 (閉会), 再会 (再開) and 案件のに (案件2) still
count while 「前回の閉会後に」, 「案件1の資料の3ページですが」 or 「案件に上がっております」 do not.
This module only finds them; pipeline.agenda decides by who said them whether they are sure
enough for a heading, orders them by the agenda and places them.

Names by kind of item:
- 開会 閉会 休憩 再開: the word's reading right before a declaring verb (〜します, 〜といたします,
  〜させていただきます, 休憩に入ります …). One edit off counts (ヘンカイ ≈ ヘイカイ) when the
  agenda has no other item as close and Whisper did not write a real word that sounds different
  (警戒します, 海外にあたり): a real word is what was said, a non-word is a mishearing.
- 案件N, 議案第N号 …: the prefix and the number's reading (アンケン(ノ)ニ), then optionally the
  title, then a joining particle (について, を …), optionally who is asked (事務局から), then a
  starting verb (行います, に入ります, を議題とします) or a request (説明をお願いします). A number
  heard as a word (案件のに, 案件の位置) counts only with the title or an explicit particle after
  it: 「案件に入ります」 and 「案件に上がっております」 name no number.
- any item by its title (本日の資料・案件の確認, 委員紹介, or 案件2's title said without its
  number), matched fuzzily on readings where particles and ご/お cost little, then the same tails.
- あいさつ: 「(ご)挨拶とさせていただきます / 申し上げます」 by the greeter, or 「委員長からご挨拶を
  お願いします」 (a hand-over: the greeting is the next utterance).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .readings import LIGHT, Reading, best_prefix, distance, number_readings, read

# --- items -----------------------------------------------------------------------------------

PROCEDURAL = {"開会": ("open", ("カイカイ", "カイサイ")), "閉会": ("close", ("ヘイカイ",)),
              "休憩": ("break", ("キュウケイ",)), "再開": ("resume", ("サイカイ",))}
_NUMBERED = re.compile(r"^(?P<prefix>案件|議案|議題|報告|協議|審議|諮問|請願|陳情)[\s　]*(?:第)?[\s　]*"
                       r"(?P<number>[0-9０-９]+)[\s　]*(?:号)?[\s　)）]*(?P<title>.*)$")
_GREETING = re.compile(r"^(?P<by>.*?)[\s　]*(?:あいさつ|挨拶)$")


@dataclass(frozen=True)
class Item:
    title: str  # as printed: 案件1 行政経営アクションプランの評価・検証
    kind: str  # open | close | break | resume | greeting | numbered | other
    cues: tuple[str, ...] = ()  # readings of the word of a procedural item
    prefix: str = ""  # reading of 案件 / 議案 … (numbered)
    number: int = 0
    name: str = ""  # reading of the title words (numbered: after the number), particles kept
    by: str = ""  # who greets (委員長あいさつ → 委員長)
    anchors: tuple[tuple[str, int], ...] = ()  # content words of the title: (reading, offset in name)


def make_item(title: str) -> Item:
    compact = title.replace(" ", "").replace("\u3000", "")
    if compact in PROCEDURAL:
        kind, cues = PROCEDURAL[compact]
        return Item(title, kind, cues)
    m = _GREETING.match(compact)
    if m:
        return Item(title, "greeting", ("アイサツ",), by=m.group("by"))
    m = _NUMBERED.match(title.strip())
    if m:
        rest = m.group("title").strip()
        return Item(title, "numbered", prefix=read(m.group("prefix")).text,
                    number=int(m.group("number").translate(_FULLWIDTH)), name=_plain(rest),
                    anchors=_anchors(rest))
    return Item(title, "other", name=_plain(title), anchors=_anchors(title))


_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


_JOINING = re.compile(r"(?:ニツイテ|ニツキマシテ|ニカンシテ)$")


def _plain(title: str) -> str:
    """A title's reading without a final 〜について (said as the joining particle before the verb)."""
    return _JOINING.sub("", read(title).text.replace("。", ""))


# --- forms (regular expressions over readings) ------------------------------------------------

_ONEGAI = r"オネガイ(?:イタシマス|タシマス|シマス|モウシアゲマス|シタイトオモイマス|イタシタイトオモイマス)"
_DO = r"(?:イタシ|シ|サセテイタダキ)(?:マス|タイトオモイマス|タイトゾンジマス)"
# After the word of a procedural item: 閉会(と)いたします, 再開させていただきます, 休憩に入ります.
_DECLARE = re.compile(r"(?:ト|ヲ)?" + _DO + r"|トナリマス"
                      r"|ニ(?:ハイリ(?:マス|タイトオモイマス)|ハイラセテイタダキマス)"
                      r"|ヲ(?:トリ(?:マス|タイトオモイマス)|トラセテイタダキマス)")
# 開会にあたり, 閉会にあたり: the first or the last words (「開会にあたり礼を行いますのでご起立
# ください」, 「閉会にあたり副委員長からごあいさつを…」). Not 「閉会のあいさつ」: the clerk reads the
# programme at the start (「最後に閉会のあいさつを…いただきます」).
_OCCASION = re.compile(r"ニアタリ")
# Closing the meeting as an object: 以上をもちまして本日の委員会を終了いたします.
_CLOSE_MEETING = re.compile(r"(?:イジョウ|コレ)(?:ヲモチマシテ|デ)[^。]{0,30}?(?:カイギ|カイ)ヲ"
                            r"(?:シュウリョウ(?:ト)?" + _DO + r"|トジ(?:マス|サセテイタダキマス))")
# A council's resumption names the break, not 再開: 「休憩前に引き続き会議を開きます」.
_RESUME_MEETING = re.compile(r"キュウケイ(?:マエ|ゼン)ニ(?:ヒキツヅ|ツヅ)キ[^。]{0,20}?(?:カイギ|カイ|ギジ)ヲ"
                             r"(?:ヒラキ|オコナイ|ススメ)(?:マス|タイトオモイマス)")
# What joins a named item to the verb, who is asked, and the verb.
_TAIL = re.compile(
    r"(?P<conn>ニツイテヲ|ニツイテ|ニツキマシテ|ニカンシテ|ノホウニ|ノホウヲ|ヲ|ニ|ハ|ノ)?"
    r"(?P<addr>[^。]{1,25}?(?:カラ|ヨリ))?"
    r"(?P<verb>(?:(?:ゴ)?(?:シンギ|キョウギ|ギロン|セツメイ|ホウコク|ケントウ|シツギ|カクニン)ヲ)?"
    r"(?:オコナイ|ハジメ|ススメ)(?:マス|サセテイタダキマス|タイトオモイマス)"
    r"|(?P<into>(?:ハイリ|ウツリ)(?:マス|タイトオモイマス)|(?:ハイラ|ウツラ)セテイタダキマス)"
    r"|ギダイト" + _DO + r"|(?:シンギ|キョウギ)" + _DO +
    r"|(?P<ask>(?:ゴ)?(?:セツメイ|ホウコク|テイアン)(?:ヲ)?(?:" + _ONEGAI + r"|ネガイマス|イタダキ(?:マス|タイトオモイマス)))"
    r"|(?P<bare>" + _ONEGAI + r")"
    r"|(?P<suru>" + _DO + r"))")
_GREET = re.compile(r"(?:ゴ)?アイサツ(?:ト|ニ)?(?:" + _DO + r"|モウシアゲマス|カエサセテイタダキマス|カエマス)"
                    r"|(?:ゴ)?アイサツヲモウシアゲマス")
# The words of the addressee (事務局及び政策推進課から) are nouns: a verb or です in between
# means the sentence went on to something else (「案件1の資料の3ページですが事務局から…」).
_ADDRESSEE_POS = {"名詞", "代名詞", "接尾辞", "接頭辞", "助詞", "接続詞", "補助記号"}
# Said in the same sentence before the word, a time or a later day makes it a schedule, not an
# announcement: 「2時50分から再開とさせていただきます」 announces the break, not the resumption;
# 「次回の委員会は11月20日に開催いたします」 opens nothing today.
# (「5分ほど休憩と…」 is a length, 「10月定例会を開会します」 a name: neither is a schedule.)
_SCHEDULE = re.compile(r"(?:\d+|[〇一二三四五六七八九十]+)\s*(?:時|分|時半|日|月)\s*(?:から|より|に)|次回|来月|来週|明日|後日")


# --- announcements -------------------------------------------------------------------------

@dataclass(frozen=True)
class Announcement:
    item: int  # index into the items
    start: int  # text offsets of the announcing words in the utterance
    end: int
    # declare (閉会します) | start (案件1を行います) | ask (…について説明をお願いします) |
    # greet (ご挨拶とさせていただきます) | handover (委員長からご挨拶を…) | mention (named, not announced)
    form: str
    exact: bool  # the item's words as written (not one edit off, not a number heard as a word)


# What is opened, closed or resumed is the meeting (委員会を閉会します, 会議を再開いたします,
# 議事を再開), not the discussion: 「質疑を再開します」 after an interruption is no agenda item.
_MEETING_OBJECT = re.compile(r"(?:会|会議|議事|会合)\s*を\s*$")
_ANY_OBJECT = re.compile(r"を\s*$")


def _of_the_meeting(before: str) -> bool:
    return not _ANY_OBJECT.search(before) or bool(_MEETING_OBJECT.search(before))


def _sentence_start(text: str, at: int) -> int:
    return max(text.rfind(c, 0, at) for c in "。？！?!") + 1


def _ends_sentence(r: str, end: int) -> bool:
    """〜します。 announces; 〜しますか (a question) or 〜しますが、 (something else first) does not."""
    rest = r[end:end + 3]
    return not rest.startswith(("カ", "ガ", "ケド", "ケレ"))


def _real_word(reading: Reading, a: int, b: int, cue: str) -> bool:
    """Is reading a … b (all but one sound of it) one dictionary word that sounds different
    from the cue (警戒 for 閉会, 海外 for 開会)? 編解 is two words, neither of them the cue."""
    overlap: dict[int, int] = {}
    for k in reading.token_of[a:b]:
        overlap[k] = overlap.get(k, 0) + 1
    k, n = max(overlap.items(), key=lambda kv: kv[1])
    t = reading.tokens[k]
    return n >= b - a - 1 and not t.oov and len(t.reading) >= 2 and t.reading != cue


def _procedural(reading: Reading, text: str, items: list[Item]) -> list[Announcement]:
    r = reading.text
    kinds = {k: it for k, it in enumerate(items) if it.kind in ("open", "close", "break", "resume")}
    if not kinds:
        return []
    out = []
    hits = [(m, "declare") for m in _DECLARE.finditer(r)] + [(m, "occasion") for m in _OCCASION.finditer(r)]
    for m, how in hits:
        if how == "declare" and not _ends_sentence(r, m.end()):
            continue
        s = m.start()
        scored = []  # (distance, item, window start)
        for k, it in kinds.items():
            if how == "occasion" and it.kind not in ("open", "close"):
                continue
            for cue in it.cues:
                for length in (len(cue) - 1, len(cue), len(cue) + 1):
                    a = s - length
                    if a < 0 or "。" in r[a:s]:
                        continue
                    d = distance(r[a:s], cue)
                    if d <= 1 and not (d and _real_word(reading, a, s, cue)):
                        scored.append((d, k, a))
        if not scored:
            continue
        scored.sort()
        d, k, a = scored[0]
        if any(k2 != k and d2 == d for d2, k2, _ in scored):
            continue  # as close to two items (再開 with only 開会 and 閉会 in the agenda)
        start = reading.begin(a)
        if _SCHEDULE.search(text[_sentence_start(text, start):start]) or not _of_the_meeting(text[:start]):
            continue
        out.append(Announcement(k, start, reading.end(m.end()), "declare", d == 0))
    for kind, rx in (("close", _CLOSE_MEETING), ("resume", _RESUME_MEETING)):
        for m in rx.finditer(r):
            for k, it in kinds.items():
                if it.kind == kind and _ends_sentence(r, m.end()):
                    out.append(Announcement(k, reading.begin(m.start()), reading.end(m.end()), "declare", True))
    return out


def _tail(reading: Reading, pos: int, certain: bool) -> tuple[str, int] | None:
    """The form after a named item at reading position `pos`: (form, end) or None."""
    r = reading.text
    m = _TAIL.match(r, pos)
    if not m or not _ends_sentence(r, m.end()):
        return None
    conn = m.group("conn") or ""
    if m.group("addr"):
        a, b = m.span("addr")
        if not conn or any(t.pos[0] not in _ADDRESSEE_POS for t in reading.tokens_in(a, b)):
            return None
    if m.group("into") and conn not in ("ニ", "ノホウニ"):
        return None  # 「案件に入ります」 is 案件 + に, not 案件2
    if m.group("bare") and not m.group("addr"):
        return None
    if m.group("suru") and conn not in ("ヲ", "ニツイテヲ", ""):
        return None
    if not conn and not certain:
        return None
    form = "ask" if (m.group("ask") or m.group("bare")) else "do" if m.group("suru") else "start"
    return form, m.end()


def _numbered(reading: Reading, items: list[Item]) -> list[Announcement]:
    r = reading.text
    out = []
    for k, it in enumerate(items):
        if it.kind != "numbered":
            continue
        num = "|".join(number_readings(it.number))
        cue = re.compile(f"{it.prefix}(?:ノ|ダイ)?(?P<n>{num})(?:ゴウ)?|ダイ(?P<m>{num})ゴウ{it.prefix}")
        for c in cue.finditer(r):
            n = "n" if c.group("n") is not None else "m"
            numeral = any(t.numeral for t in reading.tokens_in(*c.span(n)))
            titled = _skip_name(r, c.end(), it.name)
            found = None
            for pos, certain in ((titled, True), (c.end(), numeral)):
                if pos is not None:
                    found = _tail(reading, pos, certain)
                    if found:
                        break
            start = reading.begin(c.start())
            if found:
                form = "start" if found[0] == "do" else found[0]
                out.append(Announcement(k, start, reading.end(found[1]), form, numeral))
            elif numeral or titled is not None:
                out.append(Announcement(k, start, reading.end(titled or c.end()), "mention", numeral))
    return out


def _name_limit(name: str) -> float:
    return max(1.0, 0.2 * len(name))


def _skip_name(r: str, pos: int, name: str) -> int | None:
    if not name:
        return None
    d, end = best_prefix(r, pos, name, LIGHT)
    return end if d <= _name_limit(name) else None


def _anchors(title: str) -> tuple[tuple[str, int], ...]:
    """The first two content words of a title (their readings) and where they sit in its reading:
    a title is looked for where one of them is said."""
    name = _plain(title)
    toks = [t for t in read(title).tokens if t.pos[0] in ("名詞", "動詞") and len(t.reading) >= 2]
    out, at = [], 0
    for t in toks[:2]:
        at = name.find(t.reading, at)
        if at >= 0:
            out.append((t.reading, at))
    return tuple(out)


def _titled(reading: Reading, items: list[Item]) -> list[Announcement]:
    """Items named by their title. A title close to two items' titles names neither."""
    r = reading.text
    found: dict[int, list[tuple[float, int, int]]] = {}  # start in reading → [(distance, item, end)]
    for k, it in enumerate(items):
        if it.kind not in ("numbered", "other") or len(it.name) < 3:
            continue
        for word, offset in it.anchors:
            for m in re.finditer(re.escape(word), r):
                a = max(r.rfind("。", 0, m.start()) + 1, m.start() - offset)
                d, end = best_prefix(r, a, it.name, LIGHT)
                if d <= _name_limit(it.name):
                    found.setdefault(a, []).append((d, k, end))
    out = []
    for a, hits in sorted(found.items()):
        hits.sort()
        d, k, end = hits[0]
        if any(k2 != k and d2 <= d + 1 for d2, k2, _ in hits[1:]):
            continue
        it = items[k]
        tail = _tail(reading, end, True)
        # 「委員紹介します」 is an announcement; 「報告します」 alone (a short title) is what anyone says.
        if tail and tail[0] == "do" and len(it.name) < 6:
            tail = None
        start = reading.begin(a)
        if tail:
            form = "start" if tail[0] == "do" else tail[0]
            out.append(Announcement(k, start, reading.end(tail[1]), form, d == 0))
        else:
            out.append(Announcement(k, start, reading.end(end), "mention", d == 0))
    return out


def _greetings(reading: Reading, items: list[Item]) -> list[Announcement]:
    r = reading.text
    out = []
    for k, it in enumerate(items):
        if it.kind != "greeting":
            continue
        for m in _GREET.finditer(r):
            if _ends_sentence(r, m.end()):
                out.append(Announcement(k, reading.begin(m.start()), reading.end(m.end()), "greet", True))
        if it.by:
            by = read(it.by).text
            hand = re.compile(f"{by}カラ(?:ノ)?(?:ゴ)?アイサツ(?:ヲ)?(?:{_ONEGAI}|イタダキ(?:マス|タイトオモイマス))")
            for m in hand.finditer(r):
                out.append(Announcement(k, reading.begin(m.start()), reading.end(m.end()), "handover", True))
    return out


def announcements(text: str, items: list[Item]) -> list[Announcement]:
    """Every place in one utterance's text that names an item, in text order."""
    reading = read(text)
    found = (_procedural(reading, text, items) + _numbered(reading, items)
             + _titled(reading, items) + _greetings(reading, items))
    # One place, one item: a numbered item found by number and by title is one announcement.
    best: dict[tuple[int, int], Announcement] = {}
    for a in found:
        key = (a.item, a.start)
        if key not in best or _rank(a) > _rank(best[key]):
            best[key] = a
    return sorted(best.values(), key=lambda a: (a.start, a.item))


def _rank(a: Announcement) -> tuple[bool, bool]:
    return (a.form != "mention", a.exact)
