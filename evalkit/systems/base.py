"""Advice systems: what each one is configured with, and the interface the generate stage drives."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evalkit.backends.config import DEPLOYMENT_KEYS, BackendConfig
from evalkit.config_io import load_yaml, validate
from evalkit.data.reference_pool import choose_reference, reference_pool
from evalkit.data.testset import TestSet
from evalkit.errors import ConfigError
from evalkit.records import Advice, Condition, Item, condition_list, content_hash
from evalkit.systems.kinds import is_bound_kind, kind_of

FEATURE_LAYOUTS = ("side-by-side", "difference", "interleaved")
AUDIO_LAYOUTS = ("interleaved", "grouped")


class SystemConfig(BaseModel):
    """One advice system in a systems YAML; unknown keys are errors.

    A system runs under one ``condition`` or under several ``conditions``: each (item, system,
    condition) is one advice, so a condition contrast compares the same system with itself.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]+$", description="the system's name in tables and the study "
                                                                 "(letters, digits, _ . + -)")
    kind: str = Field(description="built in: analytic, generic and llm advise; oracle is the upper bound that sees "
                                  "the truth; "
                                  "precomputed reads advice from a file; others from the evalkit.system_kinds entry points")
    condition: Condition | None = Field(None, description="the one condition this system runs under (or give "
                                                          "conditions)")
    conditions: list[Condition] | None = Field(default=None, min_length=1, description="the conditions this system runs under, each a separate arm: mix, stems, stems+reference, stems+own-reference")
    reference: Literal["pool", "own"] = Field(
        default="pool", description="stems+reference: another song from the train pool, or (upper bound) the "
                                    "item's own song")
    layout: Literal["side-by-side", "difference", "interleaved", "grouped"] | None = Field(
        default=None, description="how two stem sets are shown under stems+reference (default side-by-side; "
                                  "grouped for audio)")
    representation: Literal["features", "audio"] = Field("features", description="what an llm system is given: "
                                                                                 "features (measurements as text) "
                                                                                 "or audio (clips, for an "
                                                                                 "audio-capable back end)")
    backend: BackendConfig | None = Field(None, description="the model that writes the advice (kind llm): name and "
                                                            "options, see Back ends")
    max_tokens: int = Field(default=160, ge=1, le=4096, description="the longest answer the model may write; a "
                                                                    "longer one is cut and handled by when_cut")
    when_cut: Literal["keep", "trim"] = Field(
        default="keep", description="an answer that hits max_tokens: keep it as cut (scored as written, never "
                                    "shown in the "
        "study) or trim it to its last whole sentence (marked trimmed in the advice and the report; shown in the study)")
    temperature: float = Field(default=0.0, ge=0, le=2, description="sampling temperature (0: greedy)")
    seed: int = Field(0, description="seed for sampling and for picking max_items")
    max_items: int | None = Field(default=None, ge=1, description="advise on this many items, spread over songs")
    path: str | None = Field(None, description="kind precomputed: a CSV or JSONL of advice with item_id, system, "
                                               "text (and condition)")  # precomputed advice file
    chunk: int | None = Field(default=None, ge=1, description="requests per store commit (default: 2 × "
                                                              "concurrency)")
    checkpoints: list[str] | None = Field(
        default=None, min_length=1, description="adapters from `evalkit finetune` (or its --out folder, whose "
                                                "checkpoint-N/ "
        "are all taken): the system runs once per checkpoint as NAME-stepN, and as NAME-step0 with the base model, "
        "a learning curve over training steps")
    training_steps: int | None = Field(default=None, ge=0, description="set for each checkpoint of `checkpoints:`")
    checkpoint_of: str | None = Field(default=None, description="the system whose `checkpoints:` this one comes "
                                                                "from")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        try:
            kind_of(kind)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return kind

    @model_validator(mode="after")
    def _one_condition_form(self) -> SystemConfig:
        if (self.condition is None) == (self.conditions is None):
            raise ValueError("give either condition: X or conditions: [X, Y, ...]")
        conds = self.condition_list
        if len(set(conds)) != len(conds):
            raise ValueError(f"conditions repeat: {[c.value for c in conds]}")
        if self.layout is not None and not {Condition.stems_reference, Condition.stems_own_reference} & set(conds):
            raise ValueError(f"layout {self.layout!r} says how the stems sit beside a reference's, but the system never "
                             "runs under stems+reference; add that condition or drop layout")
        allowed = AUDIO_LAYOUTS if self.representation == "audio" else FEATURE_LAYOUTS
        if self.layout is not None and self.layout not in allowed:
            raise ValueError(f"layout {self.layout!r} is not available with representation {self.representation} "
                             f"(use one of {', '.join(allowed)})")
        if self.checkpoints is not None and (self.kind != "llm" or self.backend is None
                                             or self.backend.name not in ("transformers", "vllm")):
            raise ValueError("checkpoints: needs kind llm with a transformers or vllm back end (the adapters' base model)")
        return self

    @property
    def condition_list(self) -> list[Condition]:
        """The conditions this system runs under; ``reference: own`` turns stems+reference into the labelled
        upper bound ``stems+own-reference``."""
        return condition_list(self.conditions, self.condition, self.reference)

    @property
    def effective_layout(self) -> str:
        return self.layout or ("grouped" if self.representation == "audio" else "side-by-side")

    @property
    def is_bound(self) -> bool:
        return is_bound_kind(self.kind)

    def run_hash(self, condition: Condition) -> str:
        """The hash of this system under one condition: the config that produced one advice (not how many
        items it covers: raising max_items adds advice, it does not change the advice already made; nor where
        its back end is reached or how many calls run at once, so each machine of a run may use its own endpoints)."""
        body = self.model_dump(mode="json", exclude={"conditions", "condition", "max_items", "chunk", "checkpoints",
                                                     "training_steps", "checkpoint_of"})
        if body.get("when_cut") == "keep":  # the default leaves the hash as it was before the option existed
            body.pop("when_cut")
        if body.get("backend"):
            body["backend"] = {k: v for k, v in body["backend"].items() if k not in DEPLOYMENT_KEYS}
            if body["backend"].get("adapter"):  # the adapter's weights, not where they lie
                from evalkit.training.adapters import adapter_hash

                body["backend"]["adapter"] = adapter_hash(body["backend"]["adapter"])
        return content_hash({**body, "condition": Condition(condition).value, "layout": self.effective_layout})


class SystemsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    systems: list[SystemConfig] = Field(min_length=1, max_length=500)


def load_systems(path: str | Path, relative_to: list[Path] | None = None) -> list[SystemConfig]:
    """A systems YAML, with ``checkpoints:`` expanded (relative adapter paths: as given, then beside the file)."""
    path = Path(path)
    return expand_checkpoints(parse_systems(load_yaml(path), str(path)), [*(relative_to or []), Path(), path.parent])


def _adapter_path(raw: str, bases: list[Path]) -> Path:
    p = Path(raw).expanduser()
    for cand in ([p] if p.is_absolute() else [b / p for b in bases]):
        if cand.exists():
            return cand.resolve()
    raise ConfigError(f"adapter {raw}: not found (looked in {', '.join(str(b) for b in bases)}); run evalkit finetune first")


def expand_checkpoints(systems: list[SystemConfig], bases: list[Path]) -> list[SystemConfig]:
    """Each system with ``checkpoints:`` becomes one system per checkpoint (NAME-stepN, its adapter set) and NAME-step0
    (the base model): the same model after N steps, under each of its conditions. Adapter paths become absolute."""
    from evalkit.training.adapters import adapter_meta, checkpoints, is_adapter

    out = []
    for s in systems:
        if s.backend is not None and (s.backend.model_extra or {}).get("adapter"):
            backend = s.backend.model_dump()
            backend["adapter"] = str(_adapter_path(backend["adapter"], bases))
            s = s.model_copy(update={"backend": type(s.backend)(**backend)})
        if not s.checkpoints:
            out.append(s)
            continue
        found: dict[int, Path] = {}
        for raw in s.checkpoints:
            p = _adapter_path(raw, bases)
            steps = adapter_meta(p).get("steps") if is_adapter(p) and not list(p.glob("checkpoint-*")) else None
            found.update({steps: p} if isinstance(steps, int) else dict(checkpoints(p)))
        found.setdefault(0, None)
        base = {k: v for k, v in s.backend.model_dump().items() if k != "adapter"}
        for steps, p in sorted(found.items()):
            backend = type(s.backend)(**base, **({"adapter": str(p)} if p is not None else {}))
            out.append(s.model_copy(update={"name": f"{s.name}-step{steps}", "checkpoints": None, "training_steps": steps,
                                            "checkpoint_of": s.name, "backend": backend}))
    names = [s.name for s in out]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ConfigError(f"systems: {', '.join(clash)} named twice once checkpoints are expanded; rename the system")
    return out


def parse_systems(raw: Any, where: str) -> list[SystemConfig]:
    systems = validate(SystemsFile, raw if isinstance(raw, dict) else {"systems": raw}, where).systems
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: system names must be unique (got {names})")
    for s in systems:
        if s.kind == "llm" and s.backend is None:
            raise ConfigError(f"{where}: system {s.name!r} is kind llm but names no backend")
        if s.kind == "precomputed" and not s.path:
            raise ConfigError(f"{where}: system {s.name!r} is kind precomputed but names no path")
    return systems


class AdviceSystem:
    """Turns items into advice under one condition. Analytic systems answer synchronously; LLM systems
    build requests for a back end."""

    def __init__(self, config: SystemConfig, testset: TestSet, condition: Condition | None = None) -> None:
        self.config = config
        self.testset = testset
        self.condition = Condition(condition or config.condition_list[0])
        self._pool: list[str] | None = None

    @classmethod
    def from_config(cls, config: SystemConfig, testset: TestSet, condition: Condition | None = None, *,
                    run_dir: Path | None = None, backend=None) -> AdviceSystem:
        """How `build_system` makes one (a kind that needs the run folder or an open back end overrides this)."""
        return cls(config, testset, condition)

    @property
    def name(self) -> str:
        return self.config.name

    def advise(self, item: Item) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def reference_song(self, item: Item) -> str | None:
        """The song shown as the reference for ``item`` under this condition (None without one)."""
        if self.condition == Condition.stems_own_reference:
            return item.song_id
        if self.condition != Condition.stems_reference:
            return None
        if self._pool is None:
            self._pool = reference_pool(self.testset.songs, self.testset.items)
        return choose_reference(item, self.testset.songs, self._pool, self.config.seed)

    def make_advice(self, item: Item, text: str, **provenance: Any) -> Advice:
        return Advice(item_id=item.id, system=self.name, condition=self.condition, text=text,
                      reference_song_id=self.reference_song(item), config_hash=self.config.run_hash(self.condition),
                      **provenance)


__all__ = ["AUDIO_LAYOUTS", "FEATURE_LAYOUTS", "AdviceSystem", "SystemConfig", "expand_checkpoints",
           "load_systems", "parse_systems"]
