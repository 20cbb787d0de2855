import numpy as np
import pyloudnorm
import pytest

from evalkit.audio.features import analyze_stems, integrated_loudness, short_term_loudness
from evalkit.audio.render import loudness_match, mixdown


def _sine(freq, amp, sr, seconds, channels=2):
    t = np.arange(int(sr * seconds)) / sr
    return np.tile(amp * np.sin(2 * np.pi * freq * t), (channels, 1))


def test_ebu_tech3341_case1_stereo_sine_at_minus23():
    # EBU Tech 3341 (2016), test signal 1: 1 kHz stereo sine at -23 dBFS peak -> -23.0 LUFS (±0.1)
    x = _sine(1000, 10 ** (-23 / 20), 48000, 20)
    assert integrated_loudness(x, 48000) == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("sr", [22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_matches_pyloudnorm_within_0_1_lu(sr, channels):
    rng = np.random.default_rng(sr + channels)
    noise = rng.standard_normal((channels, sr * 6)) * 0.05
    noise[:, : sr * 2] *= 0.01  # a quiet passage exercises the relative gate
    ref = pyloudnorm.Meter(sr).integrated_loudness(noise.T if channels == 2 else noise[0])
    assert integrated_loudness(noise, sr) == pytest.approx(ref, abs=0.1)


def test_silence_is_minus_inf_and_does_not_crash_features():
    sr = 22050
    stems = {"drums": _sine(100, 0.1, sr, 2), "vocals": np.zeros((2, sr * 2))}
    assert integrated_loudness(stems["vocals"], sr) == float("-inf")
    feats = analyze_stems(stems, sr)
    assert feats["vocals"].loudness_lufs == float("-inf")
    assert feats["vocals"].masking == 0.0 and np.isfinite(feats["drums"].loudness_lufs)


def test_relative_loudness_follows_gain():
    sr = 22050
    stems = {"a": _sine(200, 0.1, sr, 3), "b": _sine(3000, 0.1, sr, 3)}
    before = analyze_stems(stems, sr)
    after = analyze_stems(stems, sr, {"a": 6.0})
    assert after["a"].loudness_lufs - before["a"].loudness_lufs == pytest.approx(6.0, abs=0.01)


def test_masking_is_high_for_a_stem_buried_in_the_same_band():
    sr = 22050
    rng = np.random.default_rng(0)
    loud = rng.standard_normal((2, sr * 3)) * 0.3
    quiet_same = rng.standard_normal((2, sr * 3)) * 0.01
    quiet_far = _sine(60, 0.01, sr, 3)
    f = analyze_stems({"loud": loud, "same": quiet_same}, sr)
    g = analyze_stems({"loud": _sine(8000, 0.3, sr, 3), "far": quiet_far}, sr)
    assert f["same"].masking > 0.9
    assert g["far"].masking < 0.1


def test_short_term_loudness_and_loudness_match():
    sr = 22050
    x = _sine(1000, 0.05, sr, 5)
    st = short_term_loudness(x, sr)
    assert np.allclose(st, integrated_loudness(x, sr), atol=0.05)
    y = loudness_match(x, sr, -30.0)
    assert integrated_loudness(y, sr) == pytest.approx(-30.0, abs=0.01)


def test_mixdown_is_sum_of_scaled_stems():
    a, b = np.ones((2, 4)), np.full((2, 4), 2.0)
    np.testing.assert_allclose(mixdown({"a": a, "b": b}, {"a": 20 * np.log10(3)}), np.full((2, 4), 5.0))
