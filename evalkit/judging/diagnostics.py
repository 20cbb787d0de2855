"""Judge diagnostics per run: how far each judge can be trusted, as one table.

- parse_failure_rate: unscored / answered judgments (unscored rows are kept with their raw output);
- failed_calls / api_failure_rate: calls that failed in transport (no answer at all); they are kept
  apart from parse failures and retried on the next run;
- failed_calls_logged: every judge call that failed in transport, from the call log, retried ones included
  (what a provider's flakiness cost, after a rerun has filled the gaps);
- swap_consistency: share of pairs judged in both orders whose verdicts agree in the pair's frame;
- first_position_rate: share of decisive pairwise verdicts that went to the advice shown first;
- length_score_spearman: Spearman ρ between absolute score and advice length (verbosity bias);
- sample_agreement: share of multi-sample judgments whose samples all agree;
- agreement between judges: Krippendorff's α on what each protocol says two judges can agree on (ordinal for
  scores, nominal for verdicts; judging/protocols.py).
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from evalkit.judging.protocols import judge_protocols
from evalkit.judging.reference import REFERENCE_JUDGE
from evalkit.records import Judgment
from evalkit.stats.reliability import krippendorff_alpha
from evalkit.store import Store


def _swap(js: list[Judgment]) -> tuple[float, float]:
    groups: dict[tuple, dict[str, str]] = defaultdict(dict)
    first = decisive = 0
    for j in js:
        if j.protocol != "pairwise" or not j.parsed:
            continue
        groups[(j.advice_id, j.advice_id_b, j.rubric, j.sample_index)][j.order] = j.verdict
        shown = j.llm_metrics.shown_verdict if j.judge != REFERENCE_JUDGE else None  # the order shown (LLM judges only)
        if shown in ("A", "B"):
            decisive += 1
            first += shown == "A"
    both = [g for g in groups.values() if len(g) == 2]
    swap = float(np.mean([g["ab"] == g["ba"] for g in both])) if both else np.nan
    return swap, (first / decisive if decisive else np.nan)


def _sample_agreement(js: list[Judgment]) -> float:
    groups: dict[tuple, list] = defaultdict(list)
    for j in js:
        if j.parsed and j.protocol != "reference":
            groups[(j.advice_id, j.advice_id_b, j.rubric, j.order)].append(j.score if j.score is not None else j.verdict)
    multi = [v for v in groups.values() if len(v) > 1]
    return float(np.mean([len(set(v)) == 1 for v in multi])) if multi else np.nan


def judge_diagnostics(store: Store) -> pd.DataFrame:
    judgments = store.judgments()
    lengths = {a.id: len(a.text) for a in store.advice()}
    logged = store.failed_calls_by("judge")
    rows = []
    by_judge: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        by_judge[j.judge].append(j)
    for judge, js in sorted(by_judge.items()):
        scored = [j for j in js if j.parsed and j.score is not None and j.advice_id in lengths]
        rho = np.nan
        if len(scored) > 2 and len({j.score for j in scored}) > 1:
            rho = float(spearmanr([j.score for j in scored], [lengths[j.advice_id] for j in scored]).statistic)
        swap, first = _swap(js)
        failed_calls = sum(j.failure == "api" for j in js)
        answered = [j for j in js if j.failure != "api"]  # a failed call produced no answer to parse
        unscored = sum(not j.parsed for j in answered)
        rows.append({"judge": judge, "judgments": len(answered), "unscored": unscored,
                     "parse_failure_rate": unscored / len(answered) if answered else np.nan,
                     "failed_calls": failed_calls, "api_failure_rate": failed_calls / len(js),
                     "failed_calls_logged": logged.get(judge, 0), "swap_consistency": swap,
                     "first_position_rate": first, "length_score_spearman": rho, "sample_agreement": _sample_agreement(js)})
    return pd.DataFrame(rows, columns=["judge", "judgments", "unscored", "parse_failure_rate", "failed_calls", "api_failure_rate",
                                       "failed_calls_logged", "swap_consistency", "first_position_rate", "length_score_spearman", "sample_agreement"])


def judge_agreement(store: Store) -> pd.DataFrame:
    """Krippendorff's α between every two judges on what both judged (scores ordinal, verdicts nominal)."""
    units: dict[str, dict[tuple, float]] = defaultdict(dict)
    levels: dict[str, str] = {}
    protocols = judge_protocols()
    for j in store.judgments():
        if not j.parsed or j.sample_index != 0 or j.protocol not in protocols:  # the reference judge's own rows
            continue
        unit = protocols[j.protocol].agreement(j)
        if unit is not None:
            units[j.judge][(unit.what, *unit.key)] = unit.value
            levels[unit.what] = unit.level
    rows = []
    for a, b in itertools.combinations(sorted(units), 2):
        for kind, level in sorted(levels.items(), key=lambda kv: (kv[0] != "score", kv[0])):
            keys = sorted(k for k in units[a].keys() & units[b].keys() if k[0] == kind)
            if len(keys) < 2:
                continue
            data = np.array([[units[a][k] for k in keys], [units[b][k] for k in keys]])
            rows.append({"judge_a": a, "judge_b": b, "what": kind, "n": len(keys), "level": level,
                         "krippendorff_alpha": krippendorff_alpha(data, level)})
    return pd.DataFrame(rows, columns=["judge_a", "judge_b", "what", "n", "level", "krippendorff_alpha"])


__all__ = ["judge_agreement", "judge_diagnostics"]
