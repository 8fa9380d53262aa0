"""Agenda headings for the 発言要旨 table, in order of trust:

1. markers pressed during recording (`kaigiroku record` writes AUDIO.markers.json:
   {"markers": [{"time": 754.2, "label": "案件1 …"}]}), placed at the utterance then speaking;
2. the meeting file's agenda matched against what the chair or the clerk announces
   (「案件1…を行います」, 「休憩といたします」, 「再開させていただきます」, 「閉会します」), on
   readings and in agenda order, never inventing a heading that was not announced; where the
   draft is unsure, a mark on the words for the editor instead;
3. none.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from .announce import Announcement, Item, announcements, make_item
from .errors import KaigirokuError
from . import morph
from .roles import ANONYMOUS, UNKNOWN
from .types import Heading, Mark, Utterance

logger = logging.getLogger(__name__)

_TIME = re.compile(r"^\s*\d{1,2}[:：]\d{2}\s*")
# Tokens of an agenda line that start a heading of their own.
_CUE_TOKEN = re.compile(r"^(開会|閉会|休憩|再開|委員紹介|.*あいさつ|.*挨拶|案件\d+|議案第?\d+号?|報告|その他)")


def markers_path(audio_path: Path) -> Path:
    return audio_path.with_name(audio_path.name + ".markers.json")


def load_markers(path: Path) -> list[tuple[float, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return sorted((float(m["time"]), str(m["label"])) for m in data["markers"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise KaigirokuError(f"見出しの記録 {path} を読めません。ファイルを移すか直してから、もう一度実行してください。",
                             str(e)) from e


def agenda_items(agenda: Sequence[str]) -> list[str]:
    """'14:00 開会 委員紹介 委員長あいさつ' → ['開会', '委員紹介', '委員長あいさつ']."""
    items: list[str] = []
    for line in agenda:
        current: list[str] = []
        for token in _TIME.sub("", line).split():
            if current and _CUE_TOKEN.match(token):
                items.append(" ".join(current))
                current = []
            current.append(token)
        if current:
            items.append(" ".join(current))
    return items


# --- matching the agenda against what is said (issue 12) ------------------------------------
#
# A heading needs the chair's or the clerk's announcement of that item (pipeline.announce), not
# a word that merely occurs. Items come in agenda order: a recording may start anywhere in the
# agenda (after a break, on a second day) and never goes back; each item gets one heading. When
# unsure there is no heading but a mark on the words for the editor (Mark kind "heading").
#
# Who may announce: the chair (委員長, 会長, 議長, 座長 and their 副, acting as chair) and the clerk
# (事務局, 司会). A member's or an explainer's words never make a heading. Without enrollment
# (話者1, 発言者不明1 …) nobody is known to chair, so only the strongest forms count: the item's
# words as written (no mishearing) with a declaring or starting verb (閉会します, 案件2に入ります);
# a request (案件1について説明をお願いします) or a greeting, which anyone may say, is only marked.

CHAIRS = ("委員長", "会長", "議長", "座長")
CLERKS = ("事務局", "司会")

# The minutes print 開会 above the first words of the recording (the clerk's 「ご案内の時間に
# なりました…ご起立ください」 before 「ただいまから…を開催いたします」): an opening announced this
# soon after the first utterance starts there.
OPENING_SPAN = 120.0  # seconds
# Before the announcing sentence, this much other talk (or a closing word) in the same utterance
# belongs to the part before: the item starts with the next utterance.
LEAD_CHARS = 60
_CLOSING_WORDS = re.compile(r"終わ|終了|閉じ|ありがとうござい|以上で|以上です|認めます|可決|否決|承認|決定")


def speaker_role(label: str | None) -> str:
    """chair | clerk | other (a member, an explainer, 一同) | unknown (no enrollment)."""
    if not label or label.startswith((ANONYMOUS, UNKNOWN)):
        return "unknown"
    if any(c in label for c in CLERKS):
        return "clerk"
    if label.endswith(CHAIRS):
        return "chair"
    return "other"


@dataclass(frozen=True)
class _Found:
    utterance: int
    a: Announcement
    sure: bool


def _is_sure(a: Announcement, item: Item, label: str | None) -> bool:
    role = speaker_role(label)
    if a.form == "mention":
        return False
    if a.form == "greet":  # said by the one who greets (委員長あいさつ: the 委員長)
        return bool(label) and (label.endswith(item.by) if item.by else role == "chair")
    if role in ("chair", "clerk"):
        return True
    return role == "unknown" and a.exact and a.form in ("declare", "start")


def _after(x: _Found, y: _Found, items: Sequence[Item]) -> bool:
    """May y follow x? Later in the agenda, later in the speech; after a break, a later utterance
    (「…休憩とします。2時50分から再開…」 resumes nothing yet)."""
    if y.a.item <= x.a.item or (y.utterance, y.a.start) <= (x.utterance, x.a.start):
        return False
    return not (items[x.a.item].kind == "break" and y.utterance == x.utterance)


def align(found: Sequence[_Found], items: Sequence[Item]) -> list[_Found]:
    """The longest chain of sure announcements in agenda order (a small dynamic programme over
    candidates; each item once). Of equally long chains, the one announcing each item first."""
    cands = sorted((f for f in found if f.sure), key=lambda f: (f.utterance, f.a.start, f.a.item))
    best = [1] * len(cands)
    for x in range(len(cands) - 1, -1, -1):
        best[x] = 1 + max((best[y] for y in range(x + 1, len(cands)) if _after(cands[x], cands[y], items)),
                          default=0)
    chain: list[_Found] = []
    want = max(best, default=0)
    for x, f in enumerate(cands):
        if best[x] == want and (not chain or _after(chain[-1], f, items)):
            chain.append(f)
            want -= 1
    return chain


def _before(f: _Found, chain: Sequence[_Found], utterances: Sequence[Utterance], items: Sequence[Item],
            floor: int) -> int:
    """The utterance the heading goes before."""
    i, kind = f.utterance, items[f.a.item].kind
    u = utterances[i]
    if kind == "break" or f.a.form == "handover":
        return i + 1  # the break begins after 「…休憩といたします」; the greeting after 「…ご挨拶を」
    if kind == "open":
        return floor if f is chain[0] and u.start - utterances[floor].start <= OPENING_SPAN else i
    if f.a.form == "greet":  # the greeting began where this speaker began speaking, after
        k = chain.index(f)    # the words that announced the item before
        stop = max(floor, chain[k - 1].utterance + 1) if k else floor
        while i > stop and utterances[i - 1].speaker == u.speaker:
            i -= 1
        return i
    if any(g.utterance == i and g.a.start < f.a.start for g in chain if g is not f):
        return i + 1  # 「再開します。案件2について説明を…」: 案件2 begins with the next speaker
    if kind == "close":
        return i  # the chair's closing words belong under 閉会
    lead = u.text[:f.a.start]
    lead = lead[:max(lead.rfind(c) for c in "。？！?!") + 1]  # whole sentences before it
    if len(lead) > LEAD_CHARS or _CLOSING_WORDS.search(lead):
        return i + 1  # 「ありがとうございました。それでは案件2について…」
    return i


def _place(chain: Sequence[_Found], utterances: Sequence[Utterance],
           items: Sequence[Item]) -> tuple[list[tuple[_Found, int]], list[_Found]]:
    """Headings (announcement, before) in agenda order, and announcements that lost their place.

    Two headings before the same utterance leave the first with nothing under it: that one was
    placed wrong (委員紹介 announced inside the clerk's long opening, the greeting next), so it
    goes back to the editor as a mark. A break is empty by nature."""
    placed: list[tuple[_Found, int]] = []
    for f in chain:
        floor = placed[-1][1] if placed else 0
        placed.append((f, max(floor, _before(f, chain, utterances, items, floor))))
    kept, lost = [], []
    for k, (f, before) in enumerate(placed):
        nxt = placed[k + 1][1] if k + 1 < len(placed) else None
        if nxt == before and items[f.a.item].kind != "break":
            lost.append(f)
        else:
            kept.append((f, before))
    return kept, lost


def _flags(found: Sequence[_Found], placed: Sequence[tuple[_Found, int]], lost: Sequence[_Found],
           items: Sequence[Item], labels: dict[str, str] | None,
           utterances: Sequence[Utterance]) -> dict[int, list[Mark]]:
    """One mark per item left without a heading, where it was most likely announced: between the
    headings of its neighbours in the agenda; an announcing form first, else a mention of it by
    the chair or the clerk."""
    done = {f.a.item: f for f, _ in placed}
    marks: dict[int, list[Mark]] = {}
    for k, item in enumerate(items):
        if k in done:
            continue
        lo = max((f for j, f in done.items() if j < k), key=lambda f: f.a.item, default=None)
        hi = min((f for j, f in done.items() if j > k), key=lambda f: f.a.item, default=None)
        options = []
        for f in list(lost) + list(found):
            if f.a.item != k:
                continue
            where = (f.utterance, f.a.start)
            if (lo and where <= (lo.utterance, lo.a.start)) or (hi and where >= (hi.utterance, hi.a.start)):
                continue
            role = speaker_role((labels or {}).get(utterances[f.utterance].speaker))
            if f.a.form == "mention" and role == "other":
                continue
            options.append((f.a.form == "mention", f.utterance, f.a.start, f))
        if options:
            f = min(options, key=lambda o: o[:3])[3]
            marks.setdefault(f.utterance, []).append(Mark(f.a.start, f.a.end, "heading", item.title))
            logger.info("agenda item %s: not sure where it starts; marked in utterance %d", item.title, f.utterance)
        else:
            logger.info("agenda item not heard: %s", item.title)
    return marks


def from_agenda(utterances: Sequence[Utterance], agenda: Sequence[str],
                labels: dict[str, str] | None = None) -> tuple[tuple[Utterance, ...], tuple[Heading, ...]]:
    if not morph.available():  # readings need SudachiPy
        logger.warning("SudachiPy がないため、次第の見出しは探しません（録音中の見出しの記録は使えます）。")
        return tuple(utterances), ()
    items = [make_item(t) for t in agenda_items(agenda)]
    labels = labels or {}
    found = [_Found(i, a, _is_sure(a, items[a.item], labels.get(u.speaker)))
             for i, u in enumerate(utterances) for a in announcements(u.text, items)]
    placed, lost = _place(align(found, items), utterances, items)
    headings = []
    for f, before in placed:
        time = utterances[before].start if before < len(utterances) else utterances[-1].end
        headings.append(Heading(before, time, items[f.a.item].title, "agenda"))
        logger.info("heading %s before utterance %d (%s)", items[f.a.item].title, before, f.a.form)
    marks = _flags(found, placed, lost, items, labels, utterances)
    out = tuple(replace(u, marks=u.marks + tuple(marks[i])) if i in marks else u for i, u in enumerate(utterances))
    return out, tuple(headings)


def from_markers(utterances: Sequence[Utterance], markers: Sequence[tuple[float, str]]) -> tuple[Heading, ...]:
    out = []
    for time, label in markers:
        # the first utterance that ends after the marker: the one being spoken, or the next
        at = next((i for i, u in enumerate(utterances) if u.end > time), len(utterances))
        out.append(Heading(at, time, label, "markers"))
    return tuple(out)


def find_headings(utterances: Sequence[Utterance], agenda: Sequence[str],
                  markers: Sequence[tuple[float, str]] = (),
                  labels: dict[str, str] | None = None) -> tuple[tuple[Utterance, ...], tuple[Heading, ...]]:
    """The headings, and the utterances with a "heading" mark where an item may start but the
    draft is not sure. `labels` maps speaker ids to printed labels (委員長, 事務局, A委員, 話者1):
    only the chair's and the clerk's words announce."""
    if markers:
        return tuple(utterances), from_markers(utterances, markers)
    if agenda and utterances:
        return from_agenda(utterances, agenda, labels)
    return tuple(utterances), ()
