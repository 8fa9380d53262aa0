from pipeline.meeting import Meeting, MeetingInfo, Participant
from pipeline.roles import label_speakers, letter
from pipeline.types import Speaker, Utterance

PEOPLE = (
    Participant("田中 哲", "委員長"), Participant("松井 克明", "副委員長"),
    Participant("中村 将人", "委員"), Participant("浅野 邦子", "委員"), Participant("深堀 信之", "委員"),
    Participant("兼田 敦史", "事務局", title="総務課 主任主査"), Participant("花岡", "説明者", label="東部公民館長"),
)


def meeting(style="letters", speakers=()):
    return Meeting(info=MeetingInfo(member_labels=style), participants=PEOPLE, speakers=speakers)


def sp(sid, person=None):
    p = next((p for p in PEOPLE if p.name == person), None)
    return Speaker(sid, sid, name=p.name if p else None, role=p.role if p else None, uncertain=p is None)


def utt(start, sid):
    return Utterance(start, start + 1, sid, (), "x")


def labels(speakers, utterances, m):
    return {s.id: s.label for s in label_speakers(speakers, utterances, m)}


def test_members_are_lettered_by_first_speech_not_by_list_order():
    speakers = [sp("P1", "田中 哲"), sp("P3", "中村 将人"), sp("P4", "浅野 邦子"), sp("P5", "深堀 信之")]
    # 深堀 speaks first, then 浅野, then 中村: A, B, C follow that order
    utts = [utt(0, "P1"), utt(10, "P5"), utt(20, "P4"), utt(30, "P5"), utt(40, "P3")]
    assert labels(speakers, utts, meeting()) == {"P1": "委員長", "P5": "A委員", "P4": "B委員", "P3": "C委員"}


def test_roles_and_label_override():
    speakers = [sp("P6", "兼田 敦史"), sp("P7", "花岡"), sp("P2", "松井 克明")]
    utts = [utt(0, "P6"), utt(5, "P7"), utt(9, "P2")]
    assert labels(speakers, utts, meeting()) == {"P6": "事務局", "P7": "東部公民館長", "P2": "副委員長"}


def test_plain_and_names_styles():
    speakers = [sp("P1", "田中 哲"), sp("P3", "中村 将人"), sp("P7", "花岡")]
    utts = [utt(0, "P1"), utt(1, "P3"), utt(2, "P7")]
    assert labels(speakers, utts, meeting("plain")) == {"P1": "委員長", "P3": "委員", "P7": "東部公民館長"}
    assert labels(speakers, utts, meeting("names")) == {"P1": "田中委員長", "P3": "中村委員", "P7": "花岡東部公民館長"}


def test_unknown_and_anonymous_voices_are_numbered_never_named():
    speakers = [sp("U2"), sp("P1", "田中 哲"), sp("U1")]
    utts = [utt(0, "P1"), utt(3, "U1"), utt(5, "U2")]
    assert labels(speakers, utts, meeting()) == {"P1": "委員長", "U1": "発言者不明1", "U2": "発言者不明2"}
    anon = [Speaker("S1", "S1"), Speaker("S2", "S2")]
    assert labels(anon, [utt(0, "S2"), utt(1, "S1")], Meeting(info=MeetingInfo())) == {"S2": "話者1", "S1": "話者2"}


def test_editor_renames_anonymous_speakers_in_the_meeting_file():
    anon = [Speaker("S1", "S1"), Speaker("S2", "S2"), Speaker("S3", "S3")]
    m = meeting(speakers=(("話者1", "田中 哲"), ("話者2", "中村 将人"), ("話者3", "傍聴者")))
    out = {s.id: s for s in label_speakers(anon, [utt(0, "S1"), utt(1, "S2"), utt(2, "S3")], m)}
    assert (out["S1"].label, out["S1"].name) == ("委員長", "田中 哲")
    assert out["S2"].label == "A委員"
    assert out["S3"].label == "傍聴者"


def test_letters_beyond_z():
    assert [letter(i) for i in (0, 25, 26, 27)] == ["A", "Z", "AA", "AB"]
