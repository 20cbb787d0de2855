"""What every extension point shares: reading the objects installed packages list under an entry-point group, and
looking one up by name with an error that lists the choices. System kinds, judge protocols and study questions each
keep their own built-ins and ``register_*`` (docs/architecture.md names the recipe for adding each)."""

from __future__ import annotations

from typing import TypeVar

from evalkit.errors import ConfigError

T = TypeVar("T")


def entry_point_objects(group: str, kind: type[T]) -> list[T]:
    """The objects installed packages list under ``group``, each checked to be a ``kind`` (loaded on first use)."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=group):
        obj = ep.load()
        if not isinstance(obj, kind):
            raise ConfigError(f"entry point {ep.name!r} ({ep.value}) in {group!r} is not a {kind.__name__}")
        found.append(obj)
    return found


def look_up(registry: dict[str, T], name: str, what: str, group: str) -> T:
    """``registry[name]``, or a ConfigError naming the choices and where another would come from."""
    if name not in registry:
        raise ConfigError(f"unknown {what} {name!r}: choose one of {', '.join(sorted(registry))} (or install a package "
                          f"that adds one to the {group!r} entry points)")
    return registry[name]


__all__ = ["entry_point_objects", "look_up"]
