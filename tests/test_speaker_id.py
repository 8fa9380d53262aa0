"""Speaker identity as a type (issue #16 §4): the ids OUT.json keeps, parsed and printed alike."""

import pytest

from pipeline.draft import anonymous_turns
from pipeline.web.edits import speaker_for
from pipeline.meeting import Meeting, MeetingInfo, Participant
from pipeline.roles import label_speakers
from pipeline.types import CHORUS, AudioInfo, Minutes, Speaker, SpeakerId, Transcript, Turn, Utterance


@pytest.mark.parametrize("text,kind,index", [("P1", "participant", 1), ("U12", "unknown", 12),
                                             ("S3", "anonymous", 3), ("C2", "cluster", 2),
                                             ("E1", "editor", 1), ("ALL", "chorus", 0)])
def test_every_id_in_results_parses_and_prints_back(text, kind, index):
    sid = SpeakerId.parse(text)
    assert (sid.kind, sid.index) == (kind, index)
    assert str(sid) == text


@pytest.mark.parametrize("text", ["", "P", "P0", "P01", "X1", "SPEAKER_00", "all", "p1", "P1a"])
def test_strings_that_are_no_id_are_refused(text):
    with pytest.raises(ValueError):
        SpeakerId.parse(text)
    assert SpeakerId.kind_of(text) is None


def test_participant_ids_follow_the_meeting_files_order():
    assert str(SpeakerId.participant(0)) == "P1"
    assert SpeakerId.parse("P7").position == 6
    assert SpeakerId.parse("U7").position is None
    with pytest.raises(ValueError):
        SpeakerId("participant", 0)
    with pytest.raises(ValueError):
        SpeakerId("chorus", 1)


def test_anonymous_turns_number_clusters_and_keep_the_chorus():
    turns = (Turn(0, 1, "C2"), Turn(1, 2, str(CHORUS)), Turn(2, 3, "C1"), Turn(3, 4, "C2"))
    assert [t.speaker for t in anonymous_turns(turns)] == ["S1", "ALL", "S2", "S1"]


def test_labels_come_from_the_kind_not_the_letter():
    people = (Participant("田中 哲", "委員長"),)
    meeting = Meeting(info=MeetingInfo(), participants=people)
    speakers = (Speaker("U1", "U1"), Speaker("S1", "S1"), Speaker("ALL", "ALL"),
                Speaker("P1", "P1", "田中 哲", "委員長"), Speaker("odd", "odd"))
    utts = tuple(Utterance(i, i + 1, s.id, (), "x") for i, s in enumerate(speakers))
    assert [s.label for s in label_speakers(speakers, utts, meeting)] == \
        ["発言者不明1", "話者1", "一同", "委員長", "話者2"]


def test_the_editor_names_a_new_voice_with_an_editor_id():
    meeting = Meeting(info=MeetingInfo(), participants=(Participant("田中 哲", "委員長"), Participant("松井", "委員")))
    m = Minutes(AudioInfo("a.flac", "0", 2.0, 16000, 1), meeting.to_dict(), Transcript("ja", 2.0, ()),
                (Speaker("P1", "委員長", "田中 哲", "委員長"),), (Utterance(0, 1, "P1", (), "x"),))
    m2, sid = speaker_for(m, {"participant": "松井"})
    assert SpeakerId.parse(sid) == SpeakerId("editor", 1)
    _, again = speaker_for(m2, {"participant": "松井"})
    assert again == sid
    _, chorus = speaker_for(m, {"speaker": "ALL"})
    assert SpeakerId.parse(chorus) == CHORUS
