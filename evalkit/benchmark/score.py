"""`evalkit score SUB --release REL --out DIR`: one submission scored against a verified release.

The submission's advice is put into a run store of its own (``DIR/run``, over the release's scoring test set), judged by
the reference judge (and any LLM judges asked for) and analysed by the report's own code, so a leaderboard row's
numbers are the report's numbers for the same advice: the same reader, the same metrics, the same song-clustered CV3
intervals. ``DIR/row.json`` is the leaderboard row (release id, reader and judge versions); ``DIR/item_scores.csv`` the
per-item metrics the leaderboard's pairwise tests pair on.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit import __version__
from evalkit.benchmark.release import verify_release
from evalkit.benchmark.submission import read_submission
from evalkit.errors import EvalkitInputError
from evalkit.manifest import update_manifest
from evalkit.records import Advice, Condition, content_hash

HEADLINE = ("balance_improvement_db", "direction_accuracy", "specificity")


def _entry_name(name: str | None, sub_model: dict, path: Path) -> str:
    raw = name or str(sub_model.get("name") or path.stem)
    clean = re.sub(r"[^A-Za-z0-9_.+-]+", "-", raw).strip("-")[:80]
    if not clean:
        raise EvalkitInputError(f"--name {raw!r}: give the entry a name of letters, digits and . _ + -")
    return clean


def _prepare_out(out: Path, force: bool) -> None:
    import shutil

    if out.exists() and any(out.iterdir()):
        if not (out / "row.json").exists():
            raise EvalkitInputError(f"--out {out}: not empty and not an earlier score; give a new or empty folder")
        if not force:
            raise EvalkitInputError(f"--out {out}: holds an earlier score; give a new folder, or --force to score again")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def score_submission(sub: str | Path, rel: str | Path, out: str | Path, *, name: str | None = None,
                     judges: list[str] | None = None, bootstrap: int = 1000, seed: int = 0, force: bool = False,
                     show_progress: bool = True) -> dict[str, Any]:
    from evalkit.data.testset import load_testset
    from evalkit.generate import attach_testset
    from evalkit.judging.reference import REFERENCE_VERSION
    from evalkit.judging.rubrics import load_judge
    from evalkit.judging.stage import judge_run
    from evalkit.paths import find_shipped
    from evalkit.report.analysis import analyze
    from evalkit.store import Store

    rel, sub, out = Path(rel), Path(sub), Path(out)
    release = verify_release(rel)
    truth = [json.loads(x) for x in (rel / "truth.jsonl").read_text().splitlines() if x.strip()]
    item_ids = [t["item_id"] for t in truth]
    submission = read_submission(sub, item_ids, release["conditions"])
    presets = [load_judge(find_shipped("judges/reference.yaml"))] + [load_judge(find_shipped(j)) for j in judges or []]
    entry = _entry_name(name, submission.model, sub)
    _prepare_out(out, force)
    ts = load_testset(rel / "testset")
    store = Store(out / "run")
    attach_testset(store, ts)
    refs = {}
    for line in (rel / "inputs" / "prompts.jsonl").read_text().splitlines():
        p = json.loads(line)
        refs[(p["item_id"], p["condition"])] = p["reference_song_id"]
    meta_hash = content_hash(submission.model or {"entry": entry})
    for x in submission.lines:
        store.put_advice(Advice(item_id=x["item_id"], system=entry, condition=Condition(x["condition"]), text=x["advice"],
                                reference_song_id=refs.get((x["item_id"], x["condition"])), model=(x.get("model") or {}).get("model"),
                                params={"submission": x.get("model") or {}}, config_hash=meta_hash))
    update_manifest(store, split="test", systems=[{"name": entry, "kind": "precomputed", "conditions": submission.conditions,
                                                    "path": sub.name}])
    for preset in presets:
        judge_run(store, preset, show_progress=show_progress)
    an = analyze(store, bootstrap=bootstrap, seed=seed)
    scores = an.tables["reference_scores"]
    frame = _item_scores(store, entry)
    frame.to_csv(out / "item_scores.csv", index=False)
    scores.to_csv(out / "scores.csv", index=False)
    if len(an.tables.get("rubric_scores", [])):
        an.tables["rubric_scores"].to_csv(out / "rubric_scores.csv", index=False)
    row = {
        "release_id": release["release_id"], "entry": entry, "model": submission.model,
        "reader": REFERENCE_VERSION, "judges": {p.name: p.config_hash for p in presets},
        "submission_sha256": hashlib.sha256(sub.read_bytes()).hexdigest(), "scored_with": f"evalkit {__version__}",
        "empty_advice": int(sum(not x["advice"].strip() for x in submission.lines)),
        "conditions": {c: {m: _metric(scores, m, c) for m in HEADLINE} for c in submission.conditions},
    }
    (out / "row.json").write_text(json.dumps(row, indent=2, sort_keys=True) + "\n")
    return row


def _metric(scores: pd.DataFrame, metric: str, condition: str) -> dict[str, float | int | None]:
    r = scores[(scores.metric == metric) & (scores.condition == condition)]
    if not len(r):
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0, "n_songs": 0}
    r = r.iloc[0]

    def f(v):
        return None if pd.isna(v) else float(v)

    return {"mean": f(r["mean"]), "ci_low": f(r.ci_low), "ci_high": f(r.ci_high), "n": int(r.n), "n_songs": int(r.n_songs)}


def _item_scores(store, entry: str) -> pd.DataFrame:
    from evalkit.judging.reference import REFERENCE_JUDGE
    from evalkit.report.analysis import reference_values

    items = {i.id: i for i in store.items()}
    advice = {a.id: a for a in store.advice() if a.system == entry}
    rows = []
    for j in store.judgments(REFERENCE_JUDGE):
        if j.protocol == "reference" and j.advice_id in advice:
            a = advice[j.advice_id]
            rows.append({"item_id": a.item_id, "song_id": items[a.item_id].song_id, "condition": a.condition.value,
                         **reference_values(j)})
    return pd.DataFrame(rows).sort_values(["condition", "item_id"]).reset_index(drop=True)


__all__ = ["HEADLINE", "score_submission"]
