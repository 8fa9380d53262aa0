"""Naming participants from the voice library (issue #16 §1): several embeddings per person, a clip
still wins, and each speaker says where its voice came from. Synthetic vectors, no models."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import voices
from pipeline.draft import library_voices
from pipeline.identify import IdentifyOptions, Voice, _Scorer, name_turns, speakers_for
from pipeline.meeting import Meeting, MeetingInfo, Participant
from pipeline.types import Speaker, Turn

BODY = "緑川町公民館運営審議会"
OPTIONS = IdentifyOptions(full_trust=1.5, switch_penalty=0.1, match_threshold=0.5, uncertain_margin=0.1,
                          min_enroll_speech=3.0, recheck_margin=0.15)


def unit(*xs: float, dim: int = 8) -> np.ndarray:
    v = np.zeros(dim)
    v[:len(xs)] = xs
    return v / np.linalg.norm(v)


def test_a_turn_meets_the_nearest_of_a_persons_embeddings():
    # a person learned on two days (embeddings along axes 0 and 1) and one clip voice (axis 2)
    days = Voice(Participant("山本 健一", "委員長"), np.stack([unit(1), unit(0, 1)]))
    clip = Voice(Participant("佐藤 由美", "説明者"), unit(0, 0, 1))
    turn_like_day_two = unit(0.1, 1, 0.2)
    best = _Scorer([days, clip], "max")(turn_like_day_two)
    assert best[0] == pytest.approx(float(unit(0, 1) @ turn_like_day_two)) and best[0] > best[1]
    mean = _Scorer([days, clip], "top3")(turn_like_day_two)
    assert mean[0] == pytest.approx(float(np.mean(np.stack([unit(1), unit(0, 1)]) @ turn_like_day_two)))
    assert mean[1] == pytest.approx(best[1])  # one embedding: both pools agree
    rows = _Scorer([days, clip])(np.stack([turn_like_day_two, np.full(8, np.nan)]))
    assert np.isfinite(rows[0]).all() and np.isnan(rows[1]).all()  # a turn without a voice stays without


def test_turns_are_named_by_library_and_clip_voices_together():
    people = (Participant("山本 健一", "委員長"), Participant("佐藤 由美", "説明者"), Participant("田村 浩", "委員"))
    library_voice = Voice(people[0], np.stack([unit(1), unit(1, 0.3)]))
    clip_voice = Voice(people[1], unit(0, 1))
    turns = (Turn(0, 4, "C1"), Turn(4, 8, "C2"), Turn(8, 12, "C1"), Turn(12, 16, "C3"))
    own = np.stack([unit(1, 0.1), unit(0.05, 1), unit(1, 0.2), unit(0, 0, 1)])
    named, evidence = name_turns(turns, own, {}, [clip_voice, library_voice], people, OPTIONS)
    assert [t.speaker for t in named] == ["P1", "P2", "P1", "U1"]
    assert evidence.shape == (4, 2)
    speakers = {s.id: s for s in speakers_for(named, people, {"山本 健一": "library", "佐藤 由美": "clip"})}
    assert {k: s.voice_source for k, s in speakers.items()} == {"P1": "library", "P2": "clip", "U1": "none"}


def test_the_library_names_only_participants_without_a_clip(tmp_path):
    clip = tmp_path / "yamamoto.flac"
    clip.write_bytes(b"")
    meeting = Meeting(MeetingInfo(body="緑川町公民館運営審議会"),
                      (Participant("山本 健一", "委員長", voice=clip), Participant("小林　明子", "委員"),
                       Participant("田村 浩", "委員")))
    voices.set_consent(tmp_path, BODY)
    for name, seed in (("山本 健一", 1), ("小林 明子", 2)):
        e = tuple(float(x) for x in unit(seed, 1))
        voices.add_entries(tmp_path, BODY, name, [voices.VoiceEntry("m", "2024-01-01", 30.0, "cam", e)])
    got = library_voices(tmp_path, meeting, "cam")
    assert [v.participant.name for v in got] == ["小林　明子"]  # 山本 has a clip; 田村 is unknown
    assert got[0].embedding.shape == (1, 8)
    assert library_voices(tmp_path, meeting, "another model") == ()
    assert library_voices(None, meeting, "cam") == ()
    nameless = Meeting(MeetingInfo(), meeting.participants)
    assert library_voices(tmp_path, nameless, "cam") == ()


def test_voice_source_is_written_only_when_known_and_old_results_load():
    s = Speaker("P1", "委員長", "山本 健一", "委員長", voice_source="library")
    assert Speaker.from_dict(s.to_dict()) == s
    old = Speaker("P1", "委員長", "山本 健一", "委員長")
    assert "voice_source" not in old.to_dict()
    assert Speaker.from_dict(old.to_dict()).voice_source is None

