"""Mixdown with per-stem gains and loudness-matched listening stimuli."""

from __future__ import annotations

import numpy as np

from evalkit.audio.features import integrated_loudness


def db_to_amp(db: float | np.ndarray) -> float | np.ndarray:
    return 10.0 ** (np.asarray(db) / 20.0)


def apply_gains(stems: dict[str, np.ndarray], gains_db: dict[str, float]) -> dict[str, np.ndarray]:
    """Scale each stem by its gain in dB (missing stems keep 0 dB)."""
    return {name: s * db_to_amp(gains_db.get(name, 0.0)) for name, s in stems.items()}


def mixdown(stems: dict[str, np.ndarray], gains_db: dict[str, float] | None = None) -> np.ndarray:
    """The problem mix: Σ 10^(g/20)·stem. Derived, never stored twice."""
    gains_db = gains_db or {}
    out = None
    for name, s in stems.items():
        scaled = s * db_to_amp(gains_db.get(name, 0.0))
        out = scaled if out is None else out + scaled
    if out is None:
        raise ValueError("mixdown of no stems")
    return out


def loudness_match(x: np.ndarray, sample_rate: int, target_lufs: float = -23.0, peak_ceiling: float = 0.98) -> np.ndarray:
    """Scale to ``target_lufs`` so listeners compare balance, not level; lowered further if it would clip."""
    lufs = integrated_loudness(x, sample_rate)
    if not np.isfinite(lufs):
        return x.copy()
    y = x * db_to_amp(target_lufs - lufs)
    peak = float(np.max(np.abs(y)))
    if peak > peak_ceiling:
        y *= peak_ceiling / peak
    return y
