"""Inter-rater reliability: Krippendorff's α, Fleiss' κ, Cohen's κ, ICC.

Written from the definitions (Krippendorff 2011, "Computing Krippendorff's alpha-reliability";
Fleiss 1971; Cohen 1960; Shrout & Fleiss 1979) and tested against their published worked examples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def krippendorff_alpha(data: np.ndarray, level: str = "nominal") -> float:
    """α for a raters × units matrix with NaN for missing values.

    ``level``: nominal, ordinal or interval (always pass the one you mean).
    """
    data = np.asarray(data, dtype=float)
    values = np.unique(data[~np.isnan(data)])
    if values.size < 2:
        return float("nan")
    index = {v: k for k, v in enumerate(values)}
    V = len(values)
    # coincidence matrix over pairable units (>= 2 values)
    o = np.zeros((V, V))
    for unit in data.T:
        vals = unit[~np.isnan(unit)]
        m = len(vals)
        if m < 2:
            continue
        counts = np.zeros(V)
        for v in vals:
            counts[index[v]] += 1
        o += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if level == "nominal":
        delta = 1.0 - np.eye(V)
    elif level == "interval":
        delta = (values[:, None] - values[None, :]) ** 2
    elif level == "ordinal":
        cum = np.cumsum(n_c)
        delta = np.zeros((V, V))
        for c in range(V):
            for k in range(V):
                lo, hi = min(c, k), max(c, k)
                delta[c, k] = (cum[hi] - cum[lo] + n_c[lo] - (n_c[c] + n_c[k]) / 2) ** 2 if c != k else 0.0
    else:
        raise ValueError(f"level={level!r}: use nominal, ordinal or interval")
    d_o = (o * delta).sum() / n
    d_e = (np.outer(n_c, n_c) * delta).sum() / (n * (n - 1))
    return float(1 - d_o / d_e) if d_e > 0 else float("nan")


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' κ for a subjects × categories count table (same number of raters per subject), by statsmodels."""
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    return float(sm_fleiss(np.asarray(table, dtype=float), method="fleiss"))


def cohen_kappa(a: list | np.ndarray, b: list | np.ndarray) -> float:
    """Cohen's κ for two raters' nominal labels."""
    a, b = np.asarray(a), np.asarray(b)
    cats = np.unique(np.concatenate([a, b]))
    po = float(np.mean(a == b))
    pe = float(sum(np.mean(a == c) * np.mean(b == c) for c in cats))
    return (po - pe) / (1 - pe) if pe < 1 else float("nan")


def icc(ratings: np.ndarray) -> pd.DataFrame:
    """ICC(2,1) and ICC(3,1) (Shrout & Fleiss 1979) with 95% CIs, by pingouin, for a subjects × raters matrix
    without missing values."""
    import pingouin as pg

    x = np.asarray(ratings, dtype=float)
    long = pd.DataFrame([{"target": i, "rater": j, "rating": x[i, j]} for i in range(x.shape[0]) for j in range(x.shape[1])])
    res = pg.intraclass_corr(long, targets="target", raters="rater", ratings="rating").set_index("Type")
    return pd.DataFrame([{"type": name, "icc": float(res.loc[key, "ICC"]), "ci_low": float(res.loc[key, "CI95"][0]),
                          "ci_high": float(res.loc[key, "CI95"][1])} for name, key in (("ICC2", "ICC(A,1)"), ("ICC3", "ICC(C,1)"))])


__all__ = ["cohen_kappa", "fleiss_kappa", "icc", "krippendorff_alpha"]
