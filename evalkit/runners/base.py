"""Advice systems: what each one is configured with, and the interface the generate stage drives."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalkit.config_io import load_yaml, validate
from evalkit.data.testset import TestSet
from evalkit.errors import ConfigError
from evalkit.records import Advice, Condition, Item, content_hash


class BackendConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class SystemConfig(BaseModel):
    """One advice system in a systems YAML; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]+$")
    kind: Literal["oracle", "stems-analytic", "mix-analytic", "generic", "llm", "precomputed"]
    condition: Condition
    representation: Literal["features", "audio"] = "features"
    backend: BackendConfig | None = None
    max_tokens: int = Field(default=160, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0, le=2)
    seed: int = 0
    path: str | None = None  # precomputed advice file
    chunk: int | None = Field(default=None, ge=1, description="requests per store commit (default: 2 × concurrency)")

    @property
    def config_hash(self) -> str:
        return content_hash(self.model_dump(mode="json"))


class SystemsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    systems: list[SystemConfig]


def load_systems(path: str | Path) -> list[SystemConfig]:
    return parse_systems(load_yaml(path), str(path))


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
    """Turns items into advice. Analytic systems answer synchronously; LLM systems override ``advise_batch``."""

    def __init__(self, config: SystemConfig, testset: TestSet) -> None:
        self.config = config
        self.testset = testset

    @property
    def name(self) -> str:
        return self.config.name

    def advise(self, item: Item) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def make_advice(self, item: Item, text: str, **provenance: Any) -> Advice:
        return Advice(item_id=item.id, system=self.name, condition=self.config.condition, text=text,
                      config_hash=self.config.config_hash, **provenance)


__all__ = ["AdviceSystem", "BackendConfig", "SystemConfig", "load_systems", "parse_systems"]
