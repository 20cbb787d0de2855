"""What `evalkit view RUN` shows: one row per advice with its item, scores and judges, and each item's detail (the
prompt as the condition shows it, the claims the reader found beside the truth, every judge's verdicts, the audio).

Read-only: the run store is opened without creating anything, and nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.judging.reference import REFERENCE_JUDGE, ReferenceOptions
from evalkit.manifest import read_manifest
from evalkit.records import Advice, Item


@dataclass
class RunView:
    store: Any
    frame: pd.DataFrame  # one row per advice
    advice: dict[str, Advice]
    items: dict[str, Item]
    systems: list[dict]
    opts: ReferenceOptions  # how the run's reference judge read claims (nominal dB for a direction with no number)


def open_view(run: str) -> RunView:
    from evalkit.report.analysis import advice_frame
    from evalkit.store import Store

    store = Store(run, create=False)
    advice = {a.id: a for a in store.advice()}
    items = {i.id: i for i in store.items()}
    frame = advice_frame(store)
    ref = {j.advice_id: j.score for j in store.judgments(REFERENCE_JUDGE) if j.protocol == "reference" and j.parsed}
    frame["balance_improvement_db"] = frame.advice_id.map(lambda a: ref.get(a, np.nan))  # the reference score is this metric
    frame["judge_spread"] = frame.advice_id.map(_spread(store))
    frame["judges"] = frame.advice_id.map(_judges_of(store))
    manifest = read_manifest(store)
    systems = [s.model_dump(mode="json") for s in manifest.systems]
    return RunView(store, frame, advice, items, systems, manifest.reference_options())


def _spread(store) -> dict[str, float]:
    """How much the judges disagree about one advice: the range of its absolute scores on a 0–1 scale (rubric score
    1–5 and the reference judge's score mapped alike); NaN with fewer than two judges."""
    by: dict[str, list[float]] = {}
    for j in store.judgments():
        if j.protocol == "absolute" and j.parsed and j.score is not None:
            by.setdefault(j.advice_id, []).append((j.score - 1) / 4)
        elif j.protocol == "reference" and j.score is not None:
            by.setdefault(j.advice_id, []).append(float(np.clip(j.score, 0, 1)))
    return {a: (max(v) - min(v)) if len(v) > 1 else np.nan for a, v in by.items()}


def _judges_of(store) -> dict[str, str]:
    by: dict[str, set[str]] = {}
    for j in store.judgments():
        for a in (j.advice_id, j.advice_id_b):
            if a:
                by.setdefault(a, set()).add(j.judge)
    return {a: ", ".join(sorted(v)) for a, v in by.items()}


def filtered(view: RunView, *, systems=(), conditions=(), styles=(), judge: str | None = None,
             sort: str = "worst balance improvement") -> pd.DataFrame:
    f = view.frame
    if systems:
        f = f[f.system.isin(systems)]
    if conditions:
        f = f[f.condition.isin(conditions)]
    if styles:
        f = f[f["style"].isin(styles)]
    if judge:
        f = f[f.judges.fillna("").str.split(", ").map(lambda js: judge in js)]
    key = "judge_spread" if sort == "judge disagreement" else "balance_improvement_db"
    return f.sort_values(key, ascending=(sort != "judge disagreement"), na_position="last")


def prompt_of(view: RunView, advice: Advice) -> list[dict] | None:
    """The chat the advice's condition shows, rebuilt with the evaluation's own function from the run's test set and the
    system's stored config (the same text an LLM system was sent); None when the test set is not on this machine."""
    from evalkit.data.testset import load_testset
    from evalkit.errors import EvalkitInputError
    from evalkit.systems.base import AdviceSystem, SystemConfig
    from evalkit.systems.llm import advisor_messages

    cfg = next((s for s in view.systems if s["name"] == advice.system), None)
    path = read_manifest(view.store).testset_path
    if cfg is None or not path:
        return None
    try:
        ts = load_testset(path)
    except EvalkitInputError:
        return None
    system = AdviceSystem(SystemConfig.model_validate(cfg), ts, advice.condition)
    if cfg.get("representation") == "audio":
        return None
    return advisor_messages(system, view.items[advice.item_id])


def claims_table(advice: Advice, item: Item, opts: ReferenceOptions) -> pd.DataFrame:
    """Per stem: the true correction and what the reader read (dB; a direction with no number at the reference judge's
    nominal dB), so a bar chart can set them side by side."""
    from evalkit.judging.advice_parser import parse_advice

    parsed = parse_advice(advice.text)
    claimed = opts.claimed_gains(parsed)
    return pd.DataFrame([{"stem": s, "truth_db": item.correction_db.get(s, 0.0), "claimed_db": claimed.get(s, 0.0),
                          "said": next((f"{c.direction} {c.db:g} dB" if c.db is not None else c.direction
                                        for c in parsed.claims if c.stem == s), "leave" if s in parsed.leave else "—")}
                         for s in item.correction_db])


def verdicts(view: RunView, advice_id: str) -> pd.DataFrame:
    rows = []
    for j in view.store.judgments():
        if advice_id in (j.advice_id, j.advice_id_b):
            other = j.advice_id_b if j.advice_id == advice_id else j.advice_id
            rows.append({"judge": j.judge, "rubric": j.rubric, "protocol": j.protocol, "order": j.order or "",
                         "against": view.advice[other].arm if other in view.advice else "",
                         "score": j.score, "verdict": j.verdict or "", "parsed": j.parsed, "rationale": j.rationale or j.raw_output})
    return pd.DataFrame(rows, columns=["judge", "rubric", "protocol", "order", "against", "score", "verdict", "parsed", "rationale"])


def clips(view: RunView, advice: Advice) -> dict[str, tuple[np.ndarray, int]] | None:
    """The problem mix, the mix with the advice applied (as the reader read it), and the balanced mix, loudness-matched
    to the problem mix; None without the test set's audio."""
    from evalkit.audio.render import mixdown
    from evalkit.data.testset import load_testset
    from evalkit.errors import EvalkitInputError
    from evalkit.judging.advice_parser import parse_advice

    path = read_manifest(view.store).testset_path
    try:
        ts = load_testset(path) if path else None
    except EvalkitInputError:
        return None
    if ts is None:
        return None
    item = view.items[advice.item_id]
    stems, sr = ts.stems(item.song_id)
    gains = view.opts.claimed_gains(parse_advice(advice.text))
    after = {s: item.offsets_db.get(s, 0.0) + gains.get(s, 0.0) for s in stems}
    out = {"problem mix": mixdown(stems, item.offsets_db), "after the advice": mixdown(stems, after),
           "balanced": mixdown(stems, dict.fromkeys(stems, 0.0))}
    rms = {k: float(np.sqrt(np.mean(x ** 2))) or 1.0 for k, x in out.items()}
    return {k: (np.clip(x * rms["problem mix"] / rms[k], -1, 1), sr) for k, x in out.items()}


__all__ = ["RunView", "claims_table", "clips", "filtered", "open_view", "prompt_of", "verdicts"]
