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
from evalkit.records import Condition, condition_list
from evalkit.systems.kinds import is_bound_kind

REFERENCE_METRICS = ("balance_improvement_db", "direction_accuracy", "specificity", "db_error", "missed_stems", "wrong_claims")
DEFAULT_CONTRASTS = ((Condition.stems, Condition.mix), (Condition.stems_reference, Condition.mix))
class Contrast(BaseModel):
    """``condition − versus`` within one system, paired by item."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    system: str = Field(description="the system compared with itself (never a bound)")
    condition: Condition = Field(description="the condition under test")
    versus: Condition = Field(Condition.mix, description="the condition it is compared with, paired by item")

    @property
    def label(self) -> str:
        return f"{self.system}: {self.condition.value} − {self.versus.value}"


class AxisContrast(BaseModel):
    """Two systems that differ in exactly one setting (``axis``: a config field such as ``layout``, or a dotted path
    such as ``backend.adapter``), compared under each condition both run, paired by item: ``system − versus``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    system: str = Field(description="one system (e.g. a fine-tuned checkpoint)")
    versus: str = Field(description="the system it is compared with (e.g. its base model)")
    axis: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", description="the one setting the two may differ in, as "
                                                                        "a dotted path of the system config (e.g. "
                                                                        "layout, backend.model, backend.adapter)")
    conditions: list[Condition] | None = Field(default=None, description="the conditions to compare under "
                                                                         "(default: all both run)")

    def label(self, condition: Condition) -> str:
        return f"{self.system} − {self.versus} under {condition.value} ({self.axis})"


# Settings that never make two systems different advisors: identity, coverage and how calls are batched.
_NOT_AN_AXIS = {"name", "condition", "conditions", "max_items", "chunk", "checkpoints", "training_steps", "checkpoint_of"}


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, f"{key}."))
        else:
            out[key] = v
    return out


def axis_differences(a: dict, b: dict) -> list[str]:
    """The settings in which two stored system configs differ (dotted paths), deployment and coverage left out."""
    from evalkit.backends.config import DEPLOYMENT_KEYS

    fa, fb = _flat(a), _flat(b)
    keys = {k for k in fa.keys() | fb.keys() if k.split(".")[0] not in _NOT_AN_AXIS
            and not (k.startswith("backend.") and k.split(".", 1)[1] in DEPLOYMENT_KEYS)}
    return sorted(k for k in keys if fa.get(k) != fb.get(k))


class AnalysisPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    primary_metric: Literal["balance_improvement_db", "direction_accuracy", "specificity"] = Field("balance_improvement_db", description="the reference-judge metric the primary contrasts test")
    contrasts: list[Contrast] | Literal["auto"] = Field("auto", description="the primary condition contrasts, "
                                                                            "declared before the data; auto: "
                                                                            "every system seen under several "
                                                                            "conditions, each condition against "
                                                                            "mix")
    axis_contrasts: list[AxisContrast] = Field(
        default_factory=list, description="systems that differ in one setting (layout, base model vs adapter), "
                                          "compared "
                                          "under each shared condition; declared here they join the primary family")
    multiplicity: Literal["holm", "bonferroni"] = Field("holm", description="how the primary family's p-values are "
                                                                            "adjusted together (Holm 1979 or "
                                                                            "Bonferroni)")
    swap_consistency_floor: float = Field(
        0.5, ge=0, le=1, description="a pairwise judge below this swap consistency is flagged as position-biased")
    exclude_position_biased_judges: bool = Field(
        True, description="leave flagged judges out of the headline's judge–human agreement (tables keep them)")
    exploratory_metrics: list[Literal["balance_improvement_db", "direction_accuracy", "specificity", "db_error",
                                      "missed_stems", "wrong_claims"]] = Field(
        default_factory=lambda: ["direction_accuracy", "specificity", "wrong_claims"], description="further metrics reported for the same contrasts, unadjusted and labelled exploratory")

    def position_biased(self, swap_consistency: float | None) -> bool:
        """The one rule for a position-biased judge: swap consistency under the declared floor (unknown: not flagged)."""
        return swap_consistency is not None and swap_consistency == swap_consistency and swap_consistency < self.swap_consistency_floor

    def resolve_axes(self, systems: list[dict]) -> list[tuple[AxisContrast, Condition]]:
        """Each declared axis contrast under each condition it is compared in; two systems that differ in more than the
        declared setting (or not in it) are refused, naming the settings, since the contrast would not be like with like."""
        by_name = {s["name"]: s for s in systems}
        out = []
        for c in self.axis_contrasts:
            for name in (c.system, c.versus):
                if name not in by_name:
                    raise ConfigError(f"analysis.axis_contrasts: system {name!r} is not in the run (have {', '.join(by_name)})")
                if is_bound_kind(by_name[name]["kind"]):
                    raise ConfigError(f"analysis.axis_contrasts: {name!r} is a labelled bound; bounds never enter a contrast")
            diff = axis_differences(by_name[c.system], by_name[c.versus])
            if diff != [c.axis]:
                raise ConfigError(f"analysis.axis_contrasts: {c.system} and {c.versus} differ in {', '.join(diff) or 'nothing'}, "
                                  f"not only in {c.axis!r}; declare the one setting they differ in, or make them differ only there")
            shared = [x for x in conditions_of(by_name[c.system]) if x in conditions_of(by_name[c.versus])]
            wanted = c.conditions or shared
            missing = [x.value for x in wanted if x not in shared]
            if missing or not wanted:
                raise ConfigError(f"analysis.axis_contrasts: {c.system} and {c.versus} do not both run under "
                                  f"{', '.join(missing) or 'any common condition'}")
            out += [(c, x) for x in wanted]
        return out

    def resolve(self, systems: list[dict]) -> list[Contrast]:
        """The primary family for the systems of a run (their stored configs)."""
        by_name = {s["name"]: s for s in systems}
        if self.contrasts != "auto":
            for c in self.contrasts:
                if c.system not in by_name:
                    raise ConfigError(f"analysis.contrasts: system {c.system!r} is not in the run (have {', '.join(by_name)})")
                if is_bound_kind(by_name[c.system]["kind"]):
                    raise ConfigError(f"analysis.contrasts: {c.system!r} is a labelled bound; bounds never enter a condition contrast")
                if Condition.stems_own_reference in (c.condition, c.versus):
                    raise ConfigError("analysis.contrasts: stems+own-reference shows the answer; it is an upper bound, "
                                      "not a primary contrast")
                if c.condition == c.versus:
                    raise ConfigError(f"analysis.contrasts: {c.label} compares a condition with itself")
                ran = conditions_of(by_name[c.system])
                missing = [x.value for x in (c.condition, c.versus) if x not in ran]
                if missing:
                    raise ConfigError(f"analysis.contrasts: {c.label}: {c.system!r} never runs under {', '.join(missing)} (it runs "
                                      f"under {', '.join(x.value for x in ran)}); add the condition to the system or drop the contrast")
            return list(self.contrasts)
        out = []
        for s in systems:
            if is_bound_kind(s["kind"]):
                continue
            conds = set(conditions_of(s))
            out += [Contrast(system=s["name"], condition=a, versus=b) for a, b in DEFAULT_CONTRASTS if a in conds and b in conds]
        return out


def conditions_of(system: dict) -> list[Condition]:
    """The conditions a stored system config ran under (the ``condition:`` or ``conditions:`` form)."""
    return condition_list(system.get("conditions"), system.get("condition"), system.get("reference") or "pool")


__all__ = ["DEFAULT_CONTRASTS", "REFERENCE_METRICS", "AnalysisPlan", "AxisContrast", "Contrast", "axis_differences",
           "conditions_of"]
