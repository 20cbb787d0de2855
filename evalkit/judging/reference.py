"""The reference-grounded judge: advice checked against the true gains, with no model.

Notation, per item: S its stems; t_s the true correction of stem s (dB); g_s the gain the advice asks for
(a parsed claim's dB; a direction with no number counts as the *nominal* amount, "slightly" as the *slight*
amount; a stem the advice does not move, 0). In the **relative** frame (the default) both are taken
relative to their common level shift, the median over stems (the level most stems move by):
t~_s = t_s - median(t), g~_s = g_s - median(g), so "lower drums, bass and other 4 dB" reads as "vocals up
4 dB", which is what it does to the balance. In the **absolute** frame t~ = t and g~ = g. A
move smaller than the audible minimum (``min_move_db``, default 1 dB) counts as no move: g_s = 0.

- disturbed stems D = {s : |t~_s| >= 0.5 dB}; moved stems M = {s : |g~_s| > 0.01 dB};
- direction_accuracy = |{s in D ∩ M : sign g~_s = sign t~_s}| / |D| (with D empty: 1 if M is empty, else 0);
- missed_stems = |D minus M|; wrong_claims = |{s in M : s not in D, or sign g~_s != sign t~_s}|;
- db_error = mean over stems given a number of |g~_s - t~_s|;
- balance_error_before_db = RMS_s(t~_s - c), balance_error_after_db = RMS_s(t~_s - g~_s - c'), where c, c'
  are the medians of what is inside (relative frame: the same centring as t~ and g~, so a shift of every stem
  is level, not balance) or 0 (absolute frame); balance_improvement_db = before - after (the judgment's score);
- specificity = number of quantified, non-zero claims the reader did not flag (hedged, contradictory, ambiguous);
  moving every stem by the same amount is level, and scores 0.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from evalkit.judging.advice_parser import PARSER_VERSION, ParsedAdvice, parse_advice
from evalkit.records import (
    DISTURBED_DB,
    Advice,
    Item,
    Judgment,
    ReferenceMetrics,
    ReferencePairMetrics,
    content_hash,
)

REFERENCE_JUDGE = "reference"
REFERENCE_RUBRIC = "reference-gains"
TIE_DB = 0.25
MOVED_DB = 0.01


class ReferenceOptions(BaseModel):
    """Settings of the reference judge (judges/reference.yaml, key ``reference``); they are part of its version."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    frame: Literal["relative", "absolute"] = Field("relative", description="relative: metrics after removing the "
                                                                           "advice's common level shift (lowering "
                                                                           "everything but the vocals = raising "
                                                                           "the vocals); absolute: as written")
    nominal_db: float = Field(default=3.0, gt=0, le=12, description="dB assumed for a direction with no number")
    slight_db: float = Field(default=1.5, gt=0, le=12, description="dB assumed for 'slightly', 'a touch' … with no "
                                                                   "number")
    min_move_db: float = Field(default=1.0, ge=0, le=6, description="a move smaller than this is inaudible and "
                                                                    "counts as no move")
    reader: str = Field(default="rules", description="what reads advice into claims: rules (the advice parser) or "
                                                     "a judge preset "
                                                     "YAML whose back end does (an LLM reader; its agreement with the rules is reported)")

    def claimed_gains(self, parsed: ParsedAdvice) -> dict[str, float]:
        """The gain each claim asks for, in dB: its number, or for a direction without one ``nominal_db`` ('slightly':
        ``slight_db``). The one place this rule lives: the judge's metrics, the study's 'after' clips, the viewer and the
        report's gain errors all read claims through it, with the run's own options."""
        return parsed.gains(self.nominal_db, self.slight_db)

    @property
    def version(self) -> str:
        return content_hash({"judge": "reference", "version": 3, "parser": PARSER_VERSION, **self.model_dump(),
                             "reader_config": self.reader_config_hash})

    @property
    def reader_config_hash(self) -> str | None:
        """An LLM reader's preset identity (model, sampling): a changed reader redoes the judgments it read."""
        if self.reader == "rules":
            return None
        from evalkit.judging.rubrics import load_judge

        return load_judge(self.reader).config_hash


DEFAULT = ReferenceOptions()
REFERENCE_VERSION = DEFAULT.version


def _frame(v: dict[str, float], opts: ReferenceOptions) -> dict[str, float]:
    shift = float(np.median(list(v.values()))) if v and opts.frame == "relative" else 0.0
    return {s: x - shift for s, x in v.items()}


def audible(gains: dict[str, float], opts: ReferenceOptions = DEFAULT) -> dict[str, float]:
    """The advice's gains with moves below the audible minimum set to no move."""
    return {s: (g if abs(g) >= opts.min_move_db else 0.0) for s, g in gains.items()}


def framed(item: Item, gains: dict[str, float], opts: ReferenceOptions = DEFAULT) -> tuple[dict[str, float], dict[str, float]]:
    """(t~, g~): the truth and the advice's audible gains over the item's stems, in the options' frame."""
    stems, gains = list(item.correction_db), audible(gains, opts)
    return (_frame({s: float(item.correction_db[s]) for s in stems}, opts),
            _frame({s: float(gains.get(s, 0.0)) for s in stems}, opts))


def definitions(opts: ReferenceOptions = DEFAULT) -> list[tuple[str, str]]:
    """Each metric with its formula, for the report (the module docstring in table form, with the settings)."""
    shift = "median over stems (the level most stems move by)" if opts.frame == "relative" else "0 (absolute frame)"
    return [
        ("settings", f"frame = {opts.frame}; a direction with no number = {opts.nominal_db:g} dB, 'slightly' = {opts.slight_db:g} dB; "
                     f"a move under {opts.min_move_db:g} dB = no move"),
        ("t~, g~", f"true correction and advised gain per stem, minus their common level shift: {shift}"),
        ("direction_accuracy", f"share of disturbed stems (|t~| >= {DISTURBED_DB} dB) moved (|g~| > {MOVED_DB} dB) in the sign of t~; "
                               "with none disturbed, 1 if nothing moved"),
        ("missed_stems", "disturbed stems not moved"),
        ("wrong_claims", "moved stems that were not disturbed or moved against the sign of t~"),
        ("db_error", "mean |g~ − t~| over stems the advice gives a number for"),
        ("balance_improvement_db", "RMS(t~ − c) − RMS(t~ − g~ − c'), c and c' the medians of what is inside "
                                   + ("(the same centring as t~ and g~: a shift of every stem is level, not balance)" if opts.frame == "relative"
                                      else "set to 0 (absolute)")),
        ("specificity", "claims that give a non-zero number and were not flagged (hedged, contradictory, ambiguous); "
                        "one shift of every stem is level and scores 0"),
    ]


def balance_error(residual: dict[str, float], frame: str = "relative") -> float:
    """RMS over stems of a residual, after removing its median in the relative frame (the centring of t~ and g~)."""
    v = np.array(list(residual.values()), dtype=float)
    if not v.size:
        return 0.0
    return float(np.sqrt(np.mean((v - (np.median(v) if frame == "relative" else 0.0)) ** 2)))


def reference_metrics(parsed: ParsedAdvice, item: Item, opts: ReferenceOptions = DEFAULT) -> dict[str, float]:
    """The metrics of the module docstring for one advice on one item."""
    stems = list(item.correction_db)
    t, g = framed(item, opts.claimed_gains(parsed), opts)
    disturbed = {s for s in stems if abs(t[s]) >= DISTURBED_DB}
    moved = {s for s in stems if abs(g[s]) > MOVED_DB}
    right = sum(1 for s in disturbed & moved if np.sign(g[s]) == np.sign(t[s]))
    wrong = sum(1 for s in moved if s not in disturbed or np.sign(g[s]) != np.sign(t[s]))
    numeric = [abs(g[c.stem] - t[c.stem]) for c in parsed.claims if c.db and c.stem in t]
    before = balance_error(t, opts.frame)
    after = balance_error({s: t[s] - g[s] for s in stems}, opts.frame)
    return {
        "direction_accuracy": right / len(disturbed) if disturbed else float(not moved),
        "db_error": float(np.mean(numeric)) if numeric else float("nan"),
        "missed_stems": float(len(disturbed - moved)),
        "wrong_claims": float(wrong),
        "specificity": float(parsed.specificity),
        "n_claims": float(len(parsed.claims)),
        "n_flagged": float(len(parsed.flagged)),
        "balance_error_before_db": before,
        "balance_error_after_db": after,
        "balance_improvement_db": before - after,
    }


def judge_reference(advice: Advice, item: Item, opts: ReferenceOptions = DEFAULT, parsed: ParsedAdvice | None = None,
                    raw: str | None = None) -> Judgment:
    """One advice scored against its item's truth; ``parsed`` is what another reader (an LLM) read, and ``raw`` its
    answer: with ``raw`` but no ``parsed`` the reader's answer did not parse and the judgment is unscored, kept."""
    if parsed is None and raw is not None:
        return Judgment(advice_id=advice.id, judge=REFERENCE_JUDGE, rubric=REFERENCE_RUBRIC, rubric_hash=opts.version,
                        protocol="reference", parsed=False, failure="parse", raw_output=raw, error="unparsed: the reader's answer "
                        "is not the claims JSON", judge_config_hash=opts.version)
    parsed = parsed if parsed is not None else parse_advice(advice.text)
    m = reference_metrics(parsed, item, opts)
    gains = audible(opts.claimed_gains(parsed), opts)
    return Judgment(advice_id=advice.id, judge=REFERENCE_JUDGE, rubric=REFERENCE_RUBRIC, rubric_hash=opts.version,
                    protocol="reference", score=m["balance_improvement_db"], raw_output=raw or "",
                    metrics=ReferenceMetrics(**m, claims=parsed.as_dict()["claims"], flagged=parsed.as_dict()["flagged"],
                                             gains_db=gains).model_dump(),
                    rationale=f"{len(parsed.claims)} claim(s); balance error {m['balance_error_before_db']:.2f} -> "
                              f"{m['balance_error_after_db']:.2f} dB ({opts.frame})", judge_config_hash=opts.version)


def reference_verdict(j_a: Judgment, j_b: Judgment) -> str:
    """Pairwise verdict from two reference judgments: lower balance error wins; within 0.25 dB is a tie."""
    d = j_a.reference_metrics.balance_error_after_db - j_b.reference_metrics.balance_error_after_db
    return "tie" if abs(d) < TIE_DB else ("a" if d < 0 else "b")


def reference_pair_judgment(j_a: Judgment, j_b: Judgment) -> Judgment:
    """The reference judge's pairwise verdict, stored like any judge's so agreement treats judges alike."""
    verdict = reference_verdict(j_a, j_b)
    return Judgment(advice_id=j_a.advice_id, advice_id_b=j_b.advice_id, judge=REFERENCE_JUDGE, rubric="reference-pairwise",
                    rubric_hash=j_a.rubric_hash, protocol="pairwise", order="ab", verdict=verdict,
                    rationale=f"balance error {j_a.reference_metrics.balance_error_after_db:.2f} vs "
                              f"{j_b.reference_metrics.balance_error_after_db:.2f} dB",
                    metrics=ReferencePairMetrics(margin_db=j_a.score - j_b.score).model_dump(), judge_config_hash=j_a.judge_config_hash)


__all__ = ["DEFAULT", "REFERENCE_JUDGE", "ReferenceOptions", "audible", "balance_error", "definitions", "framed", "judge_reference", "reference_metrics",
           "reference_pair_judgment", "reference_verdict"]
