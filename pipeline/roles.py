"""Print each speaker the way the 会議録 conventions want (../shared/reference/CONVENTIONS.md).

- 委員長, 副委員長, 会長, 副会長, 事務局, 説明者: the role itself (several staff share one label).
- Committee members (role 委員) by the meeting file's `member_labels`:
  letters — A委員, B委員 … in the order of their first utterance in this meeting (the reference);
  plain   — 委員;
  names   — surname + role for everyone (中村委員, 田中委員長, 花岡東部公民館長).
- A participant's `label` overrides all of this.
- Voices matching no enrolled participant: 発言者不明1, 2 …; without any enrollment: 話者1, 2 …,
  which the editor renames once with `speakers:` in the meeting file (話者1: 田中 哲).
"""

from __future__ import annotations

import string
from dataclasses import replace
from typing import Sequence

from .meeting import Meeting, Participant
from .types import Speaker, SpeakerId, Utterance

UNKNOWN = "発言者不明"
CHORUS_LABEL = "一同"  # everyone at once (pipeline.types.CHORUS)
ANONYMOUS = "話者"


def surname(name: str) -> str:
    return name.replace("\u3000", " ").split(" ")[0]


def letter(i: int) -> str:
    """A, B, …, Z, AA, AB … (a committee rarely has more than 26 speaking members)."""
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = string.ascii_uppercase[r] + s
    return s


def label_speakers(speakers: Sequence[Speaker], utterances: Sequence[Utterance],
                   meeting: Meeting) -> tuple[Speaker, ...]:
    """Give every speaker its printed label; order of first speech decides letters and numbers."""
    people = {p.name: p for p in meeting.participants}
    renames = dict(meeting.speakers)
    first_speech = {}
    for u in utterances:
        first_speech.setdefault(u.speaker, u.start)
    ordered = sorted(speakers, key=lambda s: first_speech.get(s.id, float("inf")))
    style = meeting.info.member_labels
    members = 0
    unknown = 0
    anonymous = 0
    out = {}
    for s in ordered:
        p = people.get(s.name) if s.name else None
        kind = SpeakerId.kind_of(s.id)
        if kind == "chorus":
            out[s.id] = replace(s, label=CHORUS_LABEL)
            continue
        if p is None:
            if kind == "unknown":  # heard, but matched no enrolled voice
                unknown += 1
                label = f"{UNKNOWN}{unknown}"
            else:
                anonymous += 1
                label = f"{ANONYMOUS}{anonymous}"
            # The editor's rename (話者1: 田中 哲) turns an anonymous voice into a participant.
            target = renames.get(label)
            if target in people:
                p = people[target]
                s = replace(s, name=p.name, role=p.role, uncertain=False)
            elif target:
                out[s.id] = replace(s, label=target)
                continue
            else:
                out[s.id] = replace(s, label=label)
                continue
        if p.role == "委員" and style == "letters" and not p.label:
            members += 1
        out[s.id] = replace(s, label=participant_label(p, style, members))
    return tuple(out[s.id] for s in speakers)


def participant_label(p: Participant, style: str, member_number: int) -> str:
    if p.label and style != "names":
        return p.label
    if style == "names":
        return surname(p.name) + (p.label or p.role)
    if p.role == "委員":
        return f"{letter(member_number - 1)}委員" if style == "letters" else "委員"
    return p.role
