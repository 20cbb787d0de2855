"""The analysis plan: the primary contrasts and their multiplicity family, declared before the data.

A reviewer asks which comparisons were planned. The plan is part of the experiment config, written
into the run store (with the time it was declared) before any advice is generated, and the report
tests exactly the primary family with Holm's correction; everything else is labelled exploratory.
By default each system that runs under several conditions (bounds excluded) contributes
``stems − mix`` and ``stems+reference − mix``, paired by item.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evalkit.errors import ConfigError
from evalkit.records import Condition, content_hash, utc_now

REFERENCE_METRICS = ("balance_improvement_db", "direction_accuracy", "specificity", "db_error", "missed_stems", "wrong_claims")
DEFAULT_CONTRASTS = ((Condition.stems, Condition.mix), (Condition.stems_reference, Condition.mix))
PLAN_META_KEY = "analysis_plan"


class Contrast(BaseModel):
    """``condition − versus`` within one system, paired by item."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    system: str
    condition: Condition
    versus: Condition = Condition.mix

    @property
    def label(self) -> str:
        return f"{self.system}: {self.condition.value} − {self.versus.value}"


class AnalysisPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    primary_metric: Literal["balance_improvement_db", "direction_accuracy", "specificity"] = "balance_improvement_db"
    contrasts: list[Contrast] | Literal["auto"] = "auto"
    multiplicity: Literal["holm", "bonferroni"] = "holm"
    swap_consistency_floor: float = Field(
        0.5, ge=0, le=1, description="a pairwise judge below this swap consistency is flagged as position-biased")
    exclude_position_biased_judges: bool = Field(
        True, description="leave flagged judges out of the headline's judge–human agreement (tables keep them)")
    exploratory_metrics: list[Literal["balance_improvement_db", "direction_accuracy", "specificity", "db_error",
                                      "missed_stems", "wrong_claims"]] = Field(
        default_factory=lambda: ["direction_accuracy", "specificity", "wrong_claims"])

    def resolve(self, systems: list[dict]) -> list[Contrast]:
        """The primary family for the systems of a run (their stored configs)."""
        by_name = {s["name"]: s for s in systems}
        if self.contrasts != "auto":
            for c in self.contrasts:
                if c.system not in by_name:
                    raise ConfigError(f"analysis.contrasts: system {c.system!r} is not in the run (have {', '.join(by_name)})")
                if by_name[c.system]["kind"] in ("oracle", "generic"):
                    raise ConfigError(f"analysis.contrasts: {c.system!r} is a labelled bound; bounds never enter a condition contrast")
                if Condition.stems_own_reference in (c.condition, c.versus):
                    raise ConfigError("analysis.contrasts: stems+own-reference shows the answer; it is an upper bound, "
                                      "not a primary contrast")
                if c.condition == c.versus:
                    raise ConfigError(f"analysis.contrasts: {c.label} compares a condition with itself")
            return list(self.contrasts)
        out = []
        for s in systems:
            if s["kind"] in ("oracle", "generic"):
                continue
            conds = set(conditions_of(s))
            out += [Contrast(system=s["name"], condition=a, versus=b) for a, b in DEFAULT_CONTRASTS if a in conds and b in conds]
        return out


def conditions_of(system: dict) -> list[Condition]:
    """The conditions a stored system config ran under (the ``condition:`` or ``conditions:`` form)."""
    raw = system.get("conditions") or [system.get("condition")]
    conds = [Condition(c) for c in raw if c]
    if system.get("reference") == "own":
        conds = [Condition.stems_own_reference if c == Condition.stems_reference else c for c in conds]
    return conds


def declare_plan(store, plan: AnalysisPlan) -> dict:
    """Write the plan into the run store. The first declaration keeps its time; a different plan given
    after advice exists is kept too, and flagged as revised after the data."""
    body = plan.model_dump(mode="json")
    current = store.get_meta(PLAN_META_KEY)
    digest = content_hash(body)
    if current and current.get("hash") == digest:
        return current
    record = {"plan": body, "hash": digest, "declared_at": utc_now(), "advice_existed": store.count("advice") > 0,
              "previous": current}
    store.set_meta(PLAN_META_KEY, record)
    return record


def stored_plan(store) -> tuple[AnalysisPlan, dict | None]:
    record = store.get_meta(PLAN_META_KEY)
    return (AnalysisPlan.model_validate(record["plan"]) if record else AnalysisPlan()), record


__all__ = ["DEFAULT_CONTRASTS", "PLAN_META_KEY", "REFERENCE_METRICS", "AnalysisPlan", "Contrast", "conditions_of",
           "declare_plan", "stored_plan"]
