"""Condition templates (Jinja2): what an advice system is shown, as features or as audio."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from evalkit.audio.features import OCTAVE_CENTRES_HZ
from evalkit.records import Condition, content_hash

PROMPT_DIR = Path(__file__).parent
TEMPLATE_FOR = {Condition.mix: "mix.j2", Condition.stems: "stems.j2", Condition.stems_reference: "stems_reference.j2",
                Condition.stems_own_reference: "stems_own_reference.j2"}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(PROMPT_DIR), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=False)


def template_hash(condition: Condition) -> str:
    """Content hash of a condition's templates: changes when the prompt text changes."""
    texts = [(PROMPT_DIR / n).read_text() for n in ("system.j2", "_macros.j2", TEMPLATE_FOR[Condition(condition)])]
    return content_hash(texts)


def relative_differences(features: dict, reference: dict, stems: list[str]) -> dict[str, float]:
    """Each stem's level relative to its own mix, minus the same in the reference (LU)."""
    out = {}
    for s in stems:
        a, b = features[s].relative_loudness_lu, reference[s].relative_loudness_lu
        out[s] = float(a - b) if np.isfinite(a) and np.isfinite(b) else 0.0
    return out


def render_messages(condition: Condition | str, *, features: dict, reference: dict | None, meta: dict[str, Any],
                    representation: str = "features", audio_paths: list[str] | None = None, layout: str = "side-by-side",
                    reference_meta: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chat messages a system sees under ``condition`` (text tables, or audio parts plus text).

    ``layout`` is how two stem sets are shown (side-by-side, difference, interleaved; grouped or
    interleaved audio): an experiment axis of its own (the proposal's second question).
    """
    condition = Condition(condition)
    if condition.has_reference and reference is None:
        raise ValueError(f"condition {condition.value} needs reference features")
    stems = [k for k in features if k != "mix"]
    ctx = {"meta": meta, "representation": representation, "stems": stems, "features": features, "mix": features["mix"],
           "reference": reference or {}, "bands": [f"{c:g}" for c in OCTAVE_CENTRES_HZ], "layout": layout,
           "reference_meta": reference_meta or {},
           "differences": relative_differences(features, reference, stems) if reference else {}}
    env = environment()
    user_text = env.get_template(TEMPLATE_FOR[condition]).render(**ctx).strip()
    system = env.get_template("system.j2").render().strip()
    if representation == "audio":
        content = [{"type": "audio", "path": p} for p in (audio_paths or [])] + [{"type": "text", "text": user_text}]
        return [{"role": "system", "content": system}, {"role": "user", "content": content}]
    return [{"role": "system", "content": system}, {"role": "user", "content": user_text}]


def render_judge_context(features: dict, references: dict[str, dict] | None = None) -> str:
    """What a grounded judge is shown before the rubric: the problem mix's feature table (the one the advisors'
    prompts use) and the table of each reference track an advisor was shown. Never the true correction: that is
    the preset's separate ``reference_guided`` switch."""
    stems = [k for k in features if k != "mix"]
    return environment().get_template("judge_context.j2").render(stems=stems, features=features, mix=features["mix"],
                                                                 references=references or {}).strip()


__all__ = ["TEMPLATE_FOR", "relative_differences", "render_judge_context", "render_messages", "template_hash"]
