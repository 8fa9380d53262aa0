from pipeline.speakers import SpeakerOptions, assign_speakers
from pipeline.types import Turn
from pipeline.types import Segment, Transcript, Word


def transcript(*words: tuple[float, float, str]) -> Transcript:
    ws = tuple(Word(s, e, t, 0.9) for s, e, t in words)
    return Transcript("ja", 100.0, (Segment(ws[0].start, ws[-1].end, "".join(w.text for w in ws), ws),))


OPTS = SpeakerOptions(turn_gap=1.2, snap_window=0.0, min_utterance=0.0)


def test_each_word_takes_the_turn_it_overlaps_most_and_rows_split_at_changes():
    t = transcript((0.0, 0.5, "それでは"), (0.5, 1.0, "始めます"), (1.9, 2.4, "はい"), (2.4, 3.0, "説明します"))
    turns = [Turn(0.0, 1.2, "S1"), Turn(1.1, 3.5, "S2")]
    utts = assign_speakers(t, turns, OPTS)
    assert [(u.speaker, u.text) for u in utts] == [("S1", "それでは始めます"), ("S2", "はい説明します")]
    assert utts[1].start == 1.9 and utts[1].end == 3.0


def test_word_straddling_a_boundary_goes_to_the_larger_overlap():
    t = transcript((0.8, 1.6, "ええ"))
    utts = assign_speakers(t, [Turn(0.0, 1.0, "S1"), Turn(1.0, 3.0, "S2")], OPTS)
    assert utts[0].speaker == "S2"


def test_word_outside_every_turn_goes_to_the_nearest():
    t = transcript((5.0, 5.5, "以上"), (9.6, 9.9, "次"))
    utts = assign_speakers(t, [Turn(0.0, 4.0, "S1"), Turn(10.0, 12.0, "S2")], OPTS)
    assert [u.speaker for u in utts] == ["S1", "S2"]


def test_long_pause_starts_a_new_row_for_the_same_speaker():
    t = transcript((0.0, 1.0, "一つ目"), (3.0, 4.0, "二つ目"), (4.5, 5.0, "続き"))
    utts = assign_speakers(t, [Turn(0.0, 10.0, "S1")], OPTS)
    assert [u.text for u in utts] == ["一つ目", "二つ目続き"]


def test_every_word_is_kept_once_in_time_order():
    words = [(i * 0.7, i * 0.7 + 0.5, f"w{i}") for i in range(40)]
    turns = [Turn(0.0, 9.0, "S1"), Turn(9.0, 20.0, "S2"), Turn(20.0, 30.0, "S1")]
    utts = assign_speakers(transcript(*words), turns, OPTS)
    flat = [w.text for u in utts for w in u.words]
    assert flat == [w for _, _, w in words]
    assert all(a.end <= b.start for a, b in zip(utts, utts[1:]))


SLIVERS = SpeakerOptions(turn_gap=3.0, snap_window=1.0, min_utterance=0.8)


def test_a_change_moves_to_the_pause_so_a_word_is_not_split():
    # The diarization's edge falls inside "ありが|とうございました"; the pause is before it.
    t = transcript((0.0, 2.0, "お願いします。"), (2.5, 2.9, "ありが"), (3.0, 4.5, "とうございました。"))
    utts = assign_speakers(t, [Turn(0.0, 2.95, "S1"), Turn(2.95, 5.0, "S2")], SLIVERS)
    assert [(u.speaker, u.text) for u in utts] == [("S1", "お願いします。"), ("S2", "ありがとうございました。")]


def test_a_change_moves_forward_to_the_pause_too():
    t = transcript((0.0, 2.0, "よろしいでしょう"), (2.05, 2.3, "か"), (3.0, 4.5, "補足します。"))
    utts = assign_speakers(t, [Turn(0.0, 2.1, "S1"), Turn(2.1, 5.0, "S2")], SLIVERS)
    assert [(u.speaker, u.text) for u in utts] == [("S1", "よろしいでしょうか"), ("S2", "補足します。")]


def test_a_real_short_turn_survives_when_long_enough():
    t = transcript((0.0, 2.0, "異議ありませんか。"), (2.5, 3.6, "異議なし。"), (4.0, 5.0, "決定します。"))
    utts = assign_speakers(t, [Turn(0, 2.2, "S1"), Turn(2.2, 3.8, "S2"), Turn(3.8, 6, "S1")], SLIVERS)
    assert [u.speaker for u in utts] == ["S1", "S2", "S1"]


def test_a_sliver_between_two_turns_of_one_speaker_is_absorbed():
    t = transcript((0.0, 2.0, "それでは"), (2.1, 2.4, "え"), (2.5, 4.0, "始めます。"))
    utts = assign_speakers(t, [Turn(0, 2.05, "S1"), Turn(2.05, 2.45, "S2"), Turn(2.45, 5, "S1")],
                           SpeakerOptions(turn_gap=3.0, snap_window=0.0, min_utterance=0.8))
    assert [(u.speaker, u.text) for u in utts] == [("S1", "それではえ始めます。")]
