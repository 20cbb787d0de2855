"""Everything the report shows, computed once from a run store (and a study's answers, if any).

Stats functions know nothing of LLMs; this module is the one place that turns stored judgments and
preferences into the tidy frames those functions take.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select

from evalkit import __version__
from evalkit.judging.diagnostics import judge_agreement, judge_diagnostics
from evalkit.judging.reference import REFERENCE_JUDGE
from evalkit.judging.rubrics import load_rubric
from evalkit.records import Condition, content_hash
from evalkit.stats.agreement import (
    human_agreement,
    item_level_correlation,
    ranking_correlation_ci,
    vote_agreement,
)
from evalkit.stats.preference import canonical, pairwise_tests, win_matrix, win_rates
from evalkit.stats.ranking import bradley_terry
from evalkit.stats.scores import friedman, paired_tests, system_means
from evalkit.store import Store, run_meta

REFERENCE_METRICS = ("balance_improvement_db", "direction_accuracy", "specificity", "db_error", "missed_stems", "wrong_claims")
ENGINEER_SPREAD_DB = 3.4  # spread between human engineers' relative stem gains (the report's yardstick)


@dataclass
class Analysis:
    provenance: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    simulated_humans: bool = False
    has_humans: bool = False
    notes: list[str] = field(default_factory=list)


def advice_frame(store: Store) -> pd.DataFrame:
    items = {i.id: i for i in store.items()}
    return pd.DataFrame([{"advice_id": a.id, "item_id": a.item_id, "system": a.system, "condition": a.condition.value,
                          "kind": items[a.item_id].kind, "length": len(a.text)} for a in store.advice()])


def judge_votes(store: Store, advice: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per judge, one vote per (item, pair): both orders and all samples combined by majority; a pair
    whose orders disagree counts as a tie (MT-Bench's treatment of position-inconsistent verdicts)."""
    sys_of = advice.set_index("advice_id")["system"].to_dict()
    item_of = advice.set_index("advice_id")["item_id"].to_dict()
    rows = []
    for j in store.judgments():
        if j.protocol != "pairwise" or not j.parsed or j.advice_id not in sys_of or j.advice_id_b not in sys_of:
            continue
        rows.append({"judge": j.judge, "item_id": item_of[j.advice_id], "system_a": sys_of[j.advice_id],
                     "system_b": sys_of[j.advice_id_b], "order": j.order, "choice": j.verdict,
                     "margin": j.metrics.get("margin_db", np.nan)})
    out = {}
    if not rows:
        return out
    df = pd.DataFrame(rows)
    for judge, g in df.groupby("judge"):
        votes = []
        for key, h in g.groupby(["item_id", "system_a", "system_b"]):
            per_order = h.groupby("order").choice.agg(lambda c: c.mode().iloc[0] if len(c.mode()) == 1 else "tie")
            choice = per_order.iloc[0] if per_order.nunique() == 1 else "tie"
            votes.append({"participant_id": judge, "item_id": key[0], "system_a": key[1], "system_b": key[2], "choice": choice,
                          "margin": h.margin.mean()})
        out[judge] = pd.DataFrame(votes)
    return out


def condition_contrasts(ref: pd.DataFrame, metric: str, seed: int = 0, bootstrap: int = 2000) -> pd.DataFrame:
    """Mean difference between conditions on the same items (per item, averaged over the condition's
    systems), with a percentile bootstrap CI over items."""
    wide = ref.pivot_table(index="item_id", columns="condition", values=metric, aggfunc="mean")
    rng = np.random.default_rng(seed)
    rows = []
    order = [c.value for c in Condition]
    present = [c for c in order if c in wide.columns]
    for i, a in enumerate(present):
        for b in present[i + 1:]:
            d = (wide[b] - wide[a]).dropna().to_numpy()
            if not len(d):
                continue
            boots = d[rng.integers(0, len(d), size=(bootstrap, len(d)))].mean(axis=1)
            lo, hi = np.quantile(boots, [0.025, 0.975])
            rows.append({"metric": metric, "condition": b, "versus": a, "n_items": len(d), "mean_difference": float(d.mean()),
                         "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(rows)


def analyze(store: Store, human: pd.DataFrame | None = None, *, bootstrap: int = 1000, seed: int = 0) -> Analysis:
    advice = advice_frame(store)
    judges_meta = {k.removeprefix("judge/"): v for k, v in _meta_prefix(store, "judge/").items()}
    rubric_hashes = {}
    for preset in judges_meta.values():
        for r in preset.get("rubrics", []):
            rubric_hashes[r] = load_rubric(r).hash
    provenance = {"evalkit": __version__, "testset_checksum": store.get_meta("testset_checksum"),
                  "testset_path": store.get_meta("testset_path"), "rubric_hashes": rubric_hashes,
                  "judge_configs": {k: content_hash(v) for k, v in judges_meta.items()},
                  "systems_config": content_hash(store.get_meta("systems/test") or []), "n_advice": len(advice)}
    provenance["hash"] = content_hash(provenance)
    an = Analysis(provenance=provenance)
    kinds = {s["name"]: (s["kind"], s["condition"]) for s in (store.get_meta("systems/test") or [])}
    ref_kinds = {k for k, c in kinds.values() if c == "stems+reference"}
    if ref_kinds == {"oracle"}:
        an.notes.append("The only stems+reference system here is the oracle, which knows the true gains: contrasts against "
                        "stems+reference are an upper bound. Compare stems with mix for systems that have to listen.")
    t = an.tables
    t["advice_counts"] = advice.groupby(["system", "condition"]).size().rename("n").reset_index() if len(advice) else pd.DataFrame()
    failed = store.advice_frame()
    t["advice_failures"] = failed[failed.status != "ok"][["item_id", "system", "condition", "attempts", "error"]]

    # Reference judge: metrics per advice.
    ref_rows = [{"advice_id": j.advice_id, **{m: j.metrics.get(m) for m in REFERENCE_METRICS}}
                for j in store.judgments(REFERENCE_JUDGE) if j.protocol == "reference"]
    if ref_rows:
        ref = advice.merge(pd.DataFrame(ref_rows), on="advice_id")
        means = [system_means(ref, m, ("system", "condition"), bootstrap=bootstrap, seed=seed).assign(metric=m) for m in REFERENCE_METRICS]
        t["reference_scores"] = pd.concat(means, ignore_index=True)[["metric", "system", "condition", "n", "mean", "ci_low", "ci_high"]]
        t["condition_contrasts"] = pd.concat([condition_contrasts(ref, m, seed) for m in REFERENCE_METRICS[:3]], ignore_index=True)
        t["reference_paired_tests"] = paired_tests(ref, "balance_improvement_db")
        t["reference_friedman"] = friedman(ref, "balance_improvement_db")
        claims = []
        items = {i.id: i for i in store.items()}
        for j in store.judgments(REFERENCE_JUDGE):
            if j.protocol != "reference":
                continue
            a = advice.set_index("advice_id").loc[j.advice_id]
            for c in j.metrics.get("claims", []):
                if c["db"] is not None:
                    true = items[a.item_id].correction_db.get(c["stem"], 0.0)
                    claimed = c["db"] if c["direction"] == "up" else -c["db"]
                    claims.append({"system": a.system, "stem": c["stem"], "claimed_db": claimed, "true_db": true,
                                   "error_db": claimed - true})
        t["gain_errors"] = pd.DataFrame(claims, columns=["system", "stem", "claimed_db", "true_db", "error_db"])

    # LLM absolute scores.
    abs_rows = [{"advice_id": j.advice_id, "judge": j.judge, "rubric": j.rubric, "score": j.score}
                for j in store.judgments() if j.protocol == "absolute" and j.parsed]
    if abs_rows:
        per = pd.DataFrame(abs_rows).groupby(["advice_id", "judge", "rubric"]).score
        agg = per.median().rename("score").to_frame().join((per.max() - per.min()).rename("spread")).reset_index()
        sc = advice.merge(agg, on="advice_id")  # median over samples; the spread between samples is kept beside it
        means = system_means(sc, "score", ("judge", "rubric", "system", "condition"), bootstrap=bootstrap, seed=seed)
        spread = sc.groupby(["judge", "rubric", "system", "condition"]).spread.mean().rename("mean_sample_spread").reset_index()
        t["rubric_scores"] = means.merge(spread, on=["judge", "rubric", "system", "condition"])

    t["judge_diagnostics"] = judge_diagnostics(store)
    t["judge_agreement"] = judge_agreement(store)
    votes = judge_votes(store, advice)

    if human is not None and len(human):
        an.has_humans = True
        an.simulated_humans = bool(human.get("simulated", pd.Series([False])).astype(bool).any())
        if "gold_passed" in human and human.gold_passed.notna().any():
            kept = human[human.gold_passed.fillna(True).astype(bool)]
            failed = human.participant_id.nunique() - kept.participant_id.nunique()
            an.notes.append(f"{failed} of {human.participant_id.nunique()} participants failed a gold (attention) trial and were excluded."
                            if failed else f"All {human.participant_id.nunique()} participants passed their gold (attention) trials.")
            human = kept
        t["human_win_rates"] = win_rates(human)
        t["human_pairwise_tests"] = pairwise_tests(human)
        t["human_bradley_terry"] = bradley_terry(human, bootstrap=bootstrap, seed=seed)
        t["human_win_matrix"] = win_matrix(human).reset_index().rename(columns={"index": "system"})
        t["human_agreement"] = human_agreement(human)
        agree, rank, item_corr = [], [], []
        for judge, v in votes.items():
            agree.append(vote_agreement(v, human).assign(judge=judge))
            rank.append(ranking_correlation_ci(v, human, bootstrap=min(bootstrap, 300), seed=seed).assign(judge=judge))
            if v.margin.notna().any():
                item_corr.append(item_level_correlation(canonical(v).dropna(subset=["margin"]), human).assign(judge=judge))
        if agree:
            t["judge_human_agreement"] = pd.concat(agree, ignore_index=True)
            t["judge_human_ranking"] = pd.concat(rank, ignore_index=True)
        if item_corr:
            t["judge_human_item_correlation"] = pd.concat(item_corr, ignore_index=True)
    for judge, v in votes.items():
        t[f"judge_bradley_terry_{judge}"] = bradley_terry(v, bootstrap=0)
    return an


def _meta_prefix(store: Store, prefix: str) -> dict:
    with store.engine.connect() as conn:
        rows = conn.execute(select(run_meta).where(run_meta.c.key.like(f"{prefix}%"))).all()
    return {r.key: json.loads(r.value) for r in rows}


def load_human(path: Path | None) -> pd.DataFrame | None:
    if path is None or not Path(path).exists():
        return None
    return pd.read_csv(path)


__all__ = ["ENGINEER_SPREAD_DB", "Analysis", "analyze", "condition_contrasts", "judge_votes", "load_human"]
