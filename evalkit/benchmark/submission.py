"""Submissions: JSONL, one line per (item_id, condition) with the advice text and optional model metadata; or a run's
advice exported with `evalkit export-submission RUN --system NAME`. Checked in full before anything is scored: unknown,
duplicate and missing lines are errors listing the first few; an empty advice is kept (it scores as no change)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitInputError

MAX_SUBMISSION_BYTES = 64 * 1024 * 1024
MAX_ADVICE_CHARS = 20000
KEYS = {"item_id", "condition", "advice", "model"}


@dataclass
class Submission:
    path: Path
    lines: list[dict[str, Any]]
    model: dict[str, Any] = field(default_factory=dict)

    @property
    def conditions(self) -> list[str]:
        return sorted({x["condition"] for x in self.lines})


def _few(keys: list) -> str:
    shown = ", ".join("/".join(k) if isinstance(k, tuple) else str(k) for k in keys[:5])
    return shown + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def read_submission(path: str | Path, item_ids: list[str], conditions: list[str]) -> Submission:
    """The submission's lines, checked against the release's items and conditions. Each condition a submission answers
    must be answered for every item; a condition it leaves out is simply not scored."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SUBMISSION_BYTES:
            raise EvalkitInputError(f"{path}: larger than {MAX_SUBMISSION_BYTES // 2**20} MB; a submission is one short line per "
                                    "item and condition")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise EvalkitInputError(f"{path}: not found; give the submission's JSONL file") from exc
    except UnicodeDecodeError as exc:
        raise EvalkitInputError(f"{path}: not UTF-8 text; write the submission as UTF-8 JSONL") from exc
    known_items, known_conds = set(item_ids), set(conditions)
    lines, seen, dupes, unknown = [], set(), [], []
    models = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError as exc:
            raise EvalkitInputError(f"{path}:{n}: not JSON ({exc.msg}); each line is one object") from exc
        if not isinstance(row, dict):
            raise EvalkitInputError(f"{path}:{n}: a line must be a JSON object with item_id, condition and advice")
        extra = sorted(set(row) - KEYS)
        if extra:
            raise EvalkitInputError(f"{path}:{n}: unknown field(s) {', '.join(extra)}; a line holds item_id, condition, advice "
                                    "and optionally model (see submission.schema.json)")
        for key in ("item_id", "condition", "advice"):
            if not isinstance(row.get(key), str):
                raise EvalkitInputError(f"{path}:{n}: {key} must be a string (an empty advice is \"\", never left out)")
        if len(row["advice"]) > MAX_ADVICE_CHARS:
            raise EvalkitInputError(f"{path}:{n}: advice longer than {MAX_ADVICE_CHARS} characters")
        if "model" in row and not isinstance(row["model"], dict):
            raise EvalkitInputError(f"{path}:{n}: model must be an object (name, version, …)")
        key = (row["item_id"], row["condition"])
        if row["item_id"] not in known_items or row["condition"] not in known_conds:
            unknown.append(key)
        elif key in seen:
            dupes.append(key)
        seen.add(key)
        models.append(row.get("model") or {})
        lines.append(row)
    if not lines:
        raise EvalkitInputError(f"{path}: no lines; a submission has one line per item and condition")
    if unknown:
        raise EvalkitInputError(f"{path}: {len(unknown)} line(s) name an item or condition not in the release: {_few(unknown)} "
                                f"(conditions: {', '.join(conditions)})")
    if dupes:
        raise EvalkitInputError(f"{path}: {len(dupes)} item/condition pair(s) answered twice: {_few(dupes)}; keep one line each")
    answered = sorted({c for _, c in seen})
    missing = [(i, c) for c in answered for i in item_ids if (i, c) not in seen]
    if missing:
        raise EvalkitInputError(f"{path}: {len(missing)} item/condition pair(s) missing: {_few(missing)}; a condition you answer "
                                f"is answered for all {len(item_ids)} items")
    first = next((m for m in models if m), {})
    return Submission(path, lines, first)


def export_submission(store, system: str, out: Path) -> int:
    """A run's advice from one system as submission JSONL (test items; every condition it ran under)."""
    from evalkit.outputs import atomic_file

    items = {i.id: i for i in store.items()}
    advice = sorted((a for a in store.advice() if a.system == system and str(items[a.item_id].split) == "test"),
                    key=lambda a: (a.condition.value, a.item_id))
    if not advice:
        have = sorted({a.system for a in store.advice()})
        raise EvalkitInputError(f"--system {system}: no test-split advice from that system in the run (have {', '.join(have)})")
    with atomic_file(out) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for a in advice:
            f.write(json.dumps({"item_id": a.item_id, "condition": a.condition.value, "advice": a.text,
                                "model": {"name": system, "model": a.model, "config_hash": a.config_hash}}) + "\n")
    return len(advice)


def is_submission(path: Path) -> bool:
    """Whether ``path`` is an earlier `export-submission` (so it may be replaced without --force)."""
    from evalkit.outputs import jsonl_starts_with

    return jsonl_starts_with(path, {"item_id", "condition", "advice"})


__all__ = ["Submission", "export_submission", "is_submission", "read_submission"]
