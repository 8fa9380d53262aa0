"""The words loop (issue #16 §3): the editor's corrections collected per body, offered after two
meetings, applied to the next draft only when accepted and only where no real word is rewritten.

Results are made the way the draft makes them (the cleaning over Whisper-like words) and edited
with the review page's own edit function; no models.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from pipeline import words
from pipeline.clean import clean_utterances
from pipeline.draft import finish_text, vocabulary_for
from pipeline.web.edits import edit_text
from pipeline.errors import KaigirokuError
from pipeline.meeting import Meeting, MeetingInfo, Participant
from pipeline.types import AudioInfo, Minutes, Speaker, Transcript, Utterance, Word

BODY = "緑川町公民館運営審議会"
MEETING = Meeting(MeetingInfo(body=BODY), (Participant("山本 健一", "委員長"),))


def spoken(*pieces: tuple[str, float]) -> tuple[Word, ...]:
    """Whisper-like words: (text, probability), a second each."""
    return tuple(Word(float(i), float(i + 1), text, p) for i, (text, p) in enumerate(pieces))


SAYINGS = [  # what Whisper wrote in every meeting of this body
    spoken(("本日の", 0.95), ("新議会", 0.6), ("を開催します", 0.95)),
    spoken(("公民間講座は", 0.6), ("三件です", 0.95)),
    spoken(("講座の", 0.9), ("解説", 0.7), ("について", 0.95)),
]


def drafted(options, sayings=SAYINGS, learned: words.Accepted = words.NONE) -> Minutes:
    utts = tuple(Utterance(w[0].start, w[-1].end, "P1", w, "") for w in sayings)
    utts, headings = finish_text(utts, MEETING, options, (Speaker("P1", "委員長", "山本 健一", "委員長"),), (), learned)
    return Minutes(AudioInfo("m.flac", "0", 10.0, 16000, 1), MEETING.to_dict(), Transcript("ja", 10.0, ()),
                   (Speaker("P1", "委員長", "山本 健一", "委員長"),), utts, headings=headings)


def edited_result(tmp_path: Path, options, meeting: str, fixes: dict[str, str]) -> Path:
    """A result as the review page leaves it: each fix made with its edit function."""
    m = drafted(options)
    m = Minutes.from_dict({**m.to_dict(), "audio": {**m.audio.to_dict(), "sha256": meeting}})
    for i, u in enumerate(m.utterances):
        text = u.text
        for wrong, right in fixes.items():
            text = text.replace(wrong, right)
        m = edit_text(m, i, text)
    path = tmp_path / f"{meeting}.json"
    path.write_text(json.dumps(m.to_dict(), ensure_ascii=False), encoding="utf-8")
    return path


def test_a_change_is_widened_to_whole_words_on_both_sides():
    assert words.word_changes("本日の新議会を開催します。", "本日の審議会を開催します。") == [("新議会", "審議会")]
    assert words.word_changes("これは新議会と公民間講座の件", "これは審議会と公民館講座の件") == \
        [("新議会", "審議会"), ("公民間", "公民館")]
    assert words.word_changes("同じ", "同じ") == []


def test_punctuation_fillers_and_numerals_are_no_word_corrections(options):
    m = drafted(options, [spoken(("えー", 0.9), (" 三人が来ました", 0.95))])
    assert m.utterances[0].text == "3人が来ました。"
    for text in ("えー3人が来ました。", "三人が来ました。", "3人が来ました", "3人が来ました！"):
        minutes = edit_text(m, 0, text)
        assert words.corrections_in(minutes, options.clean) == [], text


def test_the_loop_offers_after_two_meetings_and_applies_only_what_was_accepted(tmp_path, options):
    root = tmp_path / "library"
    fixes = {"新議会": "審議会", "公民間": "公民館", "解説": "開設"}
    body, first = words.collect(edited_result(tmp_path, options, "meeting-1", fixes), root, options.clean)
    assert body == BODY
    assert {(p.wrong, p.right) for p in first} == {("新議会", "審議会"), ("公民間", "公民館"), ("解説", "開設")}
    assert not any(p.offered for p in first)
    # collecting the same meeting again counts it once
    _, again = words.collect(tmp_path / "meeting-1.json", root, options.clean)
    assert not any(p.offered for p in again)
    _, second = words.collect(edited_result(tmp_path, options, "meeting-2", fixes), root, options.clean)
    assert all(p.offered for p in second)
    store = next((root / "words").glob("*.json"))
    assert stat.S_IMODE(store.stat().st_mode) == 0o600 and stat.S_IMODE((root / "words").stat().st_mode) == 0o700

    # nothing is applied before the clerk decides
    assert words.accepted(root, BODY) == words.Accepted({}, ())
    words.decide(root, BODY, "新議会", None, "accepted")
    words.decide(root, BODY, "公民間", "公民館", "rejected")
    words.decide(root, BODY, "解説", None, "accepted")  # a real word: vocabulary only
    learned = words.accepted(root, BODY)
    assert learned.corrections == {"新議会": "審議会", "解説": "開設"}
    assert set(learned.vocabulary) == {"審議会", "開設"}
    assert vocabulary_for(MEETING, learned)[:2] == learned.vocabulary

    third = drafted(options, learned=learned)
    texts = [u.text for u in third.utterances]
    assert "審議会を開催" in texts[0]  # accepted and not a word: corrected
    assert "公民間" in texts[1]  # rejected: left for the editor
    assert "解説" in texts[2]  # accepted, but 解説 is a real word: never rewritten
    without = drafted(options)
    assert "新議会" in without.utterances[0].text  # the library is what made the difference


def test_a_learned_correction_never_rewrites_part_of_a_real_word(options):
    # 民館 (a mishearing of 民間) is no word, yet it is also the end of 公民館
    ws = spoken(("公民館の", 0.9), ("民館", 0.5), ("で", 0.9))
    utts = (Utterance(0, 3, "P1", ws, ""),)
    out = clean_utterances(utts, options.clean, (), {"民館": "民間"})
    assert out[0].text == "公民館の民間で"


def test_deciding_names_an_unknown_or_ambiguous_pair(tmp_path):
    words.add_meeting(tmp_path, BODY, "m1", [("新議会", "審議会"), ("新議会", "市議会")])
    with pytest.raises(KaigirokuError, match="複数"):
        words.decide(tmp_path, BODY, "新議会", None, "accepted")
    assert words.decide(tmp_path, BODY, "新議会", "市議会", "accepted").status == "accepted"
    with pytest.raises(KaigirokuError, match="ありません"):
        words.decide(tmp_path, BODY, "公民間", None, "accepted")


def test_cli_collect_list_accept(tmp_path, options, capsys):
    from pipeline.cli import main

    lib = str(tmp_path / "library")
    fixes = {"新議会": "審議会"}
    for name in ("meeting-1", "meeting-2"):
        assert main(["words", "collect", str(edited_result(tmp_path, options, name, fixes)), "--library", lib]) == 0
    assert "候補が 1 組" in capsys.readouterr().out
    assert main(["words", "list", "--library", lib]) == 0
    assert "[候補] 新議会 → 審議会（2 回の会議）" in capsys.readouterr().out
    assert main(["words", "accept", "新議会", "--library", lib]) == 0
    assert words.accepted(Path(lib), BODY).corrections == {"新議会": "審議会"}
    words.add_meeting(Path(lib), "別の委員会", "m", [("あいう", "かきく")])
    assert main(["words", "list", "--library", lib]) == 1  # two bodies: --body is needed
    assert main(["words", "reject", "新議会", "--body", BODY, "--library", lib]) == 0
    assert words.accepted(Path(lib), BODY).corrections == {}
