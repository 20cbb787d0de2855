"""Advice systems (runners) and how to build them from a config."""

from __future__ import annotations

from pathlib import Path

from evalkit.data.testset import TestSet
from evalkit.runners.analytic import ANALYTIC
from evalkit.runners.base import AdviceSystem, SystemConfig, load_systems, parse_systems


def build_system(config: SystemConfig, testset: TestSet, run_dir: Path | None = None) -> AdviceSystem:
    if config.kind in ANALYTIC:
        return ANALYTIC[config.kind](config, testset)
    if config.kind == "llm":
        from evalkit.runners.llm import LLMSystem

        return LLMSystem(config, testset, audio_dir=(run_dir / "inputs") if run_dir else None)
    from evalkit.runners.precomputed import PrecomputedSystem

    return PrecomputedSystem(config, testset)


__all__ = ["AdviceSystem", "SystemConfig", "build_system", "load_systems", "parse_systems"]
