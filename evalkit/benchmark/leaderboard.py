"""`evalkit leaderboard DIR... --out BOARD`: scored submissions merged into one board (CSV, Markdown, HTML).

Rows scored under another release or another reader version are refused, naming them: their numbers would not be
comparable. Each condition's entries are ranked by balance improvement with the song-clustered CV3 intervals from
scoring; pairwise tests between entries pair their advice by item (differences of balance improvement, songs as
clusters, t with G−1 df), Holm-adjusted within each condition.
"""

from __future__ import annotations

import html
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.errors import EvalkitInputError

BOARD_COLUMNS = ["condition", "rank", "entry", "balance_improvement_db", "ci_low", "ci_high", "direction_accuracy", "specificity",
                 "n", "n_songs", "empty_advice", "model"]


def _load(d: Path) -> tuple[dict, pd.DataFrame]:
    try:
        row = json.loads((d / "row.json").read_text())
        items = pd.read_csv(d / "item_scores.csv")
    except (OSError, ValueError) as exc:
        raise EvalkitInputError(f"{d}: not a scored submission (row.json and item_scores.csv from `evalkit score`)") from exc
    return row, items


def build_leaderboard(dirs: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    from evalkit.stats.clustered import paired_contrast
    from evalkit.stats.preference import holm

    if not dirs:
        raise EvalkitInputError("give at least one folder written by `evalkit score`")
    loaded = [(d, *_load(Path(d))) for d in dirs]
    first = loaded[0][1]
    for d, row, _ in loaded[1:]:
        for key, what in (("release_id", "release"), ("reader", "reader version")):
            if row.get(key) != first.get(key):
                raise EvalkitInputError(f"{d}: scored under another {what} ({row.get(key)} against {first.get(key)} in "
                                        f"{loaded[0][0]}); rescore it against the same release with the same evalkit")
    names = [row["entry"] for _, row, _ in loaded]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise EvalkitInputError(f"entries named twice: {', '.join(twice)}; score them with distinct --name")
    board = []
    for _, row, _ in loaded:
        for cond, m in row["conditions"].items():
            bi = m["balance_improvement_db"]
            board.append({"condition": cond, "entry": row["entry"], "balance_improvement_db": bi["mean"], "ci_low": bi["ci_low"],
                          "ci_high": bi["ci_high"], "direction_accuracy": m["direction_accuracy"]["mean"],
                          "specificity": m["specificity"]["mean"], "n": bi["n"], "n_songs": bi["n_songs"],
                          "empty_advice": row.get("empty_advice", 0),
                          "model": (row.get("model") or {}).get("model") or (row.get("model") or {}).get("name") or ""})
    b = pd.DataFrame(board).sort_values(["condition", "balance_improvement_db"], ascending=[True, False])
    b["rank"] = b.groupby("condition").cumcount() + 1
    pairs = []
    for cond in sorted(b.condition.unique()):
        entries = [(row["entry"], items[items.condition == cond]) for _, row, items in loaded if cond in row["conditions"]]
        for (a, ia), (c, ic) in itertools.combinations(entries, 2):
            m = ia.merge(ic, on=["item_id", "song_id"], suffixes=("_a", "_b"))
            d = m.balance_improvement_db_a - m.balance_improvement_db_b
            r = paired_contrast(d.to_numpy(), m.song_id.to_numpy(), bootstrap=0)
            pairs.append({"condition": cond, "entry_a": a, "entry_b": c, "n_items": r["n_items"], "n_songs": r["n_songs"],
                          "mean_difference_db": r["mean_difference"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                          "p_value": r["p_value"]})
    p = pd.DataFrame(pairs, columns=["condition", "entry_a", "entry_b", "n_items", "n_songs", "mean_difference_db", "ci_low",
                                     "ci_high", "p_value"])
    if len(p):
        p["p_holm"] = np.nan
        for idx in p.groupby("condition").groups.values():
            ok = p.loc[idx, "p_value"].notna()
            p.loc[ok[ok].index, "p_holm"] = holm(p.loc[ok[ok].index, "p_value"].to_numpy())
    info = {"release_id": first["release_id"], "reader": first["reader"], "entries": names}
    return b[BOARD_COLUMNS].reset_index(drop=True), p, info


def write_leaderboard(dirs: list[Path], out: Path) -> Path:
    from evalkit.report.tables import to_markdown

    board, pairs, info = build_leaderboard(dirs)
    out.mkdir(parents=True, exist_ok=True)
    board.to_csv(out / "leaderboard.csv", index=False)
    pairs.to_csv(out / "pairwise.csv", index=False)
    head = (f"Release `{info['release_id']}`, reference judge `{info['reader']}`. Balance improvement in dB (95% CI: CV3 t "
            "interval, songs as clusters). Pairwise: paired by item, songs as clusters, Holm within each condition.")
    (out / "leaderboard.md").write_text(f"# Leaderboard\n\n{head}\n\n{to_markdown(board)}\n\n## Pairwise\n\n{to_markdown(pairs)}\n")
    style = ("<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:72em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}"
             "td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}</style>")
    (out / "leaderboard.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>evalkit leaderboard</title>{style}"
        f"<h1>Leaderboard</h1><p>{html.escape(head)}</p>"
        f"{board.to_html(index=False, escape=True, na_rep='–', float_format=lambda v: f'{v:.3g}', border=0)}"
        f"<h2>Pairwise</h2>{pairs.to_html(index=False, escape=True, na_rep='–', float_format=lambda v: f'{v:.3g}', border=0)}")
    (out / "leaderboard.json").write_text(json.dumps(info, indent=2) + "\n")
    return out / "leaderboard.md"


__all__ = ["BOARD_COLUMNS", "build_leaderboard", "write_leaderboard"]
