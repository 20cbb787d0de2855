"""Advice made elsewhere, imported from JSONL or CSV with columns item_id, system, text."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from evalkit.errors import EvalkitInputError
from evalkit.records import MAX_ADVICE_CHARS, Item
from evalkit.systems.base import AdviceSystem


def read_advice_file(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise EvalkitInputError(f"{path}: advice file not found")
    try:
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            if not all(isinstance(r, dict) for r in rows):
                raise ValueError("each line must be a JSON object with item_id, system and text")
            df = pd.DataFrame(rows)
        else:
            df = pd.read_csv(path, encoding="utf-8")
    except (UnicodeDecodeError, json.JSONDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError,
            TypeError) as exc:
        raise EvalkitInputError(f"{path}: unreadable advice file ({str(exc)[:100]}); use UTF-8 CSV or JSONL") from exc
    missing = {"item_id", "system", "text"} - set(df.columns)
    if missing:
        raise EvalkitInputError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected item_id, system, text")
    if df.empty:
        raise EvalkitInputError(f"{path}: no advice rows; add one row per item (item_id, system, text)")
    for col in ("item_id", "system"):
        blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if blank.any():
            raise EvalkitInputError(f"{path}: row {int(blank.to_numpy().argmax()) + 1} has no {col}; fill it in or drop the row")
    blank = df["text"].isna() | (df["text"].astype(str).str.strip() == "")
    if blank.any():
        raise EvalkitInputError(f"{path}: row {int(blank.to_numpy().argmax()) + 1} has no advice text; give the text, or drop "
                                "the row (an item without a row is reported as missing advice)")
    too_long = df["text"].astype(str).str.len() > MAX_ADVICE_CHARS
    if too_long.any():
        row = int(too_long.to_numpy().argmax())
        raise EvalkitInputError(f"{path}: row {row + 1}: advice text over {MAX_ADVICE_CHARS} characters; shorten it or split it")
    keys = ["item_id", "system"] + (["condition"] if "condition" in df.columns else [])
    dup = df.astype({k: str for k in keys}).duplicated(keys, keep=False)
    if dup.any():
        r = df[dup].iloc[0]
        raise EvalkitInputError(f"{path}: item {r['item_id']!r} has more than one advice for system {r['system']!r}"
                                + (f" under {r['condition']}" if "condition" in keys else "") + "; keep one")
    return df


class PrecomputedSystem(AdviceSystem):
    """Advice from a file; with a ``condition`` column, one system's advice under each of its conditions."""

    def __init__(self, config, testset, condition=None) -> None:
        super().__init__(config, testset, condition)
        df = read_advice_file(Path(config.path))
        df = df[df["system"].astype(str) == config.name]
        if "condition" in df.columns:
            df = df[df["condition"].astype(str) == self.condition.value]
        self.texts = dict(zip(df["item_id"].astype(str), df["text"].astype(str), strict=True))
        unknown = sorted(set(self.texts) - {i.id for i in testset.items})
        if unknown:
            raise EvalkitInputError(f"{config.path}: advice for item(s) not in the test set: {', '.join(unknown[:3])}"
                                    + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
                                    + "; check that the file was made for this test set")

    def advise(self, item: Item) -> str:
        if item.id not in self.texts:
            raise KeyError(f"no precomputed advice for item {item.id} in {self.config.path}")
        return self.texts[item.id]


__all__ = ["PrecomputedSystem", "read_advice_file"]
