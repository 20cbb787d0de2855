"""The reference-grounded judge: advice checked against the true gains, with no model.

Metrics per advice (all in ``Judgment.metrics``; ``score`` is the balance improvement in dB):
- direction_accuracy: share of disturbed stems that get a claim in the right direction;
- db_error: mean |claimed − true| correction over claims that give a number;
- missed_stems / wrong_claims: disturbed stems with no claim; claims on a stem that needed nothing
  or in the wrong direction;
- specificity: quantified, stem-specific instructions;
- balance_error_before/after_db: RMS over stems of the per-stem loudness error relative to the
  reference, before and after applying the advice's gains. Errors are taken after removing their
  mean, since moving every stem by the same amount changes level, not balance. A direction with no
  number is applied as 3 dB ("slightly": 1.5 dB).
"""

from __future__ import annotations

import numpy as np

from evalkit.judging.advice_parser import ParsedAdvice, parse_advice
from evalkit.records import Advice, Item, Judgment, content_hash

REFERENCE_JUDGE = "reference"
REFERENCE_RUBRIC = "reference-gains"
REFERENCE_VERSION = content_hash({"judge": "reference", "version": 1, "nominal_db": 3.0, "slight_db": 1.5})
TIE_DB = 0.25


def balance_error(residual: dict[str, float]) -> float:
    v = np.array(list(residual.values()), dtype=float)
    return float(np.sqrt(np.mean((v - v.mean()) ** 2))) if v.size else 0.0


def reference_metrics(parsed: ParsedAdvice, item: Item) -> dict[str, float]:
    truth = item.correction_db
    gains = parsed.gains()
    disturbed = [s for s, v in truth.items() if abs(v) >= 0.5]
    by_stem = {c.stem: c for c in parsed.claims}
    right = sum(1 for s in disturbed if s in by_stem and (by_stem[s].direction == "up") == (truth[s] > 0))
    wrong = sum(1 for c in parsed.claims if abs(truth.get(c.stem, 0.0)) < 0.5 or (c.direction == "up") != (truth[c.stem] > 0))
    numeric = [abs(c.signed_db() - truth.get(c.stem, 0.0)) for c in parsed.claims if c.db is not None]
    before = balance_error(dict(truth))
    after = balance_error({s: truth[s] - gains.get(s, 0.0) for s in truth})
    return {
        "direction_accuracy": right / len(disturbed) if disturbed else float(not parsed.claims),
        "db_error": float(np.mean(numeric)) if numeric else float("nan"),
        "missed_stems": float(sum(1 for s in disturbed if s not in by_stem)),
        "wrong_claims": float(wrong),
        "specificity": float(parsed.specificity),
        "n_claims": float(len(parsed.claims)),
        "balance_error_before_db": before,
        "balance_error_after_db": after,
        "balance_improvement_db": before - after,
    }


def judge_reference(advice: Advice, item: Item) -> Judgment:
    parsed = parse_advice(advice.text)
    m = reference_metrics(parsed, item)
    return Judgment(advice_id=advice.id, judge=REFERENCE_JUDGE, rubric=REFERENCE_RUBRIC, rubric_hash=REFERENCE_VERSION,
                    protocol="reference", score=m["balance_improvement_db"], metrics={**m, "claims": parsed.as_dict()["claims"]},
                    rationale=f"{len(parsed.claims)} claim(s); balance error {m['balance_error_before_db']:.2f} -> "
                              f"{m['balance_error_after_db']:.2f} dB", judge_config_hash=REFERENCE_VERSION)


def reference_verdict(j_a: Judgment, j_b: Judgment) -> str:
    """Pairwise verdict from two reference judgments: lower balance error wins; within 0.25 dB is a tie."""
    d = j_a.metrics["balance_error_after_db"] - j_b.metrics["balance_error_after_db"]
    return "tie" if abs(d) < TIE_DB else ("a" if d < 0 else "b")


def reference_pair_judgment(j_a: Judgment, j_b: Judgment) -> Judgment:
    """The reference judge's pairwise verdict, stored like any judge's so agreement treats judges alike."""
    verdict = reference_verdict(j_a, j_b)
    return Judgment(advice_id=j_a.advice_id, advice_id_b=j_b.advice_id, judge=REFERENCE_JUDGE, rubric="reference-pairwise",
                    rubric_hash=REFERENCE_VERSION, protocol="pairwise", order="ab", verdict=verdict,
                    rationale=f"balance error {j_a.metrics['balance_error_after_db']:.2f} vs {j_b.metrics['balance_error_after_db']:.2f} dB",
                    metrics={"margin_db": j_a.score - j_b.score}, judge_config_hash=REFERENCE_VERSION)


__all__ = ["REFERENCE_JUDGE", "reference_pair_judgment", "balance_error", "judge_reference", "reference_metrics", "reference_verdict"]
