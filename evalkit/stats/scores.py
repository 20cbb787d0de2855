"""Rubric and reference scores per system: means with CIs (songs as clusters where items share a song), paired tests on the same items."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from evalkit.errors import EvalkitInputError
from evalkit.stats.clustered import cluster_robust_mean
from evalkit.stats.preference import holm

MAX_SYSTEMS = 200  # a table, a figure and pairwise tests over more arms than this are not a study anyone reads


def validate_scores(df: pd.DataFrame, source: str = "scores") -> pd.DataFrame:
    """The `stats scores` table: item_id, system, a finite numeric score, one row per (item, system)."""
    missing = {"item_id", "system", "score"} - set(df.columns)
    if missing:
        raise EvalkitInputError(f"{source}: missing column(s) {', '.join(sorted(missing))}; expected item_id,system,score")
    if df.empty:
        raise EvalkitInputError(f"{source}: a header and no rows; add one row per item and system")
    df = df.copy()
    for col in ("item_id", "system"):
        blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if blank.any():
            raise EvalkitInputError(f"{source}: row {int(blank.to_numpy().argmax()) + 2} has no {col}; fill it in or drop the row")
        df[col] = df[col].astype(str).str.strip()
    score = pd.to_numeric(df["score"], errors="coerce")
    bad = score.isna() | ~np.isfinite(score.fillna(0))
    if bad.any():
        k = int(bad.to_numpy().argmax())
        raise EvalkitInputError(f"{source}: row {k + 2}: score {str(df['score'].iloc[k])!r} is not a finite number")
    df["score"] = score.astype(float)
    dup = df.duplicated(["item_id", "system"], keep=False)
    if dup.any():
        r = df[dup].iloc[0]
        raise EvalkitInputError(f"{source}: item {r.item_id!r} has more than one score for system {r.system!r}; keep one row "
                                "per item and system (average samples first)")
    if df.system.nunique() > MAX_SYSTEMS:
        raise EvalkitInputError(f"{source}: {df.system.nunique()} systems, over {MAX_SYSTEMS}; compare fewer at a time")
    return df


def system_means(df: pd.DataFrame, value: str = "score", by: tuple[str, ...] = ("system",), bootstrap: int = 2000,
                 seed: int = 0, cluster: str | None = None) -> pd.DataFrame:
    """Mean ``value`` per group with a 95% CI. Without ``cluster`` the rows (items) are independent draws and the CI
    is a percentile bootstrap over them. With ``cluster`` (e.g. ``song_id``) items of one song move together: the
    CI is the CV3 cluster-robust t interval of ``cluster_robust_mean`` (a bootstrap over a handful of songs is the
    range of their means), and none below ``MIN_CLUSTERS_FOR_INTERVAL`` clusters."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, g in df.dropna(subset=[value]).groupby(list(by), sort=True):
        v = g[value].to_numpy(float)
        key = key if isinstance(key, tuple) else (key,)
        mean = float(v.mean())
        row = {**dict(zip(by, key, strict=True)), "n": len(v), "mean": mean}
        if cluster is None:
            boots = v[rng.integers(0, len(v), size=(bootstrap, len(v)))].mean(axis=1)
            lo, hi = np.quantile(boots, [0.025, 0.975]) if len(v) > 1 else (np.nan, np.nan)  # one item: no interval
            row.update(ci_low=float(min(lo, mean)) if lo == lo else np.nan, ci_high=float(max(hi, mean)) if hi == hi else np.nan)
        else:
            m = cluster_robust_mean(v, g[cluster].to_numpy())
            row.update(ci_low=m["ci_low"], ci_high=m["ci_high"], n_clusters=m["n_clusters"])
        rows.append(row)
    return pd.DataFrame(rows)


def paired_tests(df: pd.DataFrame, value: str = "score", unit: str = "item_id", system: str = "system") -> pd.DataFrame:
    """Wilcoxon signed-rank for every system pair on shared items (pingouin), with the matched-pairs
    rank-biserial correlation as effect size and Holm correction over the table.

    Zero differences are dropped (Wilcoxon's treatment, SciPy's ``zero_method="wilcox"``).
    """
    import pingouin as pg

    wide = df.pivot_table(index=unit, columns=system, values=value, aggfunc="mean")
    rows = []
    for a, b in itertools.combinations(sorted(wide.columns), 2):
        d = (wide[a] - wide[b]).dropna()
        nz = d[d != 0]
        if len(nz) < 1:
            rows.append({"system_a": a, "system_b": b, "n": len(d), "median_diff": float(d.median()) if len(d) else np.nan,
                         "statistic": np.nan, "p_value": 1.0, "rank_biserial": 0.0})
            continue
        res = pg.wilcoxon(nz.to_numpy(float)).iloc[0]
        rows.append({"system_a": a, "system_b": b, "n": len(nz), "median_diff": float(d.median()), "statistic": float(res["W_val"]),
                     "p_value": float(res["p_val"]), "rank_biserial": float(res["RBC"])})
    out = pd.DataFrame(rows)
    if len(out):
        out["p_holm"] = holm(out["p_value"])
    return out


def friedman(df: pd.DataFrame, value: str = "score", unit: str = "item_id", system: str = "system") -> pd.DataFrame:
    """Friedman test across all systems on items every system has (pingouin), with Kendall's W."""
    import pingouin as pg

    wide = df.pivot_table(index=unit, columns=system, values=value, aggfunc="mean").dropna()
    k, n = wide.shape[1], wide.shape[0]
    if k < 3 or n < 2:
        return pd.DataFrame([{"n_items": n, "k_systems": k, "statistic": np.nan, "p_value": np.nan, "kendall_w": np.nan}])
    long = wide.rename_axis(index="unit", columns="system").stack().rename("value").reset_index()
    res = pg.friedman(long, dv="value", within="system", subject="unit", method="chisq").iloc[0]
    return pd.DataFrame([{"n_items": n, "k_systems": k, "statistic": float(res["Q"]), "p_value": float(res["p_unc"]),
                          "kendall_w": float(res["W"])}])


__all__ = ["validate_scores", "friedman", "paired_tests", "system_means"]
