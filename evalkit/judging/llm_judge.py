"""LLM-as-a-judge over any back end: absolute scores and pairwise verdicts (judging/protocols.py) with bias controls.

Pairwise runs in both orders by default; verdicts are stored in the pair's canonical frame (a, b)
whatever order they were shown in, so swap consistency is a plain comparison. An answer that does
not parse strictly is re-asked up to ``parse_retries`` times and then stored **unscored** with its
raw text: never dropped, never replaced by a guess.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from evalkit.backends.base import GenerationRequest
from evalkit.judging.protocols import protocol_of
from evalkit.judging.rubrics import JudgePreset, Rubric
from evalkit.records import Advice, Item, Judgment, LLMJudgeMetrics

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.S)


class JudgeParseError(ValueError):
    pass


@lru_cache(maxsize=64)
def _validator_for(schema_json: str):
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(schema_json))


def _validator(rubric: Rubric):
    """The rubric's output schema as a jsonschema validator (required fields, types, enums, ranges and
    ``additionalProperties: false`` all enforced)."""
    return _validator_for(json.dumps(rubric.output_schema, sort_keys=True))


def parse_judge_output(text: str | None, rubric: Rubric) -> dict[str, Any]:
    """Strictly parse a judge's JSON answer against the rubric's schema; raise JudgeParseError otherwise."""
    if text is None or not text.strip():
        raise JudgeParseError("empty output")
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise JudgeParseError("no JSON object in output")
    try:
        obj = json.loads(body[start:end + 1])
    except json.JSONDecodeError as exc:
        raise JudgeParseError(f"invalid JSON: {exc.msg}") from exc
    if not isinstance(obj, dict):
        raise JudgeParseError("output is not a JSON object")
    errors = sorted(_validator(rubric).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = ".".join(map(str, e.path)) or "output"
        raise JudgeParseError(f"{where}: {e.message}")
    return obj


@dataclass
class JudgeTask:
    """One call's worth of judging: which advice, which rubric, which order and sample."""

    rubric: Rubric
    advice: Advice
    item: Item
    advice_b: Advice | None = None
    order: str | None = None
    sample_index: int = 0
    context: str | None = None  # grounding: what the advisors were given (judging/grounding.py)
    audio: list[str] | None = None  # grounding "audio": clips of the problem mix

    def prompt(self, preset: JudgePreset) -> str:
        reference = None
        if preset.reference_guided:
            reference = ", ".join(f"{s} {v:+g}" for s, v in self.item.correction_db.items())
        text = protocol_of(self.rubric.protocol).render(self.rubric, self, reference)
        return f"{self.context}\n\n{text}" if self.context else text

    def request(self, preset: JudgePreset, attempt: int = 0) -> GenerationRequest:
        seed = None if preset.seed is None else preset.seed + 1000 * self.sample_index + attempt
        text = self.prompt(preset)
        content: str | list = [*({"type": "audio", "path": p} for p in self.audio), {"type": "text", "text": text}] if self.audio else text
        return GenerationRequest(messages=[{"role": "user", "content": content}], max_tokens=preset.max_tokens,
                                 temperature=preset.temperature, seed=seed, json_schema=self.rubric.output_schema,
                                 key=f"{self.advice.id}:{self.advice_b.id if self.advice_b else ''}:{self.order}:{self.sample_index}")

    def judgment(self, preset: JudgePreset, text: str | None, error: str | None,
                 choice_logprobs: dict[str, dict[str, float]] | None = None) -> Judgment:
        base = dict(advice_id=self.advice.id, advice_id_b=self.advice_b.id if self.advice_b else None, judge=preset.name,
                    rubric=self.rubric.name, rubric_hash=self.rubric.hash, protocol=self.rubric.protocol, order=self.order,
                    sample_index=self.sample_index, raw_output=text or "", judge_config_hash=preset.config_hash,
                    metrics=LLMJudgeMetrics(temperature=preset.temperature, seed=preset.seed,
                                            model_snapshot=preset.model_snapshot).model_dump(exclude_none=True))
        if error:
            return Judgment(**base, parsed=False, error=error, failure="api")
        try:
            obj = parse_judge_output(text, self.rubric)
        except JudgeParseError as exc:
            return Judgment(**base, parsed=False, error=f"unparsed: {exc}", failure="parse")
        fields = protocol_of(self.rubric.protocol).read(self, obj, choice_logprobs)
        base["metrics"] = LLMJudgeMetrics(**base["metrics"], **fields.pop("metrics", {})).model_dump(exclude_none=True)
        return Judgment(**base, **fields)


__all__ = ["JudgeParseError", "JudgeTask", "parse_judge_output"]
