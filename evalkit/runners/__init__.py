"""Advice systems (runners) and how to build them from a config."""

from __future__ import annotations

from pathlib import Path

from evalkit.data.testset import TestSet
from evalkit.records import Condition
from evalkit.runners.analytic import ANALYTIC
from evalkit.runners.base import AdviceSystem, SystemConfig, load_systems, parse_systems


def build_system(config: SystemConfig, testset: TestSet, condition: Condition | None = None,
                 run_dir: Path | None = None, backend=None) -> AdviceSystem:
    """The advice system ``config`` under one of its conditions (the first if none is named).

    An LLM system may be handed an open ``backend`` so that one model serves all its conditions.
    """
    if config.kind in ANALYTIC:
        return ANALYTIC[config.kind](config, testset, condition)
    if config.kind == "llm":
        from evalkit.runners.llm import LLMSystem

        return LLMSystem(config, testset, condition, audio_dir=(run_dir / "inputs") if run_dir else None, backend=backend)
    from evalkit.runners.precomputed import PrecomputedSystem

    return PrecomputedSystem(config, testset, condition)


__all__ = ["AdviceSystem", "SystemConfig", "build_system", "load_systems", "parse_systems"]
