"""Interval rules shared by the clustered contrasts, the mixed models and the preference tables (so none of them
imports another): the Wilson interval for a proportion, and the fewest clusters an interval is drawn from."""

from __future__ import annotations

MIN_CLUSTERS_FOR_INTERVAL = 5  # fewer songs (or participants) than this: no interval is drawn, and the table says why


def too_few_clusters(k: int, unit: str = "songs") -> str:
    return f"too few {unit} for an interval (k = {k})"


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927), by statsmodels. (nan, nan) for n = 0."""
    if n <= 0:
        return float("nan"), float("nan")
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(lo), float(hi)


__all__ = ["MIN_CLUSTERS_FOR_INTERVAL", "too_few_clusters", "wilson_interval"]
