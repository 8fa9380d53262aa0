from pipeline.meeting import Meeting, MeetingInfo, Participant
from pipeline.pii import PiiOptions, find_pii
from pipeline.types import Utterance

MEETING = Meeting(info=MeetingInfo(), participants=(Participant("山本 健一", "委員長"), Participant("小林 明子", "委員")),
                  vocabulary=("緑川町",))


def marks(text, names=True):
    (u,) = find_pii([Utterance(0, 1, "S1", (), text)], MEETING, PiiOptions(True, names))
    return [(text[m.start:m.end], m.note) for m in u.marks if m.kind == "pii"]


def test_phone_age_address_and_non_participant_names_are_candidates():
    text = "佐藤花子さんは78歳で、電話番号は090-1234-5678、住所は青森県おいらせ町上明堂112番地です。"
    found = marks(text)
    assert ("佐藤花子", "人名") in found
    assert ("78歳", "年齢") in found
    assert ("090-1234-5678", "電話番号") in found
    assert any(kind == "住所" and "112番地" in span for span, kind in found)


def test_participants_and_vocabulary_are_not_candidates():
    assert marks("山本委員長と小林委員から、緑川町の講座について質問がありました。") == []


def test_without_sudachi_lookup_the_patterns_still_work():
    assert marks("連絡先は0178-56-1234です。", names=False) == [("0178-56-1234", "電話番号")]


def test_a_long_monologue_is_read_in_pieces():
    from pipeline import morph

    text = "令和六年度の予算について十分に検討したいと思います。" * 800   # 20,800 characters, > Sudachi's limit
    tokens = morph.tokenize(text)
    assert "".join(t.surface for t in tokens) == text
    assert all(text[t.begin:t.end] == t.surface for t in tokens)
