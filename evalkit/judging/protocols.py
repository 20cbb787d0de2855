"""Judge protocols: one registry, as back ends and system kinds have one. A protocol says how an LLM rubric of its kind
is asked (one advice, or two shown in an order), how the judge's parsed answer becomes a judgment (a score, or a
verdict in the pair's own frame), and what two judges can agree on (for Krippendorff's α in the diagnostics).

The built-in protocols are ``absolute`` (a 1–5 score per advice) and ``pairwise`` (A/B/tie per pair, both orders by
default). A judge preset names one of them, ``both``, or ``reference`` (the reference judge, which checks claims
against the true gains and uses no rubric: evalkit/judging/reference.py). Another package adds a protocol under the
``evalkit.judge_protocols`` entry points (the entry point loads a `JudgeProtocol`), so that adding one is one module
plus its test (docs/architecture.md, "Adding a judge protocol"; tests/judging/test_protocols.py follows the recipe).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from evalkit.errors import ConfigError
from evalkit.plugins import entry_point_objects, look_up

if TYPE_CHECKING:
    from evalkit.judging.llm_judge import JudgeTask
    from evalkit.judging.rubrics import Rubric
    from evalkit.records import Judgment

ENTRY_POINT_GROUP = "evalkit.judge_protocols"
REFERENCE = "reference"  # the preset protocol of the reference judge: no rubric, no model
BOTH = "both"  # a preset that applies an absolute and a pairwise rubric
Level = Literal["nominal", "ordinal", "interval"]


@dataclass(frozen=True)
class AgreementUnit:
    """One thing a judge decided that another judge may have decided too: ``what`` groups units into one α."""

    what: str
    key: tuple
    value: float
    level: Level


@dataclass(frozen=True)
class JudgeProtocol:
    """How a rubric of this protocol is asked, read and compared.

    - ``pairwise``: a task shows two pieces of advice on one item (in both orders when the preset says so);
      otherwise one advice per task.
    - ``render(rubric, task, reference)``: the prompt (the rubric's sandboxed template with this protocol's
      variables).
    - ``read(task, answer, choice_logprobs)``: the schema-valid answer as Judgment fields (``score`` or
      ``verdict``, ``rationale``) plus ``metrics``: extra `LLMJudgeMetrics` fields.
    - ``agreement(judgment)``: the unit two judges can agree on, or None for a judgment that is not one.
    """

    name: str
    description: str
    pairwise: bool
    render: Callable[[Rubric, JudgeTask, str | None], str]
    read: Callable[[JudgeTask, dict[str, Any], dict[str, dict[str, float]] | None], dict[str, Any]]
    agreement: Callable[[Judgment], AgreementUnit | None]


# -- absolute ------------------------------------------------------------------------------------------------------
def _render_absolute(rubric: Rubric, task: JudgeTask, reference: str | None) -> str:
    return rubric.render(advice=task.advice.text, reference=reference)


def _read_absolute(task: JudgeTask, answer: dict[str, Any], _logprobs) -> dict[str, Any]:
    return {"score": float(answer["score"]), "rationale": str(answer.get("rationale", ""))}


def _score_unit(j: Judgment) -> AgreementUnit | None:
    return AgreementUnit("score", (j.rubric, j.advice_id), float(j.score), "ordinal") if j.score is not None else None


# -- pairwise ------------------------------------------------------------------------------------------------------
def _render_pairwise(rubric: Rubric, task: JudgeTask, reference: str | None) -> str:
    first, second = (task.advice, task.advice_b) if task.order == "ab" else (task.advice_b, task.advice)
    return rubric.render(advice_a=first.text, advice_b=second.text, reference=reference)


def _canonical_probs(logprobs: dict[str, float] | None, order: str | None) -> dict[str, float] | None:
    """The verdict options' probabilities (softmax of the model's log-probabilities over A, B, tie), renamed to
    the pair's canonical frame (a, b, tie) whichever order was shown."""
    if not logprobs or not {"A", "B"} <= set(logprobs):
        return None
    top = max(logprobs.values())
    weights = {k: math.exp(v - top) for k, v in logprobs.items()}
    total = sum(weights.values())
    names = {"A": "a", "B": "b", "tie": "tie"} if order == "ab" else {"A": "b", "B": "a", "tie": "tie"}
    return {names[k]: w / total for k, w in weights.items() if k in names}


def _read_pairwise(task: JudgeTask, answer: dict[str, Any], logprobs) -> dict[str, Any]:
    """The verdict in the pair's frame (a, b, tie) whichever order was shown, so swap consistency is a comparison."""
    shown = answer["verdict"]
    verdict = "tie" if shown == "tie" else ({"A": "a", "B": "b"} if task.order == "ab" else {"A": "b", "B": "a"})[shown]
    probs = _canonical_probs((logprobs or {}).get("verdict"), task.order)
    return {"verdict": verdict, "rationale": str(answer.get("rationale", "")),
            "metrics": {"shown_verdict": shown, "verdict_probs": probs or None}}


def _verdict_unit(j: Judgment) -> AgreementUnit | None:
    if j.order != "ab" or j.verdict is None:  # one order per pair, so both judges are compared on the same showing
        return None
    return AgreementUnit("verdict", (j.advice_id, j.advice_id_b), {"a": 0.0, "tie": 1.0, "b": 2.0}[j.verdict], "nominal")


BUILT_IN = (
    JudgeProtocol("absolute", "a 1–5 score per advice, each level anchored by the rubric", False,
                  _render_absolute, _read_absolute, _score_unit),
    JudgeProtocol("pairwise", "A, B or tie for two pieces of advice on one item, shown in both orders", True,
                  _render_pairwise, _read_pairwise, _verdict_unit),
)
_REGISTERED: dict[str, JudgeProtocol] = {p.name: p for p in BUILT_IN}


@functools.cache
def _plugins() -> dict[str, JudgeProtocol]:
    return {p.name: p for p in entry_point_objects(ENTRY_POINT_GROUP, JudgeProtocol)}


def register_protocol(protocol: JudgeProtocol) -> JudgeProtocol:
    """Add a protocol in this process (what an entry point does for an installed package)."""
    if protocol.name in (REFERENCE, BOTH):
        raise ConfigError(f"{protocol.name!r} is a judge preset's protocol, not a rubric protocol; choose another name")
    _REGISTERED[protocol.name] = protocol
    return protocol


def judge_protocols() -> dict[str, JudgeProtocol]:
    return {**_plugins(), **_REGISTERED}


def protocol_of(name: str) -> JudgeProtocol:
    return look_up(judge_protocols(), name, "judge protocol", ENTRY_POINT_GROUP)


def preset_protocols(name: str) -> set[str]:
    """The rubric protocols a judge preset of protocol ``name`` applies (none for the reference judge)."""
    if name == REFERENCE:
        return set()
    if name == BOTH:
        return {"absolute", "pairwise"}
    return {protocol_of(name).name}


def check_preset_protocol(name: str) -> str:
    """A preset's protocol: reference, both, or a registered rubric protocol (a pydantic validator)."""
    if name not in (REFERENCE, BOTH) and name not in judge_protocols():
        raise ValueError(f"unknown judge protocol {name!r}: choose reference, both or one of "
                         f"{', '.join(sorted(judge_protocols()))}")
    return name


def check_rubric_protocol(name: str) -> str:
    """A rubric's protocol: a registered one (a pydantic validator)."""
    if name not in judge_protocols():
        raise ValueError(f"unknown rubric protocol {name!r}: choose one of {', '.join(sorted(judge_protocols()))}")
    return name


__all__ = ["BOTH", "BUILT_IN", "ENTRY_POINT_GROUP", "REFERENCE", "AgreementUnit", "JudgeProtocol", "check_preset_protocol",
           "check_rubric_protocol", "judge_protocols", "preset_protocols", "protocol_of", "register_protocol"]
