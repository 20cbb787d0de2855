"""The item model: the records that cross stage lines (docs/architecture.md, "Records").

Every record is a pydantic v2 model with ``extra="forbid"`` so that a typo in a file is an error,
and every record that results from work carries a content hash so a number in a paper can be
traced back to exactly what produced it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

STEM_NAMES: tuple[str, ...] = ("drums", "bass", "other", "vocals")
MAX_ADVICE_CHARS = 20_000  # longer "advice" is an input error, not something to judge or show people


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the byte form that content hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any, length: int = 16) -> str:
    """SHA-256 of the canonical JSON of ``value`` (truncated); a record's provenance key."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:length]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


DISTURBED_DB = 0.5  # a stem whose correction is at least this far from 0 dB needs moving; below it, it is left alone


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Split(StrEnum):
    train = "train"
    val = "val"
    test = "test"


class Condition(StrEnum):
    """What an advice system is shown.

    ``stems+reference`` pairs the problem stems with a *reference track*: another song from the
    reference pool, as a mixing engineer would use. ``stems+own-reference`` shows the item's own song,
    balanced, which gives the answer away: it exists only as a labelled upper bound.
    """

    mix = "mix"
    stems = "stems"
    stems_reference = "stems+reference"
    stems_own_reference = "stems+own-reference"

    @property
    def leaks_truth(self) -> bool:
        return self is Condition.stems_own_reference

    @property
    def has_reference(self) -> bool:
        return self in (Condition.stems_reference, Condition.stems_own_reference)




def condition_list(conditions: list | None, condition: Condition | str | None, reference: str = "pool") -> list[Condition]:
    """The conditions a system runs under, from its ``conditions:`` (or single ``condition:``) and ``reference:``;
    ``reference: own`` turns stems+reference into the labelled upper bound stems+own-reference. The one rule, for a
    config (SystemConfig.condition_list) and for a stored one (analysis_plan.conditions_of)."""
    conds = [Condition(c) for c in (conditions if conditions is not None else [condition]) if c]
    if reference == "own":
        conds = [Condition.stems_own_reference if c == Condition.stems_reference else c for c in conds]
    return conds


def arm_label(system: str, condition: Condition | str) -> str:
    """One system under one condition: the unit that pairwise comparisons and the study compare."""
    return f"{system}/{Condition(condition).value}"


class Song(Record):
    id: str
    source: Literal["synth", "musdb", "mixparams", "mixeval"]
    stems: dict[str, str] = Field(description="stem name -> audio path, relative to the test-set directory")
    sample_rate: int
    reference_gains_db: dict[str, float] = Field(
        default_factory=dict, description="gains that turn the stored stems into the balanced reference mix"
    )
    meta: dict[str, Any] = Field(default_factory=dict, description="style, tempo, key, license, provenance")

    @field_validator("stems")
    @classmethod
    def _has_stems(cls, stems: dict[str, str]) -> dict[str, str]:
        if not stems:
            raise ValueError("a song needs at least one stem")
        return stems


class Item(Record):
    """A song whose stem gains were knocked off balance by known amounts."""

    id: str
    song_id: str
    split: Split
    offsets_db: dict[str, float] = Field(description="gain applied to each stem to make the problem mix")
    correction_db: dict[str, float] = Field(description="the truth: the gain change per stem that fixes it")
    kind: Literal["problem", "control"] = "problem"

    @property
    def disturbed_stems(self) -> list[str]:
        return [s for s, v in self.correction_db.items() if abs(v) >= DISTURBED_DB]


class Advice(Record):
    item_id: str
    system: str
    condition: Condition
    text: str
    reference_song_id: str | None = Field(default=None, description="the reference track shown (stems+reference)")
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    prompt_hash: str | None = None
    config_hash: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    cost_usd: float | None = None

    @property
    def id(self) -> str:
        return advice_id(self.item_id, self.system, self.condition)

    @property
    def arm(self) -> str:
        return arm_label(self.system, self.condition)

    @property
    def was_cut(self) -> bool:
        """It hit max_tokens and stops mid-sentence: scored as written, never shown in the study. Advice trimmed to whole
        sentences (a system's ``when_cut: trim``) is not cut; the report counts it apart."""
        return self.params.get("finish_reason") == "length" and "trimmed_from_chars" not in self.params


def advice_id(item_id: str, system: str, condition: Condition | str) -> str:
    return content_hash({"item": item_id, "system": system, "condition": str(Condition(condition))})


class ReferenceMetrics(BaseModel):
    """What the reference judge measured for one advice (protocol reference): the metrics of
    evalkit/judging/reference.py's docstring, the claims it read, and the audible gains it applied."""

    model_config = ConfigDict(extra="forbid")
    direction_accuracy: float
    db_error: float | None  # no claim had a number: nan when made, null once stored as JSON
    missed_stems: float
    wrong_claims: float
    specificity: float
    n_claims: float
    n_flagged: float
    balance_error_before_db: float
    balance_error_after_db: float
    balance_improvement_db: float
    claims: list[dict[str, Any]] = Field(default_factory=list)
    flagged: list[dict[str, Any]] = Field(default_factory=list)
    gains_db: dict[str, float] = Field(default_factory=dict)


class ReferencePairMetrics(BaseModel):
    """The reference judge's pairwise verdict: A's balance improvement minus B's."""

    model_config = ConfigDict(extra="forbid")
    margin_db: float


class LLMJudgeMetrics(BaseModel):
    """How an LLM judge's judgment was sampled, and for a pair what it said in the order shown."""

    model_config = ConfigDict(extra="forbid")
    temperature: float = 0.0
    seed: int | None = None
    model_snapshot: str | None = None
    shown_verdict: Literal["A", "B", "tie"] | None = None
    verdict_probs: dict[str, float] | None = None  # P(a), P(b), P(tie) in canonical order, where the back end gives them


class Judgment(Record):
    """A judge's score (absolute) or verdict (pairwise) for one advice or one ordered pair."""

    advice_id: str
    advice_id_b: str | None = None
    judge: str
    rubric: str
    rubric_hash: str
    protocol: str = Field(description="reference, or the rubric's protocol: absolute, pairwise or one a package "
                                      "registers (judging/protocols.py)")
    order: Literal["ab", "ba"] | None = None
    sample_index: int = 0
    score: float | None = None
    verdict: Literal["a", "b", "tie"] | None = None
    rationale: str = ""
    raw_output: str = ""
    parsed: bool = True
    error: str | None = None
    failure: Literal["parse", "api"] | None = Field(
        default=None, description="parse: the judge answered but not per the schema (unscored, kept); "
                                  "api: the call itself failed (no judgment; retried on the next run)")
    metrics: dict[str, Any] = Field(default_factory=dict, description="stored as written; read it typed through "
                                    "reference_metrics, pair_metrics or llm_metrics (one model per judge kind)")
    judge_config_hash: str = ""

    @property
    def reference_metrics(self) -> ReferenceMetrics:
        """The reference judge's metrics of an advice (protocol reference)."""
        return ReferenceMetrics.model_validate(self.metrics)

    @property
    def pair_metrics(self) -> ReferencePairMetrics:
        """The reference judge's margin for a pair (its pairwise judgments)."""
        return ReferencePairMetrics.model_validate(self.metrics)

    @property
    def llm_metrics(self) -> LLMJudgeMetrics:
        """How an LLM judge's judgment was sampled (and, for a pair, its verdict as shown)."""
        return LLMJudgeMetrics.model_validate(self.metrics)

    @property
    def key(self) -> str:
        return content_hash(
            {
                "advice": self.advice_id,
                "advice_b": self.advice_id_b,
                "judge": self.judge,
                "rubric_hash": self.rubric_hash,
                "order": self.order,
                "sample": self.sample_index,
                "judge_config": self.judge_config_hash,
            }
        )


class Preference(Record):
    """One participant's answer to one question (criterion) of one trial: a trial asks two questions, so it is stored
    as two rows, written once per (participant, trial, criterion). See docs/glossary.md for the words."""

    participant_id: str
    trial_id: str
    item_id: str
    advice_id_a: str = Field(description="the advice shown as A (on the left)")
    advice_id_b: str = Field(description="the advice shown as B (on the right)")
    system_a: str = Field(description="the arm (system/condition, e.g. analytic/mix) that wrote advice A; the column keeps its "
                                      "name because `evalkit stats preferences` files use it")
    system_b: str = Field(description="the arm that wrote advice B")
    choice: Literal["a", "b", "tie"]
    confidence: int | None = Field(default=None, ge=1, le=5, description="how sure the participant was, 1–5 (the page asks 'How "
                                                                         "sure are you?')")
    comment: str | None = None
    started_at: str | None = None
    answered_at: str = Field(default_factory=utc_now)
    simulated: bool = False
    study_id: str | None = None
    criterion: str = Field("helpfulness", pattern=r"^[a-z_]+$", description="which question the answer is to (the study's "
                           "questions: evalkit/study/questions.py; the names match the LLM judges' rubrics)")

    @model_validator(mode="before")
    @classmethod
    def _read_old_names(cls, data: Any) -> Any:
        """Answers stored before the vocabulary was settled (docs/glossary.md) called the confidence ``strength`` and
        carried ``shown_left``, which was always "a" (A is the left advice): read them under today's names."""
        if isinstance(data, dict) and ("strength" in data or data.get("shown_left") == "a"):
            data = {k: v for k, v in data.items() if k != "strength" and (k, v) != ("shown_left", "a")} | (
                {"confidence": data["strength"]} if "strength" in data and "confidence" not in data else {})
        return data

    @property
    def key(self) -> str:
        return content_hash({"participant": self.participant_id, "trial": self.trial_id, "criterion": self.criterion})


__all__ = [
    "MAX_ADVICE_CHARS",
    "STEM_NAMES",
    "Advice",
    "Condition",
    "Item",
    "Judgment",
    "LLMJudgeMetrics",
    "ReferenceMetrics",
    "ReferencePairMetrics",
    "Preference",
    "Song",
    "Split",
    "advice_id",
    "arm_label",
    "canonical_json",
    "condition_list",
    "content_hash",
    "utc_now",
]
