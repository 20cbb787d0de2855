"""`evalkit data describe` and `evalkit data export-sft`: what a test set holds, and training pairs from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.data.reference_pool import pool_summary
from evalkit.data.testset import TestSet


def describe(ts: TestSet) -> dict[str, pd.DataFrame]:
    """Tables of songs, items per split and kind, offset distribution, and loudness per stem."""
    song_rows = [{"song_id": s.id, "source": s.source, "style": s.meta.get("style", ""), "tempo_bpm": s.meta.get("tempo_bpm"),
                  "key": s.meta.get("key", ""), "split": next((i.split.value for i in ts.items if i.song_id == s.id), "")}
                 for s in ts.songs.values()]
    items = pd.DataFrame([{"split": i.split.value, "kind": i.kind} for i in ts.items])
    splits = items.groupby(["split", "kind"]).size().unstack(fill_value=0).reset_index()
    offsets = pd.DataFrame([{"stem": s, "offset_db": v} for i in ts.items for s, v in i.offsets_db.items() if v])
    if offsets.empty:
        offset_table = pd.DataFrame(columns=["stem", "n", "mean_db", "min_db", "max_db", "mean_abs_db"])
    else:
        offset_table = offsets.groupby("stem")["offset_db"].agg(
            n="count", mean_db="mean", min_db="min", max_db="max", mean_abs_db=lambda v: float(np.mean(np.abs(v)))
        ).reset_index()
    loud = []
    for sid in ts.songs:
        feats = ts.reference_features(sid)
        loud.append({"song_id": sid, **{f"{k}_lufs": round(v.loudness_lufs, 2) for k, v in feats.items()}})
    pool = pd.DataFrame(pool_summary(ts.songs, ts.items), columns=["song_id", "style", "source"])
    return {"songs": pd.DataFrame(song_rows), "splits": splits, "offsets": offset_table, "loudness": pd.DataFrame(loud),
            "reference pool (train songs shown as reference tracks under stems+reference)": pool}


def describe_figure(ts: TestSet, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    data = {s: [i.offsets_db[s] for i in ts.items if i.offsets_db.get(s)] for s in ts.items[0].offsets_db}
    ax.hist([v for v in data.values()], bins=np.arange(-12.5, 13, 1), label=list(data), stacked=True)
    ax.set_xlabel("offset applied to stem (dB)")
    ax.set_ylabel("items")
    ax.legend(frameon=False)
    ax.set_title(f"Disturbances in {ts.root.name}")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def is_sft_export(path: Path) -> bool:
    """Whether ``path`` is an earlier `data export-sft` (its first line is one of our examples)."""
    from evalkit.outputs import jsonl_starts_with

    return jsonl_starts_with(path, {"id", "song_id", "messages", "correction_db"})


def export_sft(ts: TestSet, split: str, out: Path, conditions: list[str] | None = None, layout: str = "side-by-side") -> int:
    """Chat-format JSONL of (prompt -> advice written from the truth) pairs from the train or val split: the prompts
    `evalkit finetune` trains on, i.e. those the evaluation shows under each condition. The test split is refused."""
    from evalkit.outputs import atomic_file
    from evalkit.records import Condition
    from evalkit.training.examples import training_examples

    examples = training_examples(ts, [Condition(c) for c in conditions or ("mix", "stems", "stems+reference")], split=split,
                                 layout=layout)
    items = {i.id: i for i in ts.items}
    with atomic_file(out) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for e in examples:
            row = {"id": f"{e.item_id}/{e.condition.value}", "item_id": e.item_id, "song_id": e.song_id, "split": split,
                   "condition": e.condition.value, "reference_song_id": e.reference_song_id, "messages": e.chat(),
                   "correction_db": items[e.item_id].correction_db}
            f.write(json.dumps(row) + "\n")
    return len(examples)


__all__ = ["describe", "describe_figure", "export_sft", "is_sft_export"]
