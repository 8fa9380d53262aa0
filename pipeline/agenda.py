"""Agenda headings for the 発言要旨 table, in order of trust:

1. markers pressed during recording (`kaigiroku record` writes AUDIO.markers.json:
   {"markers": [{"time": 754.2, "label": "案件1 …"}]}), placed at the utterance then speaking;
2. the meeting file's agenda matched against what is said (「案件1…を行います」, 「休憩」,
   「再開」, 「閉会」), in agenda order, never inventing a heading that was not found;
3. none.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Sequence

from .errors import KaigirokuError
from .types import Heading, Utterance

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


def cues(item: str) -> list[str]:
    """What a speaker says when this item starts."""
    m = re.search(r"(案件|議案第?)\s*(\d+)", item)
    if m:
        return [f"{m.group(1)}{m.group(2)}"]
    for key, said in (("あいさつ", ["あいさつ", "挨拶"]), ("挨拶", ["あいさつ", "挨拶"]),
                      ("紹介", ["紹介"]), ("開会", ["開会", "開催"]), ("閉会", ["閉会"]),
                      ("休憩", ["休憩"]), ("再開", ["再開"]), ("確認", ["確認"]), ("報告", ["報告"])):
        if key in item:
            return said
    words = re.findall(r"[\u4e00-\u9fff\u30a0-\u30ffー]{4,}", item)
    return sorted(words, key=len, reverse=True)[:1]


def _compact(text: str) -> str:
    return re.sub(r"[\s、。・]", "", text)



LAST_WORDS = 30  # characters: a cue this close to the end of an utterance is its last sentence


def _starts_after(cue: str, offset: int, length: int) -> bool:
    """Does the item begin after the utterance that names it?

    A break begins after 「…休憩といたします」; 「…それでは案件1について説明をお願いします」 as the
    last words of an utterance announces what follows (the next speaker explains it), while
    「では本日案件1…を行います。事務局から説明を…」 with more said after it starts it here.
    開会, あいさつ, 閉会 … are said inside their own part (「…ご挨拶とさせていただきます」).
    """
    if cue == "休憩":
        return True
    return cue.startswith(("案件", "議案")) and length - (offset + len(cue)) < LAST_WORDS


# 「委員長あいさつ」 is said by the 委員長: an item that starts with a label is looked for in that
# speaker's utterances (the 事務局's 「委員長からごあいさつを…」 does not start it).
_SPEAKER_ITEMS = ("副委員長", "委員長", "副会長", "会長", "事務局")


def from_agenda(utterances: Sequence[Utterance], agenda: Sequence[str],
                labels: dict[str, str] | None = None) -> tuple[Heading, ...]:
    headings: list[Heading] = []
    start = 0
    for item in agenda_items(agenda):
        said = cues(item)
        if not said:
            continue
        by = next((r for r in _SPEAKER_ITEMS if item.startswith(r)), None) if labels else None
        for i in range(start, len(utterances)):
            if by and labels.get(utterances[i].speaker) != by:
                continue
            text = _compact(utterances[i].text)
            found = [(text.find(c), c) for c in said if c in text]
            if not found:
                continue
            offset, cue = min(found)
            late = _starts_after(cue, offset, len(text))
            at = i + 1 if late else i
            time = utterances[at].start if at < len(utterances) else utterances[-1].end
            headings.append(Heading(at, time, item, "agenda"))
            # The same utterance may name the next item too (再開。案件2について…), but nothing
            # after a break is in the utterance announcing it (「…3時から再開します」).
            start = i + 1 if cue == "休憩" else i
            break
        else:
            logger.info("agenda item not heard: %s", item)
    return tuple(headings)


def from_markers(utterances: Sequence[Utterance], markers: Sequence[tuple[float, str]]) -> tuple[Heading, ...]:
    out = []
    for time, label in markers:
        # the first utterance that ends after the marker: the one being spoken, or the next
        at = next((i for i, u in enumerate(utterances) if u.end > time), len(utterances))
        out.append(Heading(at, time, label, "markers"))
    return tuple(out)


def find_headings(utterances: Sequence[Utterance], agenda: Sequence[str],
                  markers: Sequence[tuple[float, str]] = (),
                  labels: dict[str, str] | None = None) -> tuple[Heading, ...]:
    """`labels` maps speaker ids to printed labels (委員長 …) for items said by one speaker."""
    if markers:
        return from_markers(utterances, markers)
    if agenda and utterances:
        return from_agenda(utterances, agenda, labels)
    return ()
