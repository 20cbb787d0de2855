"""Paired contrasts whose uncertainty follows what was sampled: items nested in songs, votes nested in
participants.

Items of one song share its arrangement and mix, so they are not independent draws; votes of one
participant share that person's taste. Treating either as independent shrinks standard errors and
p-values. Here the mean of per-item (or per-vote) values gets a cluster-robust standard error with the
song (or participant) as the cluster, and t inference with G − 1 degrees of freedom.

Studies here have few songs (8 in the demo, rarely more than 30), where CR1 is too small when clusters differ in
size. The SE is the leave-one-cluster-out jackknife CV3 (MacKinnon, Nielsen & Webb 2023, "Cluster-robust
inference: A guide to empirical practice", J. Econometrics 232, §3.3):

    V = (G − 1)/G · Σ_g (β̂_(g) − β̂)²

with β̂_(g) the mean without cluster g, computed by pyfixest's CRV3 (its finite-sample factors off, since CV3 has its
own). With equal cluster sizes it equals CR1 and the one-sample t-test on the cluster means; with unequal sizes it is
larger. Intervals are symmetric around the estimate, so a CI always contains its point estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest, norm
from scipy.stats import t as student_t

from evalkit.stats.intervals import MIN_CLUSTERS_FOR_INTERVAL, too_few_clusters

# Below this many clusters no interval is drawn anywhere (CR1 intervals, cluster bootstraps): with 3 songs a "95% CI"
# is a t on 2 df or the range of 3 song means, not an interval a reviewer can read. The estimate is shown with
# ``too_few_clusters(k)``.
SE_METHOD = "CV3 jackknife cluster-robust SE (pyfixest), t with G − 1 df"


def _cv3_se(y: np.ndarray, codes: np.ndarray) -> float:
    """CV3 standard error of the mean of ``y`` clustered by ``codes`` (integer cluster codes)."""
    import warnings

    import pyfixest as pf

    n_clusters = len(np.unique(codes))
    with warnings.catch_warnings():  # pyfixest's own deprecation and divide-by-zero (R² of a constant) warnings
        warnings.simplefilter("ignore")
        fit = pf.feols("y ~ 1", data=pd.DataFrame({"y": y, "g": codes}), vcov={"CRV3": "g"},
                       ssc=pf.ssc(k_adj=False, G_adj=False))
        bare = float(fit.tidy()["Std. Error"].iloc[0]) ** 2  # Σ_g (β̂_(g) − β̂)²
    return float(np.sqrt((n_clusters - 1) / n_clusters * bare))


def cluster_robust_mean(values: np.ndarray | list[float], clusters: np.ndarray | list, confidence: float = 0.95) -> dict:
    """Mean of ``values`` with a CV3 cluster-robust SE, t(G−1) p-value against 0 and CI.

    By hand for [1, 2, 3, 6, 4] in clusters a, a, b, b, c: β̂ = 3.2; without a 13/3, without b 7/3, without c 3;
    V = 2/3 · ((13/3 − 3.2)² + (7/3 − 3.2)² + (3 − 3.2)²) = 1.38370, SE 1.17631.

    >>> r = cluster_robust_mean([1.0, 2.0, 3.0, 6.0, 4.0], ["a", "a", "b", "b", "c"])
    >>> round(r["mean"], 3), round(r["se"], 5), r["df"]
    (3.2, 1.17631, 2)
    """
    y = np.asarray(values, float)
    g = np.asarray(clusters)
    keep = np.isfinite(y)
    y, g = y[keep], g[keep]
    n = len(y)
    codes = pd.factorize(g)[0] if n else np.array([], int)
    n_clusters = len(np.unique(codes))
    out = {"mean": float(y.mean()) if n else np.nan, "se": np.nan, "df": max(n_clusters - 1, 0), "t": np.nan,
           "p_value": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": n, "n_clusters": n_clusters}
    if n_clusters < 2:
        return out
    se = _cv3_se(y, codes) if np.ptp(y) > 0 else 0.0
    out["se"] = se
    if n_clusters >= MIN_CLUSTERS_FOR_INTERVAL:
        half = student_t.ppf(0.5 + confidence / 2, n_clusters - 1) * se
        out.update(ci_low=out["mean"] - half, ci_high=out["mean"] + half)
    else:
        out["ci_note"] = too_few_clusters(n_clusters)
    if se > 0:
        out["t"] = out["mean"] / se
        out["p_value"] = float(2 * student_t.sf(abs(out["t"]), n_clusters - 1))
    elif out["mean"] == 0:
        out["p_value"] = 1.0
    else:
        # Every value identical: the t statistic is undefined, not infinite. The exact test that needs no variance is
        # the sign flip of the G cluster means, all of one sign here: p = 2 · 2^−G (never 0; 0.25 with 3 clusters).
        out["p_value"] = min(1.0, 2.0 ** (1 - n_clusters))
        out["p_method"] = "cluster sign-flip (no variation)"
    return out


def rank_biserial(differences: np.ndarray | list[float]) -> float:
    """Matched-pairs rank-biserial correlation from the signed ranks of the nonzero differences
    (Kerby 2014, "The simple difference formula"): r = (R+ − R−) / (R+ + R−); ties get average ranks.

    >>> rank_biserial([1.0, 2.0, -3.0, 4.0])   # ranks 1, 2, 3, 4: (1 + 2 + 4 − 3) / 10
    0.4
    """
    d = np.asarray(differences, float)
    d = d[np.isfinite(d) & (d != 0)]
    if not len(d):
        return np.nan
    from scipy.stats import rankdata

    ranks = rankdata(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def rank_biserial_null_se(n: int) -> float:
    """SE of the matched-pairs rank-biserial r under independence: r = 2T+/S − 1 with S = n(n+1)/2 and
    Var(T+) = n(n+1)(2n+1)/24 (the Wilcoxon signed-rank variance)."""
    return float(2 * np.sqrt(n * (n + 1) * (2 * n + 1) / 24) / (n * (n + 1) / 2)) if n > 0 else np.nan


def rank_biserial_ci(differences: np.ndarray, clusters: np.ndarray, bootstrap: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> tuple[float, float]:
    """CI for the rank-biserial r from a cluster bootstrap (whole songs resampled): the bootstrap SD around the
    estimate, clipped to [−1, 1], so it always contains it and depends on the data, never on n alone. (nan, nan)
    below ``MIN_CLUSTERS_FOR_INTERVAL`` clusters (a few songs make the bootstrap spread meaningless: with every
    difference positive each resample gives r = 1). Zero width when no resample differs: no variation."""
    d, g = np.asarray(differences, float), np.asarray(clusters)
    keep = np.isfinite(d) & (d != 0)
    d, g = d[keep], g[keep]
    labels = np.unique(g)
    r = rank_biserial(d)
    if len(labels) < MIN_CLUSTERS_FOR_INTERVAL or not np.isfinite(r) or bootstrap < 2:
        return np.nan, np.nan
    members = [np.flatnonzero(g == c) for c in labels]
    rng = np.random.default_rng(seed)
    boots = [rank_biserial(d[np.concatenate([members[k] for k in rng.integers(0, len(labels), len(labels))])])
             for _ in range(min(bootstrap, 400))]  # an SD, not a tail quantile: 400 rounds are plenty
    boots = np.array([b for b in boots if np.isfinite(b)])
    half = norm.ppf(0.5 + confidence / 2) * (float(np.std(boots, ddof=1)) if len(boots) > 1 else 0.0)
    return float(max(-1.0, r - half)), float(min(1.0, r + half))


def paired_contrast(differences: np.ndarray | list[float], clusters: np.ndarray | list, *, bootstrap: int = 1000,
                    seed: int = 0) -> dict:
    """One paired contrast (condition − versus per item): mean difference with a cluster-robust CI and
    t(G−1) p-value, and the matched-pairs rank-biserial r with a cluster-bootstrap CI."""
    d, g = np.asarray(differences, float), np.asarray(clusters)
    keep = np.isfinite(d)
    d, g = d[keep], g[keep]
    m = cluster_robust_mean(d, g)
    rb_lo, rb_hi = rank_biserial_ci(d, g, bootstrap=bootstrap, seed=seed)
    return {"n_items": m["n"], "n_songs": m["n_clusters"], "mean_difference": m["mean"], "se": m["se"],
            "ci_low": m["ci_low"], "ci_high": m["ci_high"], "ci_note": m.get("ci_note", ""), "df": m["df"], "t": m["t"],
            "p_value": m["p_value"],
            "rank_biserial": rank_biserial(d), "rb_ci_low": rb_lo, "rb_ci_high": rb_hi}


def clustered_share(score: np.ndarray, clusters: np.ndarray, confidence: float = 0.95) -> dict:
    """A share (mean of 0/½/1 scores) with a Wilson interval at the effective sample size n / deff, where
    the design effect deff is the cluster-robust variance over the independent one (at least 1). When
    every score is equal neither variance says anything, so n_eff falls back to the number of clusters.
    Wilson keeps the interval in [0, 1] and around the estimate. None below ``MIN_CLUSTERS_FOR_INTERVAL`` clusters
    (participants): the estimate then comes with ``ci_note``."""
    from evalkit.stats.intervals import wilson_interval

    score, clusters = np.asarray(score, float), np.asarray(clusters)
    n = len(score)
    if not n:
        return {"mean": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_eff": 0.0}
    m = cluster_robust_mean(score, clusters)
    iid_var = score.var(ddof=1) / n if n > 1 else 0.0
    if m["n_clusters"] < 2:
        n_eff = 1.0
    elif iid_var > 0 and np.isfinite(m["se"]):
        n_eff = n / max(1.0, m["se"] ** 2 / iid_var)
    else:
        n_eff = float(m["n_clusters"])
    if m["n_clusters"] < MIN_CLUSTERS_FOR_INTERVAL:
        return {"mean": m["mean"], "ci_low": np.nan, "ci_high": np.nan, "n_eff": n_eff,
                "ci_note": too_few_clusters(m["n_clusters"], "participants")}
    lo, hi = wilson_interval(m["mean"] * n_eff, n_eff, confidence)
    return {"mean": m["mean"], "ci_low": lo, "ci_high": hi, "n_eff": n_eff}


def participant_sign_test(net_by_participant: pd.Series) -> float:
    """Two-sided exact sign test over participants: how many prefer a on balance (net > 0) against b
    (net < 0); participants with no net preference drop out. Each person counts once, however many
    votes they gave."""
    pos, neg = int((net_by_participant > 0).sum()), int((net_by_participant < 0).sum())
    return float(binomtest(pos, pos + neg, 0.5).pvalue) if pos + neg else 1.0


def preference_contrast(votes: pd.DataFrame, a: str, b: str, song_of: dict[str, str] | None = None) -> dict:
    """Votes between ``a`` and ``b`` (columns participant_id, item_id, system_a, system_b, choice): a's win share
    (ties half) with a CI clustered by participant, and three tests, each named:

    - the logistic mixed model with crossed participant and item intercepts (``mm_*``, evalkit/stats/mixed.py), the
      primary test (``p_value``) whenever participants gave more than one vote;
    - the participant-level sign test (``p_sign``), each person once on their net preference: the robustness line,
      and the primary test when each person voted once (then the mixed model has no participant variance to fit);
    - the vote-level binomial (``p_value_votes``), which treats votes as independent.
    """
    from evalkit.stats.mixed import no_fit, preference_glmm, repeated_measures

    v = votes[((votes.system_a == a) & (votes.system_b == b)) | ((votes.system_a == b) & (votes.system_b == a))]
    a_first = (v.system_a == a).to_numpy()
    choice = v.choice.to_numpy()
    score = np.where(choice == "tie", 0.5, np.where((choice == "a") == a_first, 1.0, 0.0))
    wins, losses = int((score == 1).sum()), int((score == 0).sum())
    share = clustered_share(score, v.participant_id.to_numpy())
    net = pd.Series(score - 0.5, index=v.participant_id.to_numpy()).groupby(level=0).sum()
    p_sign = participant_sign_test(net)
    mm = (preference_glmm(v, a, b, song_of) if repeated_measures(v)
          else no_fit("one vote per participant: the sign test is the test"))
    use_mm = np.isfinite(mm["mm_p_value"])
    return {"system_a": a, "system_b": b, "votes": len(v), "wins_a": wins, "wins_b": losses, "ties": len(v) - wins - losses,
            "n_participants": int(v.participant_id.nunique()), "n_items": int(v.item_id.nunique()),
            "win_rate_a": share["mean"], "ci_low": share["ci_low"], "ci_high": share["ci_high"],
            "p_value": mm["mm_p_value"] if use_mm else p_sign,
            "primary_test": "mixed model" if use_mm else "participant sign test",
            "p_sign": p_sign,
            "p_value_votes": float(binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0, **mm}


__all__ = ["SE_METHOD", "cluster_robust_mean", "clustered_share", "rank_biserial_null_se", "paired_contrast", "participant_sign_test", "preference_contrast", "rank_biserial",
           "rank_biserial_ci"]
