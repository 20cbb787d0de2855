"""Judge vs human agreement on the same pairs, at vote, item and system level.

Vote level follows MT-Bench (Zheng et al. 2023, §4.2): agreement "with tie" counts all votes and a
tie as its own class; "without tie" keeps votes where neither side said tie. Humans' agreement with
each other on the same (item, pair) is the ceiling. System level compares the judge's ranking with
the humans' Bradley–Terry ranking (Kendall τ, Spearman ρ) with bootstrap CIs over items.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, pearsonr, spearmanr

from evalkit.stats.preference import canonical
from evalkit.stats.reliability import cohen_kappa

KEY = ["item_id", "system_a", "system_b"]


def vote_agreement(judge: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
    """Agreement of a judge's votes with human votes on the same (item, pair), plus Cohen's κ.

    Each human vote is compared with the judge's vote on its (item, pair) (MT-Bench's protocol).
    """
    j, h = canonical(judge), canonical(human)
    m = h.merge(j[KEY + ["choice"]].rename(columns={"choice": "judge_choice"}), on=KEY)
    if m.empty:
        return pd.DataFrame([{"n": 0, "agreement_with_tie": np.nan, "agreement_without_tie": np.nan, "cohen_kappa": np.nan}])
    decisive = m[(m.choice != "tie") & (m.judge_choice != "tie")]
    return pd.DataFrame([{
        "n": len(m), "agreement_with_tie": float((m.choice == m.judge_choice).mean()),
        "n_without_tie": len(decisive),
        "agreement_without_tie": float((decisive.choice == decisive.judge_choice).mean()) if len(decisive) else np.nan,
        "cohen_kappa": cohen_kappa(m.choice.to_numpy(), m.judge_choice.to_numpy()),
    }])


def human_agreement(human: pd.DataFrame) -> pd.DataFrame:
    """Human–human agreement: every pair of different participants on the same (item, pair)."""
    h = canonical(human)
    same = tot = same_nt = tot_nt = 0
    for _, g in h.groupby(KEY):
        for x, y in itertools.combinations(g.choice.to_numpy(), 2):
            tot += 1
            same += x == y
            if x != "tie" and y != "tie":
                tot_nt += 1
                same_nt += x == y
    return pd.DataFrame([{"n_pairs": tot, "agreement_with_tie": same / tot if tot else np.nan,
                          "n_pairs_without_tie": tot_nt, "agreement_without_tie": same_nt / tot_nt if tot_nt else np.nan}])


def ranking_correlation(judge_scores: pd.Series, human_scores: pd.Series) -> pd.DataFrame:
    """Kendall τ-b and Spearman ρ between two system-level score vectors (indexed by system)."""
    common = judge_scores.index.intersection(human_scores.index)
    a, b = judge_scores[common].to_numpy(float), human_scores[common].to_numpy(float)
    if len(common) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:  # undefined for a constant ranking
        return pd.DataFrame([{"n_systems": len(common), "kendall_tau": np.nan, "spearman_rho": np.nan}])
    return pd.DataFrame([{"n_systems": len(common), "kendall_tau": float(kendalltau(a, b).statistic),
                          "spearman_rho": float(spearmanr(a, b).statistic)}])


def ranking_correlation_ci(judge_votes: pd.DataFrame, human_votes: pd.DataFrame, bootstrap: int = 500, seed: int = 0) -> pd.DataFrame:
    """τ and ρ between judge and human Bradley–Terry rankings, with percentile CIs from resampling items.

    Both sides are refitted on the same resampled items in one batched MM fit per side (a small prior
    keeps a resample in which a system never wins finite, as in ``bradley_terry``'s bootstrap).
    """
    from evalkit.stats.ranking import bradley_terry, fit_bt_mm

    def scores(df):
        return bradley_terry(df, bootstrap=0).set_index("system")["score"]

    point = ranking_correlation(scores(judge_votes), scores(human_votes))
    items = sorted(set(judge_votes.item_id) & set(human_votes.item_id))
    systems = sorted((set(judge_votes.system_a) | set(judge_votes.system_b)) & (set(human_votes.system_a) | set(human_votes.system_b)))
    taus, rhos = [], []
    if bootstrap > 0 and len(items) > 1 and len(systems) >= 3:
        pos, row = {s: k for k, s in enumerate(systems)}, {i: k for k, i in enumerate(items)}

        def item_tensor(df):  # wins[item, i, j]: the resampling unit is the item (ties half)
            df = df[df.item_id.isin(row) & df.system_a.isin(pos) & df.system_b.isin(pos)]
            w = np.zeros((len(items), len(systems), len(systems)))
            it, a, b = df.item_id.map(row).to_numpy(), df.system_a.map(pos).to_numpy(), df.system_b.map(pos).to_numpy()
            ch = df.choice.astype(str).str.lower().to_numpy()
            np.add.at(w, (it[ch == "a"], a[ch == "a"], b[ch == "a"]), 1.0)
            np.add.at(w, (it[ch == "b"], b[ch == "b"], a[ch == "b"]), 1.0)
            np.add.at(w, (it[ch == "tie"], a[ch == "tie"], b[ch == "tie"]), 0.5)
            np.add.at(w, (it[ch == "tie"], b[ch == "tie"], a[ch == "tie"]), 0.5)
            return w

        jw, hw = item_tensor(judge_votes), item_tensor(human_votes)
        rng = np.random.default_rng(seed)
        weights = rng.multinomial(len(items), np.full(len(items), 1.0 / len(items)), size=bootstrap).astype(float)
        jb = fit_bt_mm(np.tensordot(weights, jw, axes=(1, 0)), max_iter=500, tol=1e-8, prior=0.01)
        hb = fit_bt_mm(np.tensordot(weights, hw, axes=(1, 0)), max_iter=500, tol=1e-8, prior=0.01)
        for a, b in zip(jb, hb, strict=True):
            if np.ptp(a) > 0 and np.ptp(b) > 0:
                taus.append(kendalltau(a, b).statistic)
                rhos.append(spearmanr(a, b).statistic)
    out = point.copy()
    for name, vals in (("kendall_tau", taus), ("spearman_rho", rhos)):
        vals = np.array([v for v in vals if np.isfinite(v)])
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = (np.quantile(vals, [0.025, 0.975]) if vals.size else (np.nan, np.nan))
    return out


def item_level_correlation(judge_margin: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
    """Pearson and Spearman correlation between a judge's score margin (a minus b) per (item, pair)
    and the share of humans preferring a (ties half)."""
    h = canonical(human)
    share = h.groupby(KEY).choice.apply(lambda c: ((c == "a").sum() + 0.5 * (c == "tie").sum()) / len(c)).rename("human_share_a")
    m = judge_margin.merge(share.reset_index(), on=KEY)
    if len(m) < 3 or m.margin.std() == 0 or m.human_share_a.std() == 0:
        return pd.DataFrame([{"n": len(m), "pearson_r": np.nan, "spearman_rho": np.nan}])
    return pd.DataFrame([{"n": len(m), "pearson_r": float(pearsonr(m.margin, m.human_share_a).statistic),
                          "spearman_rho": float(spearmanr(m.margin, m.human_share_a).statistic)}])


__all__ = ["human_agreement", "item_level_correlation", "ranking_correlation", "ranking_correlation_ci", "vote_agreement"]
