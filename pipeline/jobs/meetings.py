"""A meeting in the database ↔ pipeline.meeting.Meeting ↔ meeting.yaml text.

The checks and their messages are pipeline.meeting's (the CLI's): text and JSON from a page go
through `parse_meeting` / `meeting_from_data` before anything is stored. `voice:` paths in
posted text are kept as written (for the export) and never opened; clips reach the data folder
by upload, or by `import_meeting_file` from a file on this PC.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

from ..fileio import atomic_path
from ..meeting import Meeting, MeetingInfo, Participant, dump_meeting, load_meeting, meeting_from_data, parse_meeting
from .data import DataFolder
from .models import Attendee, Body, MeetingRow

_ERAS = {"令和": 2018, "平成": 1988}  # era year N is Western year base + N


def held_on(text: str) -> date | None:
    """The day a 日時 line names (令和6年10月15日, 2024年10月15日, 2024-10-15), for search; else None."""
    t = unicodedata.normalize("NFKC", text or "")
    m = re.search(r"(令和|平成)\s*(元|\d{1,2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日", t)
    if m:
        year = _ERAS[m.group(1)] + (1 if m.group(2) == "元" else int(m.group(2)))
        parts = (year, int(m.group(3)), int(m.group(4)))
    else:
        m = re.search(r"(\d{4})\s*(?:年|-|/)\s*(\d{1,2})\s*(?:月|-|/)\s*(\d{1,2})", t)
        if not m:
            return None
        parts = tuple(int(g) for g in m.groups())
    try:
        return date(*parts)
    except ValueError:
        return None


def store_meeting(session, meeting: Meeting, *, row: MeetingRow | None = None,
                  body: Body | None = None) -> MeetingRow:
    """Write `meeting` into `row` (a new one if None), replacing its attendees. Attendees are
    linked to the roster of `body` (else of the body with the meeting's name, if any) by name.
    Voices: a path inside nobody's data folder is kept as written, not opened."""
    row = row or MeetingRow()
    if body is None and meeting.info.body:
        from sqlalchemy import select

        body = session.scalar(select(Body).where(Body.name == meeting.info.body))
    i = meeting.info
    row.body_row = body
    row.body, row.session, row.date, row.place = i.body, i.session, i.date, i.place
    row.held_on = held_on(i.date)
    row.agenda, row.member_labels = list(i.agenda), i.member_labels
    row.absent, row.vocabulary = list(meeting.absent), list(meeting.vocabulary)
    row.speakers = [list(pair) for pair in meeting.speakers]
    roster = {m.name: m for m in body.members} if body is not None else {}
    row.attendees = [Attendee(position=n, name=p.name, role=p.role, title=p.title, label=p.label,
                              member=roster.get(p.name),
                              voice_as_written=str(p.voice) if p.voice is not None else None)
                     for n, p in enumerate(meeting.participants)]
    session.add(row)
    return row


def import_meeting(session, source: str | dict[str, Any], where: str = "会議ファイル",
                   body: Body | None = None) -> MeetingRow:
    """meeting.yaml text (or the same fields as a dict, from JSON) → a new meeting; the CLI's
    checks and messages. Nothing named in it is opened."""
    meeting = parse_meeting(source, where) if isinstance(source, str) else meeting_from_data(source, where)
    return store_meeting(session, meeting, body=body)


def import_meeting_file(session, path: str | Path, data: DataFolder, body: Body | None = None) -> MeetingRow:
    """A meeting file on this PC (the clerk's own, as `kaigiroku draft --meeting` reads it): its
    voice clips are checked as the CLI checks them and copied into the data folder."""
    meeting = load_meeting(path)
    row = store_meeting(session, meeting, body=body)
    session.flush()  # the row's id names its folder
    folder = data.folder("voices", f"meeting-{row.id}")
    for attendee, p in zip(row.attendees, meeting.participants):
        if p.voice is not None:
            dst = folder / f"{attendee.position + 1:02d}{p.voice.suffix.lower()}"
            with atomic_path(dst) as tmp:
                shutil.copyfile(p.voice, tmp)
            attendee.voice = data.relative(dst)
    return row


def voice_of(attendee: Attendee, data: DataFolder) -> Path | None:
    """The clip a draft uses: this meeting's own, else the roster's (only with consent)."""
    if attendee.voice:
        return data.path(attendee.voice)
    member = attendee.member
    if member is not None and member.voice and member.voice_consent:
        return data.path(member.voice)
    return None


def meeting_of(row: MeetingRow, data: DataFolder) -> Meeting:
    """The meeting a draft runs with: voices are the data folder's clips (absolute paths)."""
    participants = tuple(Participant(a.name, a.role, a.title, a.label, voice_of(a, data)) for a in row.attendees)
    return _meeting(row, participants)


def export_meeting(row: MeetingRow, data: DataFolder) -> str:
    """meeting.yaml text for the CLI or another app: a clip in the data folder as its absolute
    path, else `voice:` as the imported file wrote it."""
    participants = []
    for a in row.attendees:
        voice = voice_of(a, data)
        if voice is None and a.voice_as_written:
            voice = Path(a.voice_as_written)
        participants.append(Participant(a.name, a.role, a.title, a.label, voice))
    return dump_meeting(_meeting(row, tuple(participants)))


def _meeting(row: MeetingRow, participants: tuple[Participant, ...]) -> Meeting:
    info = MeetingInfo(body=row.body, session=row.session, date=row.date, place=row.place,
                       agenda=tuple(row.agenda), member_labels=row.member_labels)
    return Meeting(info=info, participants=participants, absent=tuple(row.absent),
                   vocabulary=tuple(row.vocabulary), speakers=tuple((str(k), str(v)) for k, v in row.speakers))

