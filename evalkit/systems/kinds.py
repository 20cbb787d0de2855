"""System kinds: one registry, as back ends have one. A kind names the class that turns a `SystemConfig` into advice
and says whether it is a labelled bound (it reads the truth, or ignores the item: never part of a contrast).

Built-in kinds are listed here; another package adds one under the ``evalkit.system_kinds`` entry points (the entry
point loads a `SystemKind`), so adding a kind is one module plus its test (docs/architecture.md, "Adding a system
kind"; tests/test_system_kinds.py follows that recipe). Classes are imported only when a system of the kind is built.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass

from evalkit.plugins import entry_point_objects, look_up

ENTRY_POINT_GROUP = "evalkit.system_kinds"


@dataclass(frozen=True)
class SystemKind:
    name: str
    target: str  # "module:Class", an AdviceSystem subclass (imported when a system of this kind is built)
    bound: bool = False
    description: str = ""

    def load(self):
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


BUILT_IN = (
    SystemKind("analytic", "evalkit.systems.analytic:AnalyticSystem", description="measures the mix (or stems) and "
                                                                                  "advises the gain moves"),
    SystemKind("oracle", "evalkit.systems.analytic:OracleSystem", bound=True, description="reads the truth: the upper bound"),
    SystemKind("generic", "evalkit.systems.analytic:GenericSystem", bound=True, description="the same unspecific text for every item: the lower bound"),
    SystemKind("llm", "evalkit.systems.llm:LLMSystem", description="a language model through a back end"),
    SystemKind("precomputed", "evalkit.systems.precomputed:PrecomputedSystem", description="advice read from a file"),
)


@functools.cache
def _plugins() -> dict[str, SystemKind]:
    return {k.name: k for k in entry_point_objects(ENTRY_POINT_GROUP, SystemKind)}


_REGISTERED: dict[str, SystemKind] = {k.name: k for k in BUILT_IN}


def register_kind(kind: SystemKind) -> SystemKind:
    """Add a kind in this process (what an entry point does for an installed package)."""
    _REGISTERED[kind.name] = kind
    return kind


def system_kinds() -> dict[str, SystemKind]:
    return {**_plugins(), **_REGISTERED}


def kind_of(name: str) -> SystemKind:
    return look_up(system_kinds(), name, "system kind", ENTRY_POINT_GROUP)


def is_bound_kind(name: str) -> bool:
    """Whether systems of this kind are labelled bounds (an unknown kind is not)."""
    kind = system_kinds().get(name)
    return bool(kind and kind.bound)


__all__ = ["BUILT_IN", "ENTRY_POINT_GROUP", "SystemKind", "is_bound_kind", "kind_of", "register_kind", "system_kinds"]
