"""一同: a short stretch in which several voices speak at once (synthetic annotations)."""

import warnings

import pytest

from pipeline.types import Turn

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pyannote.core import Annotation, Segment

from pipeline.diarize import CHORUS, chorus_islands, mark_chorus  # noqa: E402


def annotation(*tracks):
    ann = Annotation()
    for i, (start, end, who) in enumerate(tracks):
        ann[Segment(start, end), i] = who
    return ann


def test_everyone_at_once_between_pauses_is_a_chorus():
    ann = annotation((0, 10, "A"), (11.6, 13.0, "A"), (11.7, 13.1, "B"), (13.6, 30, "A"))
    (island,) = chorus_islands(ann, coverage=0.6)
    assert island == pytest.approx((11.6, 13.1))


def test_cross_talk_at_a_turn_edge_is_not():
    ann = annotation((0, 10, "A"), (9.2, 20, "B"))
    assert chorus_islands(ann, coverage=0.6) == []


def test_turns_inside_an_island_become_the_chorus():
    turns = (Turn(0, 10, "C1"), Turn(11.6, 13.1, "C2"), Turn(13.6, 30, "C1"))
    assert [t.speaker for t in mark_chorus(turns, [(11.6, 13.1)])] == ["C1", CHORUS, "C1"]
