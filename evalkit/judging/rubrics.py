"""Rubrics and judge presets: YAML validated by pydantic, versioned by content hash."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
import jinja2.sandbox
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from evalkit.backends.config import BackendConfig
from evalkit.config_io import load_yaml, validate
from evalkit.errors import ConfigError
from evalkit.judging.protocols import check_preset_protocol, check_rubric_protocol, preset_protocols
from evalkit.judging.reference import ReferenceOptions
from evalkit.paths import find_shipped, shipped_dir
from evalkit.records import content_hash

# Back-end options that change what a judge answers (the rest — URLs, keys, concurrency, timeouts,
# prices — change only how it is reached).
IDENTITY_KEYS = {"name", "model", "dtype", "constrained", "max_string_tokens", "json_schema_mode", "audio"}


MAX_PROMPT_CHARS = 200_000  # the longest real prompt is two advice texts (20,000 characters each) and a rubric
MAX_TEMPLATE_LOOPS = 100_000  # iterations of range() in one render: enough for any table, not for a hang


def _budget_range():
    """``range`` for one render, with one iteration budget shared by every loop in it (nested loops included)."""
    left = [MAX_TEMPLATE_LOOPS]

    def bounded(*args: int):
        r = range(*args)
        left[0] -= len(r)
        if left[0] < 0:
            raise jinja2.exceptions.SecurityError(f"the template loops more than {MAX_TEMPLATE_LOOPS:,} times")
        return r

    return bounded


class _BoundedSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, plus limits on the operators that make huge values in one step."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise jinja2.exceptions.SecurityError("exponent too large in a rubric template")
        if operator == "*" and any(isinstance(x, str | list | tuple) for x in (left, right)):
            n = right if isinstance(right, int) else left if isinstance(left, int) else 0
            if n > 10_000:
                raise jinja2.exceptions.SecurityError("a repeated string or list too long in a rubric template")
        return super().call_binop(context, operator, left, right)


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="the rubric's name in tables")
    protocol: Annotated[str, AfterValidator(check_rubric_protocol)] = Field(
        description="absolute (a score per advice), pairwise (a verdict per pair) or a protocol a package registers "
                    "(judging/protocols.py)")
    criterion: str = Field(description="what is judged (e.g. specificity, helpfulness); matched to the study's "
                                       "question of that name")
    scale: dict[int, str] | None = Field(None, description="absolute: the meaning of each score")
    prompt: str = Field(description="the judge prompt, a sandboxed Jinja template (advice, advice_a, advice_b, "
                                    "reference, criterion, scale)")
    output_schema: dict[str, Any] = Field(description="the JSON schema the judge's answer must follow (constrained "
                                                      "decoding where the back end supports it)")

    @field_validator("scale")
    @classmethod
    def _anchored(cls, scale):
        if scale is not None and sorted(scale) != [1, 2, 3, 4, 5]:
            raise ValueError("an absolute rubric anchors every level 1-5")
        return scale

    @cached_property
    def hash(self) -> str:
        """The rubric's version: any change to its text, scale or schema changes it."""
        return content_hash(self.model_dump(mode="json"))

    @cached_property
    def template(self) -> jinja2.Template:
        """Compiled once per rubric, in Jinja2's sandbox: a rubric file is data, and a template that reaches
        for Python internals (``''.__class__.__mro__``) raises instead of running."""
        return _BoundedSandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string(self.prompt)

    def render(self, **ctx: Any) -> str:
        """The prompt, refused when a template would loop or grow without end (a rubric is data from a file)."""
        parts, size = [], 0
        for chunk in self.template.generate(criterion=self.criterion, scale=self.scale or {}, range=_budget_range(), **ctx):
            size += len(chunk)
            if size > MAX_PROMPT_CHARS:
                raise jinja2.exceptions.SecurityError(f"the prompt grows past {MAX_PROMPT_CHARS:,} characters")
            parts.append(chunk)
        return "".join(parts).strip()

    def check(self, where: str | Path) -> None:
        """Compile and render once with sample values, so an unsafe or broken template fails at load time,
        before any model is called."""
        sample = {"advice": "Raise the vocals 2 dB.", "advice_a": "Raise the vocals 2 dB.", "advice_b": "Lower the bass 1 dB.",
                  "reference": None, "inputs": "", "item": {}}
        try:
            self.render(**sample)
        except RecursionError as exc:
            raise ConfigError(f"{where}: the rubric's prompt template recurses without end (a macro calling itself); "
                              "write the prompt without recursion") from exc
        except jinja2.exceptions.SecurityError as exc:
            raise ConfigError(f"{where}: the rubric's prompt template is unsafe ({exc}); templates may only use the "
                              "variables advice, advice_a, advice_b, reference, criterion and scale") from exc
        except jinja2.TemplateError as exc:
            raise ConfigError(f"{where}: the rubric's prompt template does not render ({exc})") from exc
        try:
            import jsonschema

            jsonschema.Draft202012Validator.check_schema(self.output_schema)
        except jsonschema.SchemaError as exc:
            raise ConfigError(f"{where}: output_schema is not a valid JSON schema ({exc.message})") from exc


class JudgePreset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the judge's name in tables; its judgments are stored under it")
    backend: BackendConfig | None = Field(None, description="the model that judges (none for protocol reference)")
    protocol: Annotated[str, AfterValidator(check_preset_protocol)] = Field(
        "pairwise", description="reference (checked against the true gains), absolute (1–5 per advice), pairwise (A/B "
                                "per pair), both, or a protocol a package registers (judging/protocols.py)")
    rubrics: list[str] = Field(default_factory=list, description="the rubrics the judge applies (rubrics/*.yaml by "
                                                                 "name, or paths)")
    both_orders: bool = Field(True, description="show each pair in both orders and combine them, so the position "
                                                "shown cannot decide")
    order_average: bool = Field(default=False, description="combine a pair's verdicts by averaging both orders' "
                                                           "verdict "
                                                           "probabilities (back ends that return them: transformers with "
                                                           "constrained decoding) instead of by majority, disagreement a tie")
    samples: int = Field(default=1, ge=1, le=20, description="judgments sampled per task")
    temperature: float = Field(default=0.0, ge=0, le=2, description="sampling temperature of the judge")
    seed: int | None = Field(0, description="sampling seed, for back ends that take one")
    max_tokens: int = Field(default=200, ge=8, le=4096, description="the longest answer the judge may write")
    reference_guided: bool = Field(False, description="show the judge the true correction (a reference-guided "
                                                      "judge, reported as such)")
    grounding: Literal["none", "features", "audio"] = Field(
        default="none", description="what the judge is shown besides the advice: features = the problem mix's (and "
                                    "any reference "
                                    "track's) measurements as the advisors got them; audio = also the problem mix as a clip "
                                    "(an audio-capable back end)")
    reference: ReferenceOptions | None = Field(default=None, description="protocol reference: frame (relative | "
                                                                         "absolute), "
                                                                         "nominal_db and slight_db for claims with no number")
    parse_retries: int = Field(default=1, ge=0, le=5, description="how many times an answer that does not follow "
                                                                  "the output schema is asked again before it is "
                                                                  "recorded unscored")
    max_pairs: int | None = Field(default=None, ge=1, description="judge at most this many (item, pair)s")
    max_items: int | None = Field(default=None, ge=1, description="absolute scores for the advice of at most this "
                                                                  "many items "
                                                                  "(those with the most systems first), every arm of each")
    model_snapshot: str | None = Field(None, description="the provider's dated model version, recorded for "
                                                         "provenance")

    @property
    def config_hash(self) -> str:
        """What makes a judgment this judge's: model, sampling, rubrics, protocol — not where the
        endpoint lives, how many calls run at once, or how many pairs this run asked for."""
        doc = self.model_dump(mode="json", exclude={"max_pairs", "max_items", "parse_retries", "order_average"})
        if doc["backend"]:
            doc["backend"] = {k: v for k, v in doc["backend"].items() if k in IDENTITY_KEYS}
        return content_hash(doc)


def load_rubric(name_or_path: str | Path) -> Rubric:
    path = find_shipped(name_or_path)
    if not path.suffix:
        path = shipped_dir("rubrics") / f"{name_or_path}.yaml"
    rubric = validate(Rubric, load_yaml(path), path)
    rubric.check(path)
    return rubric


def load_judge(path: str | Path) -> JudgePreset:
    path = find_shipped(path)
    preset = validate(JudgePreset, load_yaml(path), path)
    if preset.protocol != "reference" and preset.backend is None:
        raise ConfigError(f"{path}: protocol {preset.protocol} needs a backend (or use protocol: reference)")
    allowed = preset_protocols(preset.protocol)
    for r in preset.rubrics:
        rubric = load_rubric(r)
        if rubric.protocol not in allowed:
            raise ConfigError(f"{path}: rubric {rubric.name!r} is {rubric.protocol}, but the judge's protocol is "
                              f"{preset.protocol}; use a {'/'.join(sorted(allowed)) or 'no'} rubric or change the protocol")
    return preset


__all__ = ["JudgePreset", "Rubric", "load_judge", "load_rubric"]
