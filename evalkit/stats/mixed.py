"""Human preferences as a logistic mixed model: crossed random intercepts for participant and item.

Each vote is one participant's judgment of one item. Participants differ in taste and items differ in how clearly
one side is better, and the two are crossed (everyone hears many items, every item is heard by many), so neither a
vote binomial (votes independent) nor a participant sign test (items ignored) carries the uncertainty of both. The
model is lme4's

    win ~ 1 + (1 | participant) + (1 | item) [+ (1 | song)],   family = binomial(logit)

with a song intercept only when there are enough songs to estimate it (items are nested in songs through their ids).

It is fitted by GPBoost (Sigrist 2022; maintained, on PyPI, no R needed at run time) with the Laplace approximation,
the same approximation as ``glmer``'s default (nAGQ = 1); tests/stats/test_mixed_lme4.py holds it to ``glmer`` on the
same votes. statsmodels' ``BinomialBayesMixedGLM`` was tried first: its variational fit gave the right estimate but a
standard error of 0.099 where glmer gives 0.171, i.e. intervals far too narrow (docs/statistics.md).

The test is a Wald z on the fixed intercept (glmer's ``Pr(>|z|)``); the estimate is reported in log-odds and as the
probability that ``a`` wins for a typical participant on a typical item (random effects at 0).
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np
import pandas as pd
from scipy.stats import norm

from evalkit.stats.intervals import MIN_CLUSTERS_FOR_INTERVAL, too_few_clusters

METHOD = "logistic GLMM, crossed random intercepts (participant, item[, song]); Laplace fit by GPBoost; Wald z"


def _logistic(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


def no_fit(note: str) -> dict:
    """The mixed-model columns of a contrast it was not fitted to, with the reason."""
    return {"mm_log_odds": np.nan, "mm_se": np.nan, "mm_ci_low": np.nan, "mm_ci_high": np.nan, "mm_p_win": np.nan,
            "mm_p_win_ci_low": np.nan, "mm_p_win_ci_high": np.nan, "mm_p_value": np.nan, "participant_var": np.nan,
            "item_var": np.nan, "song_var": np.nan, "mm_note": note}


@contextlib.contextmanager
def _quiet_native_output():
    """GPBoost's C++ core prints [Info]/[Warning] lines straight to file descriptors 1 and 2; a CLI table or a
    pytest run must not be interleaved with them."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _hessian(f, x0: np.ndarray, h: float = 3e-3) -> np.ndarray:
    """Central finite-difference Hessian (glmer's vcov also comes from a finite-difference Hessian of the Laplace
    deviance over the variance parameters and the fixed effect together)."""
    k = len(x0)
    H = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            H[i, j] = H[j, i] = (f(x0 + ei + ej) - f(x0 + ei - ej) - f(x0 - ei + ej) + f(x0 - ei - ej)) / (4 * h * h)
    return H


def fit_glmm(win: np.ndarray, groups: dict[str, np.ndarray]) -> dict:
    """Fit ``win ~ 1 + Σ (1 | group)`` by Laplace; returns the intercept, its SE and each group's variance.

    GPBoost's own standard error holds the variances fixed (0.227 where glmer gives 0.242 on
    tests/stats/data/glmm_votes.csv). The SE here is glmer's: the inverse Hessian of GPBoost's Laplace negative
    log-likelihood over the intercept and the log-variances, taken at the fit (0.244). A variance at the boundary
    (under 1e-4) is held fixed, as glmer's is.
    """
    import gpboost as gpb

    y = np.asarray(win, float)
    codes = np.column_stack([pd.factorize(np.asarray(g))[0] for g in groups.values()])
    with _quiet_native_output():
        model = gpb.GPModel(group_data=codes, likelihood="bernoulli_logit", num_parallel_threads=min(2, os.cpu_count() or 1))
        model.fit(y=y, X=np.ones((len(y), 1)), params={"trace": False})
        estimate = float(np.asarray(model.get_coef())[0, 0])
        variances = np.asarray(model.get_cov_pars()).reshape(-1).astype(float)
        free = variances > 1e-4

        def nll(x: np.ndarray) -> float:
            v = variances.copy()
            v[free] = np.exp(x[1:])
            return float(model.neg_log_likelihood(cov_pars=v, y=y, fixed_effects=np.full(len(y), x[0])))

        H = _hessian(nll, np.r_[estimate, np.log(variances[free])])
    try:
        var = float(np.linalg.inv(H)[0, 0])
    except np.linalg.LinAlgError:
        var = np.nan
    se = float(np.sqrt(var)) if np.isfinite(var) and var > 0 else np.nan
    return {"estimate": estimate, "se": se, **{f"{name}_var": float(v) for name, v in zip(groups, variances, strict=True)}}


def preference_glmm(votes: pd.DataFrame, a: str, b: str, song_of: dict[str, str] | None = None,
                    confidence: float = 0.95) -> dict:
    """The mixed-model test of ``a`` against ``b`` on decisive votes (ties dropped, as glmer would need them coded).

    ``votes``: participant_id, item_id, system_a, system_b, choice. ``song_of`` maps item ids to songs; a song
    intercept is added when at least ``MIN_CLUSTERS_FOR_INTERVAL`` songs hold the votes and some song has two items.
    No interval below that many participants, and none when the model is not identified (every vote one way).
    """
    v = votes[((votes.system_a == a) & (votes.system_b == b)) | ((votes.system_a == b) & (votes.system_b == a))]
    v = v[v.choice != "tie"]
    if v.empty:
        return no_fit("no decisive votes")
    win = ((v.choice == "a").to_numpy() == (v.system_a == a).to_numpy()).astype(float)
    n_people = v.participant_id.nunique()
    if win.min() == win.max():
        return no_fit("every decisive vote went one way: the logistic model is not identified")
    if n_people < MIN_CLUSTERS_FOR_INTERVAL:
        return no_fit(too_few_clusters(n_people, "participants"))
    groups = {"participant": v.participant_id.to_numpy(), "item": v.item_id.to_numpy()}
    if song_of:
        songs = v.item_id.map(lambda i: song_of.get(i, i)).to_numpy()
        if len(set(songs)) >= MIN_CLUSTERS_FOR_INTERVAL and len(set(songs)) < v.item_id.nunique():
            groups["song"] = songs
    try:
        fit = fit_glmm(win, groups)
    except Exception as exc:  # an optimiser failure is a result to report, not a crash of the whole report
        return no_fit(f"mixed model did not fit ({type(exc).__name__}: {str(exc)[:80]})")
    if not (np.isfinite(fit["se"]) and fit["se"] > 0):
        return no_fit("mixed model gave no standard error")
    z = norm.ppf(0.5 + confidence / 2)
    lo, hi = fit["estimate"] - z * fit["se"], fit["estimate"] + z * fit["se"]
    return {"mm_log_odds": fit["estimate"], "mm_se": fit["se"], "mm_ci_low": lo, "mm_ci_high": hi,
            "mm_p_win": _logistic(fit["estimate"]), "mm_p_win_ci_low": _logistic(lo), "mm_p_win_ci_high": _logistic(hi),
            "mm_p_value": float(2 * norm.sf(abs(fit["estimate"] / fit["se"]))), "participant_var": fit["participant_var"],
            "item_var": fit["item_var"], "song_var": fit.get("song_var", np.nan), "mm_note": ""}


def repeated_measures(votes: pd.DataFrame) -> bool:
    """Whether participants gave more than one vote on average: only then can a participant intercept be told
    apart from the vote noise, and the mixed model is the primary human test."""
    return bool(len(votes) and votes.groupby("participant_id").size().mean() > 1)


__all__ = ["METHOD", "fit_glmm", "no_fit", "preference_glmm", "repeated_measures"]
