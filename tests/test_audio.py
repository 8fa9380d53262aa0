import numpy as np
import pytest

from audio_files import tone, write
from pipeline.audio import load_audio
from pipeline.errors import KaigirokuError


def dominant_freq(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("suffix, rate, channels", [
    (".wav", 44100, 2), (".flac", 48000, 6), (".mp3", 44100, 1), (".m4a", 48000, 2),
    (".ogg", 48000, 1), (".wav", 8000, 1),
])
def test_any_common_format_decodes_to_16k_mono(tmp_path, options, suffix, rate, channels):
    path = write(tmp_path / f"in{suffix}", tone(2.0, rate, channels), rate)
    audio = load_audio(path, options.audio)
    assert audio.sample_rate == 16000 and audio.samples.ndim == 1
    assert audio.samples.dtype == np.float32
    assert abs(audio.duration - 2.0) < 0.1            # encoders pad a few ms
    assert audio.info.channels == channels and audio.info.sample_rate == rate
    assert abs(dominant_freq(audio.samples[1600:-1600], 16000) - 440.0) < 5.0
    assert len(audio.info.sha256) == 64


def test_one_silent_channel_in_stereo_still_decodes(tmp_path, options):
    x = tone(2.0, 16000, 2)
    x[1] = 0
    audio = load_audio(write(tmp_path / "half.wav", x, 16000), options.audio)
    assert np.sqrt(np.mean(audio.samples ** 2)) > 0.05


def test_truncated_file_keeps_what_is_readable(tmp_path, options):
    path = write(tmp_path / "cut.flac", tone(6.0, 16000), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    audio = load_audio(path, options.audio)
    assert 1.0 < audio.duration < 5.5


@pytest.mark.parametrize("name, content, expected", [
    ("empty.wav", b"", "空です"),
    ("notes.wav", "これは会議のメモです。\n".encode() * 50, "音声ファイルとして読めません"),
    ("photo.mp3", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20, "読めません"),
])
def test_bad_files(tmp_path, options, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(KaigirokuError) as e:
        load_audio(path, options.audio)
    assert expected in e.value.message or "音声が入っていません" in e.value.message


def test_missing_file(tmp_path, options):
    with pytest.raises(KaigirokuError, match="見つかりません"):
        load_audio(tmp_path / "none.wav", options.audio)


def test_silent_recording_is_refused(tmp_path, options):
    path = write(tmp_path / "silent.wav", np.zeros((1, 16000 * 5), np.float32), 16000)
    with pytest.raises(KaigirokuError, match="無音"):
        load_audio(path, options.audio)


def test_too_short_is_refused(tmp_path, options):
    path = write(tmp_path / "blip.wav", tone(0.05, 16000), 16000)
    with pytest.raises(KaigirokuError, match="ほとんどありません"):
        load_audio(path, options.audio)
