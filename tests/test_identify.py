"""Naming voices: the Viterbi pass on synthetic evidence (fast), bad enrollment clips."""

import numpy as np
import pytest

from audio_files import tone, write
from pipeline.errors import KaigirokuError
from pipeline.identify import load_voice_clips, viterbi
from pipeline.meeting import Participant

NOBODY = 3  # with three voices, state 3 is "matches nobody"


def run(scores, durations, clusters, threshold=0.5, penalty=0.5):
    scores = np.array(scores, float)
    weights = np.minimum(np.array(durations, float), 3.0) + 0.1
    same = np.array([i > 0 and clusters[i] == clusters[i - 1] for i in range(len(clusters))])
    return list(viterbi(scores, weights, same, threshold, penalty))


def test_clear_evidence_names_each_turn():
    assert run([[0.9, 0.3, 0.2], [0.2, 0.8, 0.3], [0.3, 0.2, 0.9]], [4, 4, 4], "abc") == [0, 1, 2]


def test_a_short_flip_inside_one_cluster_is_absorbed():
    # the 0.4 s middle piece leans slightly to voice 1, but it sits inside voice 0's cluster run
    scores = [[0.9, 0.5, 0.2], [0.55, 0.6, 0.2], [0.9, 0.5, 0.2]]
    assert run(scores, [5, 0.4, 5], "aaa") == [0, 0, 0]


def test_a_cluster_that_merged_two_voices_still_splits_on_long_turns():
    scores = [[0.9, 0.4, 0.2], [0.4, 0.9, 0.2], [0.9, 0.4, 0.2]]
    assert run(scores, [6, 6, 6], "aaa") == [0, 1, 0]


def test_a_voice_matching_nobody_is_not_given_a_name():
    scores = [[0.9, 0.3, 0.2], [0.35, 0.3, 0.4], [0.9, 0.3, 0.2]]
    assert run(scores, [4, 4, 4], "aba") == [0, NOBODY, 0]


def test_cluster_change_makes_switching_cheap():
    scores = [[0.9, 0.2, 0.2], [0.5, 0.62, 0.2]]
    assert run(scores, [4, 1.0], "ab") == [0, 1]
    assert run(scores, [4, 1.0], "aa") == [0, 0]


def test_voice_clip_problems_name_the_participant(tmp_path, options):
    notes = tmp_path / "memo.flac"
    notes.write_text("not audio", encoding="utf-8")
    with pytest.raises(KaigirokuError, match="参加者 山本 健一 の声の録音"):
        load_voice_clips([Participant("山本 健一", "委員長", voice=notes)], options.audio, options.identify)
    short = write(tmp_path / "short.flac", tone(1.5, 16000), 16000)
    with pytest.raises(KaigirokuError, match="石井 真理.*短すぎます"):
        load_voice_clips([Participant("石井 真理", "委員", voice=short)], options.audio, options.identify)


def test_real_clips_load(sample_dir, options):
    people = [Participant("佐藤 由美", "説明者", voice=sample_dir / "voices" / "sato.flac"),
              Participant("田村 浩", "委員")]
    clips = load_voice_clips(people, options.audio, options.identify)
    assert [c.participant.name for c in clips] == ["佐藤 由美"]
    assert len(clips[0].samples) > 16000 * 8


# --- each turn's own voice, pooled from pyannote's chunk embeddings ---------------------------

def chunks_of(activity_per_chunk, frames=100):
    """(chunks, frames, 2) binary activity from [(speaker, first_frame, last_frame), …] per chunk."""
    seg = np.zeros((len(activity_per_chunk), frames, 2), np.float32)
    for c, spans in enumerate(activity_per_chunk):
        for s, f0, f1 in spans:
            seg[c, f0:f1, s] = 1
    return seg


def test_a_turn_takes_the_voice_of_the_local_speaker_heard_during_it():
    from pipeline.diarize import turn_embeddings
    from pipeline.types import Turn

    # two 10 s chunks with a 5 s step (100 frames of 0.1 s); voice x in the first half of
    # chunk 0, voice y from 5 s to 10 s (chunk 0 second half = chunk 1 first half)
    x, y = np.eye(4)[0] * 3, np.eye(4)[1] * 2  # not unit length: the pooling normalises
    seg = chunks_of([[(0, 0, 50), (1, 50, 100)], [(1, 0, 50)]])
    emb = np.array([[x, y], [y, np.full(4, np.nan)]])  # chunk 1's second speaker: too short
    turns = (Turn(0.5, 4.5, "C1"), Turn(5.5, 9.5, "C2"), Turn(12.0, 14.0, "C2"))
    own = turn_embeddings(turns, seg, 0.0, 5.0, 10.0, emb)
    np.testing.assert_allclose(own[0], np.eye(4)[0], atol=1e-6)
    np.testing.assert_allclose(own[1], np.eye(4)[1], atol=1e-6)
    assert np.isnan(own[2]).all()  # nobody with an embedding speaks at 12–14 s


def test_overlapped_frames_do_not_count_and_the_larger_share_dominates():
    from pipeline.diarize import turn_embeddings
    from pipeline.types import Turn

    x, y = np.eye(3)[0], np.eye(3)[1]
    # speaker 0 alone for 3 s, both together for 2 s, speaker 1 alone for 1 s
    seg = chunks_of([[(0, 0, 50), (1, 30, 60)]])
    own = turn_embeddings((Turn(0.0, 6.0, "C1"),), seg, 0.0, 5.0, 10.0, np.array([[x, y]]))
    expected = (3 * x + 1 * y) / np.linalg.norm(3 * x + 1 * y)
    np.testing.assert_allclose(own[0], expected, atol=1e-6)
