"""The second look: speech Whisper skipped is found and transcribed again (pipeline/transcribe.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from scoring import cer

from pipeline.transcribe import missed_speech
from pipeline.types import Word


def words(*spans):
    return [Word(a, b, "あ", 0.9) for a, b in spans]


def test_speech_that_words_cover_is_not_missed():
    speech = [(0.0, 4.0), (5.0, 9.0)]
    assert missed_speech(speech, words((0.2, 1.5), (1.6, 3.9), (5.1, 7.0), (7.2, 8.8)), 2.0) == []


def test_speech_without_words_is_missed_and_its_pauses_do_not_split_it():
    # words until 10 s; then three VAD chunks with short pauses and no word: one span
    speech = [(0.0, 10.0), (10.5, 14.0), (14.6, 18.0), (18.5, 22.0), (23.0, 30.0)]
    got = missed_speech(speech, words((0.5, 9.8), (23.1, 29.5)), 2.0)
    assert len(got) == 1
    a, b = got[0]
    assert 10.2 <= a <= 10.6 and 21.9 <= b <= 22.6


def test_short_or_far_apart_scraps_are_not_worth_a_second_look():
    speech = [(0.0, 3.0), (3.5, 4.5), (9.0, 10.0)]  # 1 s and 1 s of uncovered speech, 4.5 s apart
    assert missed_speech(speech, words((0.0, 2.9)), 1.5) == []
    got = missed_speech(speech, words((0.0, 2.9)), 0.5)  # the word reaches 3.4 s with its slack
    assert got == [pytest.approx((3.5, 4.5), abs=0.02), pytest.approx((9.0, 10.0), abs=0.02)]
    assert missed_speech(speech, [], 0) == []  # off


@pytest.mark.slow
def test_a_skipped_turn_is_transcribed_again_without_duplicating_its_neighbours(sample_dir, options):
    """The sample's first pass with one whole turn removed (as Whisper's early window end loses
    it): the second look, with the embedded Whisper, finds that turn again and only that."""
    from pipeline.audio import load_audio
    from pipeline.models import resolve
    from pipeline.transcribe import _second_look, load_whisper, transcribe

    audio = load_audio(sample_dir / "meeting.flac", options.audio)
    asr = replace(options.transcribe, recover_missed_s=0)
    model = resolve(asr.model, "asr")
    first = transcribe(audio, model, asr)
    # the 説明者's first answer, 10.7–22.4 s in the truth
    kept = [s for s in first.segments if not (10.0 < (s.start + s.end) / 2 < 23.0)]
    assert len(kept) < len(first.segments)
    again = _second_look(load_whisper(model, asr), audio.samples, audio.sample_rate, kept,
                         replace(asr, recover_missed_s=2.0), None, 0.0)
    added = [s for s in again if s not in kept]
    text = "".join(s.text for s in added)
    assert added and all(10.0 < s.start and s.end < 23.5 for s in added), [(s.start, s.end) for s in added]
    # as well as the first pass heard that turn (the truth: 令和6年度は、新しい公民館講座を…)
    turn = json.loads((sample_dir / "truth.json").read_text(encoding="utf-8"))["turns"][1]["text"]
    before = "".join(s.text for s in first.segments if s not in kept)
    assert cer(turn, text) <= max(0.2, cer(turn, before) + 0.05), (text, before)
    assert "120万円" in text, text
    assert "説明をお願いします" not in text and "ありがとうございました" not in text  # no neighbour twice
    assert [s.start for s in again] == sorted(s.start for s in again)
    # and a first pass that missed nothing gets nothing added
    assert _second_look(load_whisper(model, asr), audio.samples, audio.sample_rate, list(first.segments),
                        replace(asr, recover_missed_s=2.0), None, 0.0) == list(first.segments)
