"""Local places evalkit writes outside a run directory."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """evalkit's local cache (EVALKIT_CACHE, else ~/.cache/evalkit): converted model copies, model inputs of
    runs whose store is a database URL."""
    return Path(os.environ.get("EVALKIT_CACHE") or Path.home() / ".cache" / "evalkit")


__all__ = ["cache_root"]
