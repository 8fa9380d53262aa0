"""The review page's edits, as plain functions: a `Minutes` in, a new `Minutes` out (issue #8).

Each function checks its arguments and raises `EditError` (a Japanese line for the page) rather
than producing a result the writers cannot print.

Edited text and the timing data: an utterance's `words` are Whisper's raw words with their times
and `marks` are character spans of the printed `text`. When the editor changes the text, the
words are kept as they are (they still say where in the recording the utterance is, for playback
and for splitting), and each mark is carried over to the new text only if the characters it
covers were left untouched (difflib alignment); a mark on edited characters is dropped, because
the editor has looked at exactly that spot. `word_spans` re-derives which characters show which
word by aligning the text with the raw words, so this holds for edited text too.
"""

from __future__ import annotations

from dataclasses import replace
from difflib import SequenceMatcher

from ..meeting import Meeting, empty_meeting
from ..roles import CHORUS_LABEL, label_speakers
from ..types import CHORUS, Heading, Mark, Minutes, Speaker, SpeakerId, Utterance

CHORUS_ID = str(CHORUS)  # the id of 一同


class EditError(ValueError):
    """An edit that cannot be applied; `message` is shown to the editor as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _utterance(minutes: Minutes, index: int) -> Utterance:
    if not isinstance(index, int) or not 0 <= index < len(minutes.utterances):
        raise EditError(f"発言 {index} はありません。ページを再読み込みしてください。")
    return minutes.utterances[index]


def _with_utterances(minutes: Minutes, utterances: list[Utterance]) -> Minutes:
    return replace(minutes, utterances=tuple(utterances))


def meeting_of(minutes: Minutes) -> Meeting:
    return Meeting.from_dict(minutes.meeting) if minutes.meeting else empty_meeting()


# --- text ---------------------------------------------------------------------------------

def carry_marks(marks: tuple[Mark, ...], old: str, new: str) -> tuple[Mark, ...]:
    """Marks whose characters survive unchanged from `old` to `new`, at their new offsets."""
    if old == new:
        return marks
    blocks = SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks()
    out = []
    for m in marks:
        for a, b, size in blocks:
            if a <= m.start and m.end <= a + size:
                out.append(replace(m, start=m.start - a + b, end=m.end - a + b))
                break
    return tuple(out)


def edit_text(minutes: Minutes, index: int, text: str) -> Minutes:
    u = _utterance(minutes, index)
    text = " ".join(str(text).split("\n")).strip()
    if not text:
        raise EditError("発言の文を空にはできません。不要な発言は前後の発言と結合してください。")
    utterances = list(minutes.utterances)
    utterances[index] = replace(u, text=text, marks=carry_marks(u.marks, u.text, text))
    return _with_utterances(minutes, utterances)


def word_spans(u: Utterance) -> list[tuple[int, int, int]]:
    """(first char, end char, word index) runs of `u.text`: which printed characters show which
    raw word. Characters the cleaning or the editor added take the word before them."""
    raw, owner = [], []
    for i, w in enumerate(u.words):
        raw.extend(w.text)
        owner.extend([i] * len(w.text))
    if not u.words or not u.text:
        return []
    source = [-1] * len(u.text)
    for a, b, size in SequenceMatcher(None, "".join(raw), u.text, autojunk=False).get_matching_blocks():
        for k in range(size):
            source[b + k] = owner[a + k]
    first = next((s for s in source if s >= 0), 0)
    spans: list[list[int]] = []
    current = first
    for c, s in enumerate(source):
        # words only go forward: an out-of-order match (a repeated kana) keeps the current word
        if s >= 0 and s >= current:
            current = s
        if spans and spans[-1][2] == current:
            spans[-1][1] = c + 1
        else:
            spans.append([c, c + 1, current])
    return [tuple(s) for s in spans]


# --- split and merge -----------------------------------------------------------------------

def _shift_headings(headings: tuple[Heading, ...], after: int, by: int) -> tuple[Heading, ...]:
    return tuple(replace(h, before=h.before + by) if h.before > after else h for h in headings)


def split_utterance(minutes: Minutes, index: int, at: int) -> Minutes:
    """Split utterance `index` before character `at`; the words go with the side they print on."""
    u = _utterance(minutes, index)
    if not isinstance(at, int) or not 0 < at < len(u.text):
        raise EditError("分割する位置を、文の途中に置いてください（先頭と末尾では分割できません）。")
    left_text, right_text = u.text[:at].rstrip(), u.text[at:].lstrip()
    if not left_text or not right_text:
        raise EditError("分割すると片方が空になります。文字のあるところで分割してください。")
    cut = len(u.words)
    for a, _, w in word_spans(u):
        if a >= at:
            cut = w
            break
    if cut == 0 and u.words:  # the cursor is inside the first word: it stays on the left
        cut = 1
    lw, rw = u.words[:cut], u.words[cut:]
    mid = lw[-1].end if lw and rw else u.start + (u.end - u.start) * at / len(u.text)
    right_start = rw[0].start if rw else mid
    offset = len(u.text) - len(right_text)

    def clip(m: Mark, lo: int, hi: int, shift: int) -> Mark | None:
        a, b = max(m.start, lo), min(m.end, hi)
        return replace(m, start=a - shift, end=b - shift) if a < b else None

    left_marks = tuple(m for m in (clip(m, 0, len(left_text), 0) for m in u.marks) if m)
    right_marks = tuple(m for m in (clip(m, offset, len(u.text), offset) for m in u.marks) if m)
    left = replace(u, end=max(u.start, mid), words=lw, text=left_text, marks=left_marks)
    right = replace(u, start=min(right_start, u.end), words=rw, text=right_text, marks=right_marks)
    utterances = list(minutes.utterances)
    utterances[index:index + 1] = [left, right]
    return replace(_with_utterances(minutes, utterances),
                   headings=_shift_headings(minutes.headings, index, 1))


def merge_with_next(minutes: Minutes, index: int) -> Minutes:
    a = _utterance(minutes, index)
    if index + 1 >= len(minutes.utterances):
        raise EditError("最後の発言です。結合する次の発言がありません。")
    b = minutes.utterances[index + 1]
    if any(h.before == index + 1 for h in minutes.headings):
        raise EditError("2つの発言の間に見出しがあります。先に見出しを削除してください。")
    if a.speaker != b.speaker:
        raise EditError("話者の違う発言は結合できません。先に話者をそろえてください。")
    shift = len(a.text)  # Japanese text joins without a space
    marks = a.marks + tuple(replace(m, start=m.start + shift, end=m.end + shift) for m in b.marks)
    merged = replace(a, end=max(a.end, b.end), words=a.words + b.words, text=a.text + b.text,
                     marks=marks, speaker_uncertain=a.speaker_uncertain or b.speaker_uncertain)
    utterances = list(minutes.utterances)
    utterances[index:index + 2] = [merged]
    return replace(_with_utterances(minutes, utterances),
                   headings=_shift_headings(minutes.headings, index, -1))


# --- speakers ------------------------------------------------------------------------------

def relabel(minutes: Minutes) -> Minutes:
    """Printed labels recomputed exactly as `kaigiroku export` does (letters by first speech)."""
    bare = tuple(replace(s, label=s.id) for s in minutes.speakers)
    return replace(minutes, speakers=label_speakers(bare, minutes.utterances, meeting_of(minutes)))


def speaker_for(minutes: Minutes, choice: dict) -> tuple[Minutes, str]:
    """The speaker id for the editor's choice: an existing voice ({"speaker": id}), a participant
    of the meeting file ({"participant": name}, a new speaker if no voice was named so) or 一同."""
    if not isinstance(choice, dict):
        raise EditError("話者の指定が正しくありません。")
    if "speaker" in choice:
        sid = str(choice["speaker"])
        if sid == CHORUS_ID and all(s.id != sid for s in minutes.speakers):
            return replace(minutes, speakers=minutes.speakers + (Speaker(CHORUS_ID, CHORUS_LABEL),)), sid
        if all(s.id != sid for s in minutes.speakers):
            raise EditError(f"話者 {sid} はこの結果にありません。ページを再読み込みしてください。")
        return minutes, sid
    name = str(choice.get("participant", ""))
    people = {p.name: p for p in meeting_of(minutes).participants}
    if name not in people:
        raise EditError(f"出席者「{name}」は会議ファイルにありません。")
    for s in minutes.speakers:
        if s.name == name:
            return minutes, s.id
    taken = {s.id for s in minutes.speakers}
    n = 1
    while str(SpeakerId("editor", n)) in taken:  # named by the editor (no voice evidence)
        n += 1
    p, sid = people[name], str(SpeakerId("editor", n))
    return replace(minutes, speakers=minutes.speakers + (Speaker(sid, p.role, p.name, p.role),)), sid


def set_speaker(minutes: Minutes, index: int, choice: dict, everywhere: bool = False) -> Minutes:
    """Give utterance `index` (or, `everywhere`, every utterance of its speaker) another speaker.

    The editor chose by ear, so this utterance's voice flag is cleared; with `everywhere` the
    other utterances keep theirs (each one's own voice evidence is still what it was)."""
    u = _utterance(minutes, index)
    minutes, target = speaker_for(minutes, choice)
    utterances = list(minutes.utterances)
    for i, v in enumerate(utterances):
        if i == index:
            utterances[i] = replace(v, speaker=target, speaker_uncertain=False)
        elif everywhere and v.speaker == u.speaker:
            utterances[i] = replace(v, speaker=target)
    return relabel(_with_utterances(minutes, utterances))


# --- headings ------------------------------------------------------------------------------

def _heading(minutes: Minutes, k: int) -> Heading:
    if not isinstance(k, int) or not 0 <= k < len(minutes.headings):
        raise EditError(f"見出し {k} はありません。ページを再読み込みしてください。")
    return minutes.headings[k]


def _title(title: str) -> str:
    title = " ".join(str(title).split())
    if not title:
        raise EditError("見出しの文字を入れてください。")
    return title


def add_heading(minutes: Minutes, before: int, title: str) -> Minutes:
    if not isinstance(before, int) or not 0 <= before <= len(minutes.utterances):
        raise EditError("見出しを入れる位置がありません。ページを再読み込みしてください。")
    time = minutes.utterances[before].start if before < len(minutes.utterances) else (
        minutes.utterances[-1].end if minutes.utterances else 0.0)
    heading = Heading(before, time, _title(title), "editor")
    headings = sorted(minutes.headings + (heading,), key=lambda h: h.before)  # stable: after others
    # The draft's "heading" marks suggest where an item starts (pipeline.agenda): the editor who
    # inserts that item has answered them.
    utterances = tuple(replace(u, marks=tuple(m for m in u.marks if not (m.kind == "heading" and m.note == heading.title)))
                       if any(m.kind == "heading" and m.note == heading.title for m in u.marks) else u
                       for u in minutes.utterances)
    return replace(minutes, headings=tuple(headings), utterances=utterances)


def rename_heading(minutes: Minutes, k: int, title: str) -> Minutes:
    headings = list(minutes.headings)
    headings[k] = replace(_heading(minutes, k), title=_title(title))
    return replace(minutes, headings=tuple(headings))


def remove_heading(minutes: Minutes, k: int) -> Minutes:
    _heading(minutes, k)
    return replace(minutes, headings=minutes.headings[:k] + minutes.headings[k + 1:])


# --- flags ---------------------------------------------------------------------------------

def check_flags(minutes: Minutes, index: int, mark: int | None = None, speaker: bool = False) -> Minutes:
    """Mark flags as checked, which removes them from the draft: one text mark (`mark`, its index
    in `marks`), the speaker flag (`speaker`), or, with neither, every flag of the utterance."""
    u = _utterance(minutes, index)
    if mark is not None:
        if not isinstance(mark, int) or not 0 <= mark < len(u.marks):
            raise EditError("この印はもうありません。ページを再読み込みしてください。")
        u = replace(u, marks=u.marks[:mark] + u.marks[mark + 1:])
    elif speaker:
        u = replace(u, speaker_uncertain=False)
    else:
        u = replace(u, marks=(), speaker_uncertain=False)
    utterances = list(minutes.utterances)
    utterances[index] = u
    return _with_utterances(minutes, utterances)


OPS = {
    "text": lambda m, a: edit_text(m, a["index"], a["text"]),
    "split": lambda m, a: split_utterance(m, a["index"], a["at"]),
    "merge": lambda m, a: merge_with_next(m, a["index"]),
    "speaker": lambda m, a: set_speaker(m, a["index"], a["choice"], bool(a.get("all", False))),
    "add_heading": lambda m, a: add_heading(m, a["before"], a["title"]),
    "rename_heading": lambda m, a: rename_heading(m, a["heading"], a["title"]),
    "remove_heading": lambda m, a: remove_heading(m, a["heading"]),
    "check": lambda m, a: check_flags(m, a["index"], a.get("mark"), bool(a.get("speaker", False))),
}

OP_NAMES = {"text": "文の修正", "split": "発言の分割", "merge": "発言の結合", "speaker": "話者の変更",
            "add_heading": "見出しの挿入", "rename_heading": "見出しの変更",
            "remove_heading": "見出しの削除", "check": "印の確認"}


def apply_edit(minutes: Minutes, op: str, args: dict) -> Minutes:
    """One edit by name, as the page sends it ({"op": "text", "index": 3, "text": "…"})."""
    if op not in OPS:
        raise EditError(f"知らない編集です: {op}")
    try:
        return OPS[op](minutes, args)
    except KeyError as e:
        raise EditError(f"編集の指定が足りません（{e.args[0]}）。") from None
    except TypeError as e:
        raise EditError(f"編集の指定が正しくありません（{e}）。") from None
