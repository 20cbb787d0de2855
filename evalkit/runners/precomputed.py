"""Advice made elsewhere, imported from JSONL or CSV with columns item_id, system, text."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from evalkit.errors import EvalkitInputError
from evalkit.records import MAX_ADVICE_CHARS, Item
from evalkit.runners.base import AdviceSystem


def read_advice_file(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise EvalkitInputError(f"{path}: advice file not found")
    try:
        if path.suffix == ".jsonl":
            df = pd.DataFrame([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()])
        else:
            df = pd.read_csv(path, encoding="utf-8")
    except (UnicodeDecodeError, json.JSONDecodeError, pd.errors.ParserError) as exc:
        raise EvalkitInputError(f"{path}: unreadable advice file ({str(exc)[:100]}); use UTF-8 CSV or JSONL") from exc
    missing = {"item_id", "system", "text"} - set(df.columns)
    if missing:
        raise EvalkitInputError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected item_id, system, text")
    too_long = df["text"].astype(str).str.len() > MAX_ADVICE_CHARS
    if too_long.any():
        row = int(too_long.idxmax())
        raise EvalkitInputError(f"{path}: row {row + 1}: advice text over {MAX_ADVICE_CHARS} characters; shorten it or split it")
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

    def advise(self, item: Item) -> str:
        if item.id not in self.texts:
            raise KeyError(f"no precomputed advice for item {item.id} in {self.config.path}")
        return self.texts[item.id]


__all__ = ["PrecomputedSystem", "read_advice_file"]
