"""Second voices (overlapped speech) and the speaker range from the meeting file (issue #13)."""

from __future__ import annotations

from pyannote.core import Annotation, Segment

from pipeline.diarize import name_like_turns, second_voices
from pipeline.draft import UNLISTED_VOICES, second_voices_of, speaker_range
from pipeline.meeting import Meeting, MeetingInfo, Participant
from pipeline.types import Turn


def annotations():
    full, exclusive = Annotation(), Annotation()
    full[Segment(0, 10)] = "A"
    full[Segment(8, 14)] = "B"      # B starts while A still talks: 8–10 is overlapped
    full[Segment(20, 20.1)] = "B"   # a 0.1 s blip
    full[Segment(19.95, 22)] = "A"
    exclusive[Segment(0, 10)] = "A"
    exclusive[Segment(10, 14)] = "B"
    exclusive[Segment(19.95, 22)] = "A"
    return full, exclusive


def test_a_second_voice_is_where_pyannote_hears_someone_the_exclusive_turns_do_not_keep():
    full, exclusive = annotations()
    assert second_voices(full, exclusive, {"A": "C1", "B": "C2"}) == (Turn(8.0, 10.0, "C2"),)


def test_second_voices_take_the_name_their_cluster_got_and_drop_the_one_already_speaking():
    clustered = (Turn(0, 10, "C1"), Turn(10, 14, "C2"), Turn(14, 15, "C2"))
    named = (Turn(0, 10, "P1"), Turn(10, 14, "P2"), Turn(14, 15, "U1"))
    overlaps = (Turn(8, 10, "C2"), Turn(12, 13, "C1"), Turn(30, 31, "C9"))
    renamed = name_like_turns(overlaps, clustered, named)
    assert renamed == (Turn(8, 10, "P2"), Turn(12, 13, "P1"))  # C2 is mostly P2; C9 has no turns
    # a second voice named like the speaker of that moment says nothing new
    assert second_voices_of(renamed + (Turn(2, 3, "P1"),), named, {"P1", "P2"}) == renamed


def meeting(n: int) -> Meeting:
    people = tuple(Participant(f"委員{i}", "委員") for i in range(n))
    return Meeting(MeetingInfo(), people)


def test_the_meeting_file_bounds_the_voices_but_never_forces_a_count():
    assert speaker_range(meeting(0)) == (None, None)  # no roster: pyannote decides alone
    assert speaker_range(meeting(1)) == (None, 1 + UNLISTED_VOICES)
    low, high = speaker_range(meeting(7))
    assert low == 2  # a member may say nothing all meeting: not 7
    assert high >= 7 + 3  # 一同 and two unlisted guests are never merged by the cap
