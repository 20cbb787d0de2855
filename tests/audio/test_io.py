import numpy as np
import pytest
import soundfile as sf

from evalkit.audio.io import load_stems, read_audio, write_audio
from evalkit.errors import AudioError


def test_corrupt_empty_nan_and_rate_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(AudioError, match="corrupt.wav: unreadable"):
        read_audio(corrupt)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2)), 22050)
    with pytest.raises(AudioError, match="empty.wav: audio file has no samples"):
        read_audio(empty)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full((100, 1), np.nan), 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav: audio contains NaN"):
        read_audio(nan)
    ok = write_audio(tmp_path / "ok.wav", np.zeros((1, 100)) + 0.1, 22050)
    with pytest.raises(AudioError, match="ok.wav: sample rate 22050 Hz, expected 44100"):
        read_audio(ok, sample_rate=44100)
    x, sr = read_audio(ok, sample_rate=44100, resample=True)
    assert sr == 44100 and x.shape[-1] == 200


def test_stems_of_different_lengths_are_padded_and_mono_upmixed(tmp_path):
    a = write_audio(tmp_path / "a.wav", np.full((2, 100), 0.1), 8000)
    b = write_audio(tmp_path / "b.wav", np.full((1, 60), 0.2), 8000)
    stems, sr = load_stems({"a": a, "b": b})
    assert sr == 8000 and stems["b"].shape == (2, 100)
    assert np.all(stems["b"][:, 60:] == 0)
