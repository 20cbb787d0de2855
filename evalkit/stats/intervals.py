"""Intervals for a proportion, used by both the preference tables and the clustered contrasts (so neither imports
the other)."""

from __future__ import annotations


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927), by statsmodels. (nan, nan) for n = 0."""
    if n <= 0:
        return float("nan"), float("nan")
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(lo), float(hi)


__all__ = ["wilson_interval"]
