"""The compiled one-pass scan against SciPy's own K-weighting filter and plain NumPy sums."""

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import sosfilt

from evalkit.audio.features import SongAnalyzer, integrated_loudness, k_weighting_sos
from evalkit.audio.io import as_block, match_shapes
from evalkit.audio.kscan import scan, sub_block_edges
from evalkit.audio.render import mixdown


def _signals(sr: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, channels, int(sr * 2.35))) * np.array([0.3, 0.05, 0.01])[:, None, None]
    x[1, :, sr // 2 : sr] = 0.0  # a dropout: silence inside a stem
    return x


def _sosfilt_energies(x: np.ndarray, sr: int) -> np.ndarray:
    """Reference: scipy.signal.sosfilt, squared and summed per 100 ms and over channels."""
    edges = sub_block_edges(x.shape[-1], sr, 0.1)
    y = sosfilt(k_weighting_sos(sr), x, axis=-1) ** 2
    return np.stack([y[..., lo:hi].sum(axis=(-2, -1)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)], axis=-1)


@pytest.mark.parametrize("sr", [11025, 44100])
@pytest.mark.parametrize("channels", [1, 2])
def test_scan_matches_sosfilt_and_numpy(sr, channels):
    x = _signals(sr, channels)
    sub, sumsq, peak, mono = scan(x, k_weighting_sos(sr), sub_block_edges(x.shape[-1], sr, 0.1), mono=True)
    ref = _sosfilt_energies(x, sr)
    # the ±1e-15 anti-subnormal guard adds ~1e-26 of energy to a silent block (−250 dB below the
    # −70 LUFS gate); elsewhere the two filters agree far below any loudness digit
    np.testing.assert_allclose(sub, ref, rtol=1e-9, atol=1e-20)
    np.testing.assert_allclose(sumsq, (x**2).sum(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_array_equal(peak, np.abs(x).max(axis=(1, 2)))
    np.testing.assert_allclose(mono, x.mean(axis=1), rtol=1e-6, atol=1e-7)  # float32 copy


def test_scan_of_a_mix_equals_scan_of_the_summed_signal():
    sr = 22050
    x = _signals(sr, 2, seed=1)
    gains = np.array([0.5, 2.0, 1.3])
    mixed = np.tensordot(gains, x, axes=1)[None]
    edges = sub_block_edges(x.shape[-1], sr, 0.1)
    sub, sumsq, peak, mono = scan(x, k_weighting_sos(sr), edges, gains=gains)
    np.testing.assert_allclose(sub, _sosfilt_energies(mixed, sr), rtol=1e-9)
    np.testing.assert_allclose(sumsq, (mixed**2).sum(), rtol=1e-12)
    np.testing.assert_allclose(peak, np.abs(mixed).max(), rtol=1e-12)
    assert mono is None


def test_sub_block_edges_round_each_edge_and_never_drift():
    # 0.1 s at 11.025 kHz is 1102.5 samples: edges alternate 1102/1103 instead of drifting by 0.5 a block
    edges = sub_block_edges(11025 * 3, 11025, 0.1)
    assert len(edges) == 31 and edges[-1] == 11025 * 3
    assert set(np.diff(edges)) == {1102, 1103}
    assert list(sub_block_edges(44100, 44100, 0.1)) == list(range(0, 44101, 4410))


def test_loudness_at_a_rate_without_whole_100ms_blocks_matches_pyloudnorm():
    sr = 11025
    x = np.random.default_rng(5).standard_normal((2, sr * 5)) * 0.05
    x[:, : sr] *= 0.01
    assert integrated_loudness(x, sr) == pytest.approx(pyloudnorm.Meter(sr).integrated_loudness(x.T), abs=0.1)


def test_analyzer_mix_is_the_loudness_of_the_actual_mixdown():
    sr = 22050
    stems = match_shapes({n: s for n, s in zip("abc", _signals(sr, 2, seed=2), strict=True)})
    gains = {"a": -4.0, "c": 7.5}
    feats = SongAnalyzer(stems, sr).features(gains)
    assert feats["mix"].loudness_lufs == pytest.approx(integrated_loudness(mixdown(stems, gains), sr), abs=1e-6)
    assert feats["c"].loudness_lufs == pytest.approx(integrated_loudness(stems["c"], sr) + 7.5, abs=1e-6)


def test_stems_from_match_shapes_are_analysed_without_a_copy():
    shaped = match_shapes({"a": np.ones((1, 5)), "b": np.full((2, 3), 2.0)})
    block = as_block(shaped)
    assert block.shape == (2, 2, 5) and all(np.shares_memory(block, v) for v in shaped.values())
    np.testing.assert_array_equal(block[0], np.ones((2, 5)))  # mono upmixed
    np.testing.assert_array_equal(block[1], [[2, 2, 2, 0, 0]] * 2)  # padded with silence
    loose = {"a": np.ones((2, 5)), "b": np.zeros((2, 5))}
    copied = as_block(loose)
    assert not np.shares_memory(copied, loose["a"]) and copied.shape == (2, 2, 5)
    reordered = as_block({"b": shaped["b"], "a": shaped["a"]})  # rows out of order: a copy, in dict order
    np.testing.assert_array_equal(reordered[0], block[1])
