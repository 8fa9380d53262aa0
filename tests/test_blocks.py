"""Long recordings are transcribed in blocks cut at pauses (memory stays bounded)."""

import numpy as np
import pytest

from pipeline.transcribe import blocks

RATE = 100  # a coarse rate keeps the arrays small; blocks() only looks at energy


def speech_with_pauses(seconds: int, pauses: list[float]) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, seconds * RATE).astype(np.float32)
    for p in pauses:
        x[int(p * RATE):int((p + 1.0) * RATE)] = 0  # a 1 s pause
    return x


def test_a_short_recording_is_one_block():
    x = speech_with_pauses(100, [])
    assert blocks(x, RATE, 90.0) == [(0, len(x))]  # within 1.25 blocks: no tiny tail


def test_blocks_cover_everything_and_cut_inside_pauses():
    pauses = [170.0, 340.0, 505.0]  # each inside the 30 s before a block end
    x = speech_with_pauses(700, pauses)
    got = blocks(x, RATE, 180.0, search_s=30.0)
    assert got[0][0] == 0 and got[-1][1] == len(x)
    assert all(a[1] == b[0] for a, b in zip(got, got[1:]))  # contiguous, no gap, no overlap
    for _, end in got[:-1]:
        t = end / RATE
        assert any(p <= t <= p + 1.0 for p in pauses), f"cut at {t} s is not in a pause"
    assert all(end - start <= 1.25 * 180 * RATE for start, end in got)


def test_without_any_pause_blocks_still_bound_the_length():
    x = speech_with_pauses(1000, [])
    got = blocks(x, RATE, 200.0, search_s=20.0)
    assert len(got) >= 4 and got[-1][1] == len(x)
    assert max(e - s for s, e in got) <= 1.25 * 200 * RATE


@pytest.mark.parametrize("block", [0.0, -1.0])
def test_blocks_off(block):
    x = speech_with_pauses(50, [])
    assert blocks(x, RATE, block) == [(0, len(x))]


def test_piecewise_features_are_faster_whispers_own_numbers():
    from faster_whisper.feature_extractor import FeatureExtractor

    from pipeline.transcribe import PiecewiseFeatures

    rng = np.random.default_rng(1)
    piecewise = PiecewiseFeatures(FeatureExtractor())
    piecewise.PIECE_FRAMES = 700  # several pieces, one of them partial, in a short test
    for n in (100, 16000 * 7 + 33, 16000 * 31):
        x = (rng.normal(0, 0.1, n) * np.sin(np.arange(n) / 3000)).astype(np.float32)
        expected = FeatureExtractor()(x, chunk_length=30)
        got = piecewise(x, chunk_length=30)
        assert got.shape == expected.shape
        # the matrix product's blocking differs with the piece width: float32 rounding at most
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert piecewise.nb_max_frames == 3000  # attributes are faster-whisper's own
