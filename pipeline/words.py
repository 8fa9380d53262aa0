"""The editor's corrections, learned per body (issue #16 §3): words the clerk fixes every meeting.

A committee's clerk corrects the same mishearings meeting after meeting (新議会 → 審議会, a
member's name, a plan's title). `collect` reads a corrected result (OUT.json after the review
page) and finds each correction as a pair, what the draft printed → what the editor wrote, cut
at word boundaries (SudachiPy); the pairs are kept per body. A pair seen in two meetings or more
is *offered*; the clerk accepts or rejects it (`kaigiroku words list|accept|reject`, or the app).
Nothing is applied that the clerk did not accept. An accepted pair then
- corrects the next drafts of that body, in the cleaning after the built-in dictionary, but only
  where the text is not a real word (pipeline/clean.py `apply_learned`: 解説 is never rewritten
  to 開設, whatever the editor did once);
- and its right side joins the vocabulary that Whisper is prompted with.

What the draft printed is derived again from the result's raw words with the draft's cleaning
(the review page keeps Whisper's words beside the edited text), so no copy of the draft is needed.

Storage (pipeline/library.py): DIR/words/<hash of body>.json =
    {"body": …, "pairs": [{"wrong", "right", "meetings": [sha256 of each recording],
                           "status": "seen" | "accepted" | "rejected", "first_seen", "last_seen"}]}
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from datetime import datetime
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Sequence

from . import library
from .errors import KaigirokuError
from .types import Minutes

PART = "words"
OFFER_AFTER = 2  # meetings a pair must be seen in before it is offered (issue #16)
MAX_CHARS = 16  # a longer change is a rewrite of the sentence, not a word the clerk fixes
PROMPT_WORDS = 20  # accepted words added to Whisper's prompt at most (it keeps ~220 tokens)
_NUMERALS = re.compile(r"[0-9０-９〇零一二三四五六七八九十百千万億兆]")


@dataclass(frozen=True)
class WordPair:
    wrong: str  # what the draft printed
    right: str  # what the editor wrote instead
    meetings: tuple[str, ...] = ()  # sha256 of the recordings whose results had it
    status: str = "seen"  # "seen" | "accepted" | "rejected"
    first_seen: str = ""
    last_seen: str = ""

    @property
    def offered(self) -> bool:
        return self.status == "seen" and len(self.meetings) >= OFFER_AFTER

    def to_dict(self) -> dict[str, Any]:
        return {"wrong": self.wrong, "right": self.right, "meetings": list(self.meetings),
                "status": self.status, "first_seen": self.first_seen, "last_seen": self.last_seen}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WordPair":
        return cls(str(d["wrong"]), str(d["right"]), tuple(d.get("meetings", ())), str(d.get("status", "seen")),
                   str(d.get("first_seen", "")), str(d.get("last_seen", "")))


@dataclass(frozen=True)
class Accepted:
    """What the next draft of a body uses: corrections for the cleaning, words for Whisper."""

    corrections: dict[str, str]
    vocabulary: tuple[str, ...]


NONE = Accepted({}, ())


# --- finding the editor's corrections --------------------------------------------------------------

def _bounds(text: str) -> list[int]:
    from . import morph

    tokens = morph.tokenize(text)
    return sorted({0, len(text), *(t.begin for t in tokens), *(t.end for t in tokens)})


def word_changes(drafted: str, edited: str) -> list[tuple[str, str]]:
    """The changes from `drafted` to `edited`, each widened to whole words (SudachiPy) on both
    sides: 公民[間]講座 → 公民[館]講座 gives 公民間 → 公民館, not 間 → 館."""
    if drafted == edited:
        return []
    ops = SequenceMatcher(None, drafted, edited, autojunk=False).get_opcodes()
    ba, bb = _bounds(drafted), _bounds(edited)

    def widen(bounds: list[int], lo: int, hi: int) -> tuple[int, int]:
        return lo - bounds[bisect.bisect_right(bounds, lo) - 1], bounds[bisect.bisect_left(bounds, hi)] - hi

    out, k = [], 0
    while k < len(ops):
        if ops[k][0] == "equal":
            k += 1
            continue
        first = last = k
        while True:
            i1, j1, i2, j2 = ops[first][1], ops[first][3], ops[last][2], ops[last][4]
            left = max(widen(ba, i1, i2)[0], widen(bb, j1, j2)[0])
            right = max(widen(ba, i1, i2)[1], widen(bb, j1, j2)[1])
            before = ops[first - 1][2] - ops[first - 1][1] if first > 0 else 0
            after = ops[last + 1][2] - ops[last + 1][1] if last + 1 < len(ops) else 0
            if left > before and first >= 2:  # the word reaches back into the change before
                first -= 2
            elif right > after and last + 2 < len(ops):
                last += 2
            else:
                break
        left, right = min(left, before), min(right, after)
        out.append((drafted[i1 - left:i2 + right], edited[j1 - left:j2 + right]))
        k = last + 1
    return out


def _worth_keeping(wrong: str, right: str) -> bool:
    """A word the clerk fixed, not punctuation, a removed filler, a numeral or a rewrite."""
    from .clean import PUNCT, _is_japanese

    strip = PUNCT + " \u3000"
    wrong, right = wrong.strip(strip), right.strip(strip)
    if len(wrong) < 2 or len(right) < 2 or len(wrong) > MAX_CHARS or len(right) > MAX_CHARS:
        return False
    if not any(_is_japanese(c) for c in wrong):
        return False
    bare = [re.sub(f"[{re.escape(strip)}]", "", x) for x in (wrong, right)]
    if bare[0] == bare[1] or _NUMERALS.sub("", bare[0]) == _NUMERALS.sub("", bare[1]):
        return False  # punctuation, or 三 → 3 (the numeral rules' business)
    return True


def corrections_in(minutes: Minutes, options) -> list[tuple[str, str]]:
    """The editor's word corrections in a result: (what the draft printed, what the editor wrote).

    `options` is the draft's CleanOptions: each utterance's raw words are cleaned again as the
    draft cleaned them (built-in dictionary and the meeting's vocabulary, not the body's learned
    corrections, so an accepted pair kept by the editor is seen again) and compared with its text."""
    from . import morph
    from .clean import clean_utterances

    if not morph.available():
        raise KaigirokuError("語の修正を集めるには SudachiPy が必要です。`pip install sudachipy sudachidict_core` を実行してください。")
    vocabulary = library.meeting_of(minutes).vocabulary
    drafted = clean_utterances(minutes.utterances, options, vocabulary)
    out = []
    for d, u in zip(drafted, minutes.utterances):
        for wrong, right in word_changes(d.text, u.text):
            if _worth_keeping(wrong, right):
                out.append((wrong.strip(), right.strip()))
    return out


# --- the store (no models: the app calls these) -----------------------------------------------------

def _path(root: Path, body: str) -> Path:
    return library.body_file(root, PART, body)


def load_pairs(root: Path, body: str) -> list[WordPair]:
    data = library.read_json(_path(root, body))
    return [WordPair.from_dict(p) for p in (data or {}).get("pairs", ())]


def _save(root: Path, body: str, pairs: Sequence[WordPair]) -> None:
    library.write_json(_path(root, body), {"body": library.normalise(body), "pairs": [p.to_dict() for p in pairs]})


def bodies(root: Path) -> list[str]:
    return [str(d["body"]) for p in library.body_files(root, PART) if (d := library.read_json(p))]


def add_meeting(root: Path, body: str, meeting: str, found: Sequence[tuple[str, str]]) -> list[WordPair]:
    """Record the pairs `found` in one meeting (its recording's sha256; a meeting counts once
    however often it is collected); the pairs it touched, as they now stand."""
    body = library.normalise(body)
    if not body:
        raise KaigirokuError("附属機関名（meeting.body）のない結果からは語の修正を集められません。--body で指定してください。")
    folder = library.private_folder(library.private_folder(Path(root)) / PART)
    now = datetime.now().astimezone().isoformat(timespec="seconds")
    with library.locked(folder):
        pairs = {(p.wrong, p.right): p for p in load_pairs(root, body)}
        touched = []
        for key in dict.fromkeys(found):
            p = pairs.get(key) or WordPair(*key, first_seen=now)
            if meeting not in p.meetings:
                p = replace(p, meetings=p.meetings + (meeting,), last_seen=now)
            pairs[key] = p
            touched.append(p)
        _save(root, body, list(pairs.values()))
    return touched


def decide(root: Path, body: str, wrong: str, right: str | None, status: str) -> WordPair:
    """Accept or reject a pair (`right` None: the one pair for `wrong`)."""
    if status not in ("accepted", "rejected", "seen"):
        raise ValueError(status)
    folder = library.private_folder(library.private_folder(Path(root)) / PART)
    with library.locked(folder):
        pairs = load_pairs(root, body)
        match = [p for p in pairs if p.wrong == wrong and (right is None or p.right == right)]
        if not match:
            raise KaigirokuError(f"「{wrong}」の修正は「{body}」にありません。`kaigiroku words list --all` で確認してください。")
        if len(match) > 1:
            raise KaigirokuError(f"「{wrong}」の直し方が複数あります（{'、'.join(p.right for p in match)}）。"
                                 "直した後の語も指定してください。")
        chosen = replace(match[0], status=status)
        _save(root, body, [chosen if p is match[0] else p for p in pairs])
    return chosen


def accepted(root: Path | None, body: str) -> Accepted:
    """The accepted pairs of a body, for its next draft."""
    if root is None or not body:
        return NONE
    pairs = [p for p in load_pairs(root, body) if p.status == "accepted"]
    recent = sorted(pairs, key=lambda p: (len(p.meetings), p.last_seen), reverse=True)
    return Accepted({p.wrong: p.right for p in pairs},
                    tuple(dict.fromkeys(p.right for p in recent))[:PROMPT_WORDS])


def collect(result: str | Path, root: str | Path, options, body: str | None = None) -> tuple[str, list[WordPair]]:
    """`kaigiroku words collect`: the body and the pairs of this corrected result, as they now stand."""
    minutes = library.read_minutes(Path(result))
    body = library.normalise(body or library.meeting_of(minutes).info.body)
    return body, add_meeting(Path(root), body, minutes.audio.sha256, corrections_in(minutes, options))
