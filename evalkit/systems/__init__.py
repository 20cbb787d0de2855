"""Advice systems and how to build them from a config."""

from __future__ import annotations

from pathlib import Path

from evalkit.data.testset import TestSet
from evalkit.records import Condition
from evalkit.systems.base import AdviceSystem, SystemConfig, load_systems, parse_systems
from evalkit.systems.kinds import kind_of


def build_system(config: SystemConfig, testset: TestSet, condition: Condition | None = None,
                 run_dir: Path | None = None, backend=None) -> AdviceSystem:
    """The advice system ``config`` under one of its conditions (the first if none is named).

    An LLM system may be handed an open ``backend`` so that one model serves all its conditions.
    """
    return kind_of(config.kind).load().from_config(config, testset, condition, run_dir=run_dir, backend=backend)


__all__ = ["AdviceSystem", "SystemConfig", "build_system", "load_systems", "parse_systems"]
