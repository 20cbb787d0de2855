"""Where evalkit finds what it ships (rubrics, judge presets, experiments, the study app) and where it
writes outside a run directory."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

SHIPPED = ("rubrics", "judges", "experiments", "study_app")


def shipped_dir(name: str) -> Path:
    """One of the SHIPPED folders: the checkout's own when evalkit runs from a checkout (or an editable
    install), else the copy installed with the package (``evalkit.bundled``, a wheel install)."""
    if name not in SHIPPED:
        raise ValueError(f"{name!r} is not shipped with evalkit")
    checkout = Path(__file__).resolve().parents[1] / name
    if checkout.is_dir():
        return checkout
    return Path(str(importlib.resources.files("evalkit.bundled").joinpath(name)))


def find_shipped(path: str | Path) -> Path:
    """``path`` as given when it exists; else, for a relative path into a shipped folder ("judges/x.yaml"),
    the shipped copy, so presets named as in the README work from any folder."""
    p = Path(path)
    if p.exists() or p.is_absolute() or not p.parts or p.parts[0] not in SHIPPED:
        return p
    cand = shipped_dir(p.parts[0]).joinpath(*p.parts[1:])
    return cand if cand.exists() else p


def cache_root() -> Path:
    """evalkit's local cache (EVALKIT_CACHE, else ~/.cache/evalkit): converted model copies, model inputs of
    runs whose store is a database URL."""
    return Path(os.environ.get("EVALKIT_CACHE") or Path.home() / ".cache" / "evalkit")


__all__ = ["SHIPPED", "cache_root", "find_shipped", "shipped_dir"]
