"""Features of stems and mixes: BS.1770-4 loudness, levels, spectra and a cross-stem masking measure.

Loudness follows ITU-R BS.1770-4: K-weighting (the two biquads re-derived for any sample rate, as
pyloudnorm does), 400 ms blocks with 75 % overlap, an absolute gate at −70 LUFS and a relative gate
10 LU below the ungated mean. Windows are sums of 100 ms sub-block energies that one compiled pass
over the samples produces (``kscan``), which is where the speed over the naive pipeline comes from
(benchmarks/features.py). Tests check it against pyloudnorm to 0.1 LU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from evalkit.audio.io import as_block

OCTAVE_CENTRES_HZ: tuple[float, ...] = (31.5, 63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000)
_BLOCK_S, _STEP_S, _SHORT_TERM_S = 0.4, 0.1, 3.0
_ABS_GATE_LUFS, _REL_GATE_LU = -70.0, -10.0
_FRAME = 4096


def _biquad(kind: str, gain_db: float, q: float, fc: float, fs: int) -> np.ndarray:
    a_lin = 10 ** (gain_db / 40.0)
    w0 = 2 * np.pi * fc / fs
    alpha = np.sin(w0) / (2 * q)
    cw = np.cos(w0)
    if kind == "high_shelf":
        sa = 2 * np.sqrt(a_lin) * alpha
        b = [a_lin * ((a_lin + 1) + (a_lin - 1) * cw + sa), -2 * a_lin * ((a_lin - 1) + (a_lin + 1) * cw),
             a_lin * ((a_lin + 1) + (a_lin - 1) * cw - sa)]
        a = [(a_lin + 1) - (a_lin - 1) * cw + sa, 2 * ((a_lin - 1) - (a_lin + 1) * cw), (a_lin + 1) - (a_lin - 1) * cw - sa]
    elif kind == "high_pass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    else:  # pragma: no cover - internal
        raise ValueError(kind)
    return np.array(b + a) / a[0]


def k_weighting_sos(fs: int) -> np.ndarray:
    """The BS.1770 pre-filter (shelf then high-pass) as second-order sections for ``fs``."""
    return np.vstack([_biquad("high_shelf", 4.0, 1 / np.sqrt(2), 1500.0, fs), _biquad("high_pass", 0.0, 0.5, 38.0, fs)])


def _gated_loudness(z: np.ndarray) -> float:
    if z.size == 0:
        return float("-inf")
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(z)
    above_abs = z[block_lufs > _ABS_GATE_LUFS]
    if above_abs.size == 0:
        return float("-inf")
    rel_gate = -0.691 + 10 * np.log10(above_abs.mean()) + _REL_GATE_LU
    kept = z[(block_lufs > _ABS_GATE_LUFS) & (block_lufs > rel_gate)]
    return float(-0.691 + 10 * np.log10(kept.mean()))


def _window_sums(sub: np.ndarray, per_window: int, hop: int) -> np.ndarray:
    """Sums of ``per_window`` consecutive sub-blocks every ``hop`` sub-blocks."""
    if sub.shape[-1] < per_window:
        return np.zeros(sub.shape[:-1] + (0,))
    cs = np.concatenate([np.zeros(sub.shape[:-1] + (1,)), np.cumsum(sub, axis=-1)], axis=-1)
    starts = np.arange(0, sub.shape[-1] - per_window + 1, hop)
    return cs[..., starts + per_window] - cs[..., starts]


def _mean_squares(sub: np.ndarray, fs: int, window_s: float, hop_s: float) -> np.ndarray:
    """BS.1770's z: K-weighted mean square per window, channels summed, from 100 ms sub-block energies."""
    per = int(round(window_s / _STEP_S))
    return _window_sums(sub, per, max(1, int(round(hop_s / _STEP_S)))) / (window_s * fs)


def _sub_energies(x: np.ndarray, fs: int) -> np.ndarray:
    x = np.atleast_2d(x)
    from evalkit.audio.kscan import (  # numba: imported when audio is measured, not at startup
        scan,
        sub_block_edges,
    )

    return scan(x[None], k_weighting_sos(fs), sub_block_edges(x.shape[-1], fs, _STEP_S))[0][0]


def integrated_loudness(x: np.ndarray, fs: int) -> float:
    """Integrated loudness in LUFS of ``(channels, samples)`` audio; −inf for silence."""
    return _gated_loudness(_mean_squares(_sub_energies(x, fs), fs, _BLOCK_S, _STEP_S))


def short_term_loudness(x: np.ndarray, fs: int, hop_s: float = 0.1) -> np.ndarray:
    """Short-term loudness (3 s window, ungated) every ``hop_s`` seconds (a multiple of 100 ms), in LUFS."""
    z = _mean_squares(_sub_energies(x, fs), fs, _SHORT_TERM_S, hop_s)
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(z)


@dataclass
class StemFeatures:
    """What an analytic advisor or a feature-table prompt knows about one stem (or the mix)."""

    loudness_lufs: float
    relative_loudness_lu: float  # stem loudness minus mix loudness
    max_short_term_lufs: float
    rms_dbfs: float
    peak_dbfs: float
    crest_db: float
    spectral_centroid_hz: float
    spectral_rolloff_hz: float
    octave_band_db: list[float] = field(default_factory=list)
    masking: float = 0.0  # share of the stem's energy covered by the other stems (0..1)
    active_share: float = 1.0  # share of 400 ms blocks above the absolute gate

    def as_dict(self) -> dict:
        return asdict(self)


def _db(v: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore"):
        return 10 * np.log10(np.maximum(v, 1e-30))


def _band_matrix(freqs: np.ndarray) -> np.ndarray:
    edges = [(c / np.sqrt(2), c * np.sqrt(2)) for c in OCTAVE_CENTRES_HZ]
    return np.stack([(freqs >= lo) & (freqs < hi) for lo, hi in edges], axis=1).astype(float)


def _power(spec: np.ndarray) -> np.ndarray:
    return spec.real**2 + spec.imag**2


class SongAnalyzer:
    """Per-song work done once, so that features for any gains are cheap.

    One compiled pass (``kscan.scan``) gives each stem's K-weighted energy per 100 ms sub-block,
    level, peak and mono signal; 400 ms and 3 s windows are sums of sub-blocks, which are exactly
    pyloudnorm's block bounds whenever 0.1·fs is whole. K-weighting and the Fourier transform are
    linear, so a stem at gain g scales by g², and the mix's spectrum is a gain-weighted sum of the
    stems'. Only the mix's loudness and peak need a new pass over its samples for each gain setting.
    """

    def __init__(self, stems: dict[str, np.ndarray], fs: int) -> None:
        import scipy.fft

        from evalkit.audio.kscan import scan, sub_block_edges

        self.fs = fs
        self.names = list(stems)
        self.raw = as_block(stems)  # (S, ch, n)
        S, ch, n = self.raw.shape
        self.sos = k_weighting_sos(fs)
        self.edges = sub_block_edges(n, fs, _STEP_S)
        self.stem_sub, sumsq, self.stem_peak, mono = scan(self.raw, self.sos, self.edges, mono=True)
        self.stem_ms = sumsq / (ch * n)
        n_frames = max(1, n // _FRAME)
        if n < n_frames * _FRAME:
            mono = np.pad(mono, ((0, 0), (0, n_frames * _FRAME - n)))
        frames = mono[:, : n_frames * _FRAME].reshape(S, n_frames, _FRAME) * np.hanning(_FRAME).astype(np.float32)
        # Spectral shape needs no double precision; float32 halves the FFT's cost.
        self.spec = scipy.fft.rfft(frames, axis=-1, workers=1)  # (S, frames, bins): the mix's is a weighted sum
        self.stem_power = _power(self.spec)
        self.freqs = np.fft.rfftfreq(_FRAME, 1 / fs)
        self.bands = _band_matrix(self.freqs).astype(np.float32)

    def features(self, gains_db: dict[str, float] | None = None) -> dict[str, StemFeatures]:
        from evalkit.audio.kscan import scan

        gains_db = gains_db or {}
        amp = np.array([10 ** (gains_db.get(n, 0.0) / 20) for n in self.names])
        power = amp**2
        mix_sub, mix_sumsq, mix_peak, _ = scan(self.raw, self.sos, self.edges, gains=amp)
        subs = np.vstack([self.stem_sub * power[:, None], mix_sub])  # (S+1, sub-blocks)
        z = _mean_squares(subs, self.fs, _BLOCK_S, _STEP_S)
        z_short = _mean_squares(subs, self.fs, _SHORT_TERM_S, 1.0)
        labels = [*self.names, "mix"]
        loud = np.array([_gated_loudness(z[i]) for i in range(len(labels))])
        with np.errstate(divide="ignore"):
            short = -0.691 + 10 * np.log10(z_short) if z_short.shape[-1] else np.full((len(labels), 1), -np.inf)
            block_lufs = -0.691 + 10 * np.log10(z) if z.shape[-1] else np.full((len(labels), 1), -np.inf)
        ms = np.append(self.stem_ms * power, mix_sumsq / self.raw[0].size)
        peak = np.append(self.stem_peak * amp, mix_peak)
        rms = np.sqrt(ms)
        stem_power = self.stem_power * power[:, None, None].astype(np.float32)
        mix_power = _power(np.tensordot(amp.astype(np.float32), self.spec, axes=1))
        power_all = np.concatenate([stem_power, mix_power[None]])
        bands = power_all @ self.bands  # (S+1, frames, 10)
        mean_spec = power_all.mean(axis=1)
        centroid = (mean_spec * self.freqs).sum(axis=-1) / np.maximum(mean_spec.sum(axis=-1), 1e-30)
        cum = np.cumsum(mean_spec, axis=-1)
        rolloff = self.freqs[np.argmax(cum >= 0.85 * cum[:, -1:], axis=-1)]
        stem_bands = bands[:-1]
        others = stem_bands.sum(axis=0, keepdims=True) - stem_bands
        masking = (stem_bands * (others > stem_bands)).sum(axis=(1, 2)) / np.maximum(stem_bands.sum(axis=(1, 2)), 1e-30)
        out: dict[str, StemFeatures] = {}
        for i, label in enumerate(labels):
            silent = not np.isfinite(loud[i])
            out[label] = StemFeatures(
                loudness_lufs=float(loud[i]),
                relative_loudness_lu=float(loud[i] - loud[-1]) if np.isfinite(loud[-1]) else float("nan"),
                max_short_term_lufs=float(np.max(short[i])) if short.shape[-1] else float(loud[i]),
                rms_dbfs=float(20 * np.log10(max(rms[i], 1e-15))),
                peak_dbfs=float(20 * np.log10(max(peak[i], 1e-15))),
                crest_db=0.0 if silent else float(20 * np.log10(max(peak[i], 1e-15) / max(rms[i], 1e-15))),
                spectral_centroid_hz=float(centroid[i]),
                spectral_rolloff_hz=float(rolloff[i]),
                octave_band_db=[round(float(v), 2) for v in _db(bands[i].mean(axis=0))],
                masking=float(masking[i]) if i < len(self.names) and not silent else 0.0,
                active_share=float(np.mean(block_lufs[i] > _ABS_GATE_LUFS)) if block_lufs.shape[-1] else 0.0,
            )
        return out


def analyze_stems(stems: dict[str, np.ndarray], fs: int, gains_db: dict[str, float] | None = None) -> dict[str, StemFeatures]:
    """Features of every stem (after ``gains_db``) and of their mix, under the key ``"mix"``."""
    return SongAnalyzer(stems, fs).features(gains_db)


__all__ = [
    "OCTAVE_CENTRES_HZ",
    "SongAnalyzer",
    "StemFeatures",
    "analyze_stems",
    "integrated_loudness",
    "k_weighting_sos",
    "short_term_loudness",
]
