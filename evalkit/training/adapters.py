"""Adapters as systems: what `evalkit finetune` wrote, hashed by content, and its checkpoints as a learning curve.

An adapter folder holds PEFT's ``adapter_config.json`` and ``adapter_model.safetensors`` (or, for full fine-tuning, a
whole model) and ``evalkit_adapter.json``: the base model, the training data's hash, the conditions, the steps and
the loss curve. A folder from `evalkit finetune` also holds ``checkpoint-N/`` subfolders, each an adapter of its own.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError

META = "evalkit_adapter.json"
WEIGHT_FILES = ("adapter_config.json", "adapter_model.safetensors", "config.json", "model.safetensors")


def is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").exists() or ((path / META).exists() and (path / "config.json").exists())


def adapter_meta(path: str | Path) -> dict[str, Any]:
    """The training record of an adapter folder ({} for a PEFT adapter made elsewhere)."""
    p = Path(path) / META
    try:
        return json.loads(p.read_text()) if p.exists() else {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{p}: unreadable adapter record ({exc}); train it again with evalkit finetune") from exc


def _check(path: Path) -> Path:
    if not path.is_dir() or not is_adapter(path):
        raise ConfigError(f"adapter {path}: not an adapter folder (no adapter_config.json); give the folder "
                          "`evalkit finetune --out` wrote, or one of its checkpoint-N folders")
    return path


@functools.lru_cache(maxsize=256)
def _hash(path: str, stamp: tuple) -> str:
    h = hashlib.sha256()
    for name in WEIGHT_FILES:
        f = Path(path) / name
        if f.exists():
            h.update(name.encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


def adapter_hash(path: str | Path) -> str:
    """Content hash of the adapter's weights and configuration (not its path): a system's hash changes when the
    weights do, and a copied adapter keeps its hash."""
    p = _check(Path(path))
    stamp = tuple((n, (p / n).stat().st_size, (p / n).stat().st_mtime_ns) for n in WEIGHT_FILES if (p / n).exists())
    return _hash(str(p.resolve()), stamp)


def checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(training steps, folder) of each checkpoint of a `finetune --out` folder, and of the final adapter, by steps."""
    root = Path(folder)
    found: dict[int, Path] = {}
    for d in sorted(root.glob("checkpoint-*")):
        if d.is_dir() and d.name.split("-", 1)[1].isdigit() and is_adapter(d):
            found[int(d.name.split("-", 1)[1])] = d
    if is_adapter(root):
        steps = adapter_meta(root).get("steps")
        if isinstance(steps, int):
            found.setdefault(steps, root)
    if not found:
        raise ConfigError(f"checkpoints {root}: no adapter and no checkpoint-N folder there; run evalkit finetune first")
    return sorted(found.items())


def apply_adapter(model, adapter: str | Path, base: str):
    """``model`` with the adapter's weights merged in (LoRA), or the fully fine-tuned copy in its place."""
    from evalkit.errors import require

    path = _check(Path(adapter))
    trained_on = adapter_meta(path).get("base")
    if trained_on and trained_on != base:
        raise ConfigError(f"adapter {path} was trained on {trained_on!r}, not on {base!r}; set the back end's model to "
                          f"{trained_on!r}")
    if not (path / "adapter_config.json").exists():  # a fully fine-tuned copy
        transformers = require("transformers", "local")
        return transformers.AutoModelForCausalLM.from_pretrained(str(path), dtype=model.dtype, local_files_only=True)
    peft = require("peft", "local")
    return peft.PeftModel.from_pretrained(model, str(path)).merge_and_unload()


__all__ = ["META", "adapter_hash", "adapter_meta", "apply_adapter", "checkpoints", "is_adapter"]
