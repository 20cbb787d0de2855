"""`evalkit study create`: a counterbalanced, balanced study design from a run, with gold trials and
loudness-matched stimuli.

Each (item, system pair) gets ``ratings`` ratings, half shown with one system on the left and half
with the other; trials are dealt round-robin into participant slots so every slot has the same
load and no slot sees the same (item, pair) twice. Each slot also gets gold trials: advice that
follows the truth beside advice that contradicts it, to check attention.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
from rich.progress import track

from evalkit.audio.io import write_audio
from evalkit.audio.render import loudness_match, mixdown
from evalkit.data.testset import load_testset
from evalkit.errors import EvalkitInputError
from evalkit.judging.advice_parser import parse_advice
from evalkit.records import content_hash
from evalkit.runners.analytic import phrase_corrections
from evalkit.store import Store, study_trials


def create_study(run: str | Path, out: str | Path, *, systems: list[str] | None = None, ratings: int = 4,
                 trials_per_participant: int = 12, gold_per_participant: int = 1, max_items: int | None = None,
                 after_audio: bool = False, stems_audio: bool = False, seed: int = 0, store_url: str | None = None,
                 completion_code: str | None = None, completion_url: str | None = None, headphone_check: bool = True,
                 show_progress: bool = True) -> dict:
    run_store = Store(run, create=False)
    ts = load_testset(run_store.get_meta("testset_path"))
    advice = run_store.advice()
    if not advice:
        raise EvalkitInputError(f"{run}: the run has no advice; run `evalkit generate` first")
    # What people compare are arms: one system under one condition (a system name selects all its arms).
    all_arms = sorted({a.arm for a in advice})
    names = {a.system for a in advice}
    unknown = set(systems or []) - set(all_arms) - names
    if unknown:
        raise EvalkitInputError(f"--systems: {', '.join(sorted(unknown))} not in the run (have {', '.join(all_arms)})")
    systems = sorted({a.arm for a in advice if not systems or a.arm in systems or a.system in systems})
    if len(systems) < 2:
        raise EvalkitInputError("a pairwise study needs at least two systems (or conditions of one system)")
    by_item: dict[str, dict[str, object]] = {}
    for a in advice:
        if a.arm in systems:
            by_item.setdefault(a.item_id, {})[a.arm] = a
    items = sorted(i for i, d in by_item.items() if len(d) == len(systems))
    rng = np.random.default_rng(seed)
    if max_items:
        items = sorted(rng.choice(items, size=min(max_items, len(items)), replace=False).tolist())
    out = Path(out)
    (out / "stimuli").mkdir(parents=True, exist_ok=True)
    study_id = content_hash({"run": run_store.get_meta("testset_checksum"), "systems": systems, "items": items, "seed": seed, "r": ratings})

    def stimulus(item_id: str, name: str, gains: dict[str, float]) -> str:
        item = ts.item(item_id)
        stems, sr = ts.stems(item.song_id)
        path = out / "stimuli" / item_id / f"{name}.wav"
        if not path.exists():
            write_audio(path, loudness_match(mixdown(stems, gains), sr, -23.0), sr)
        return str(path.relative_to(out))

    def side(a) -> dict:
        d = {"advice_id": a.id, "system": a.arm, "text": a.text}
        if after_audio:
            item = ts.item(a.item_id)
            gains = {s: item.offsets_db.get(s, 0) + g for s, g in parse_advice(a.text).gains().items()}
            d["after_audio"] = stimulus(a.item_id, f"after_{a.id}", {**item.offsets_db, **gains})
        return d

    comparisons = []
    for item_id in items:
        for sa, sb in itertools.combinations(systems, 2):
            for r in range(ratings):
                left, right = (sa, sb) if r % 2 == 0 else (sb, sa)  # counterbalanced across participants
                comparisons.append((item_id, left, right))
    order = rng.permutation(len(comparisons))
    comparisons = [comparisons[k] for k in order]
    n_slots = max(1, int(np.ceil(len(comparisons) / trials_per_participant)))
    slots: list[list] = [[] for _ in range(n_slots)]
    # Round-robin dealing keeps loads equal; the (item, pair) repeats of one comparison land in different slots.
    comparisons.sort(key=lambda c: (c[0], tuple(sorted(c[1:]))))
    for k, c in enumerate(comparisons):
        slots[k % n_slots].append(c)
    problem_items = [i for i in items if ts.item(i).kind == "problem"] or items
    rows = []
    for slot, comps in enumerate(track(slots, description="rendering stimuli", disable=not show_progress)):
        comps = [comps[k] for k in rng.permutation(len(comps))]
        trials = []
        for item_id, left, right in comps:
            a, b = by_item[item_id][left], by_item[item_id][right]
            stems = {s: stimulus(item_id, f"stem_{s}", {s: ts.item(item_id).offsets_db.get(s, 0)}) for s in ts.songs[ts.item(item_id).song_id].stems} if stems_audio else {}
            trials.append({"item_id": item_id, "gold": False, "left": side(a), "right": side(b),
                           "mix_audio": stimulus(item_id, "mix", ts.item(item_id).offsets_db), "stems_audio": stems})
        for g in range(gold_per_participant):
            item = ts.item(problem_items[(slot + g) % len(problem_items)])
            g_rng = np.random.default_rng([seed, slot, g])
            truth = {"advice_id": f"gold-{item.id}", "system": "gold-truth", "text": phrase_corrections(item.correction_db, g_rng)}
            wrong = {"advice_id": f"gold-wrong-{item.id}", "system": "gold-contradiction",
                     "text": phrase_corrections({s: -v for s, v in item.correction_db.items()}, g_rng)}
            pair = (truth, wrong) if g_rng.random() < 0.5 else (wrong, truth)
            trials.insert(int(g_rng.integers(1, max(2, len(trials)))), {"item_id": item.id, "gold": True, "left": pair[0], "right": pair[1],
                                                                    "mix_audio": stimulus(item.id, "mix", item.offsets_db), "stems_audio": {}})
        for pos, t in enumerate(trials):
            rows.append({"trial_id": content_hash({"study": study_id, "slot": slot, "pos": pos, "t": t}), "study_id": study_id,
                         "slot": slot, "position": pos, "body": json.dumps(t)})
    config = {"study_id": study_id, "run": str(Path(run).resolve()) if "://" not in str(run) else str(run), "systems": systems,
              "items": items, "ratings_per_pair": ratings, "trials_per_participant": trials_per_participant,
              "gold_per_participant": gold_per_participant, "n_slots": n_slots, "after_audio": after_audio,
              "stems_audio": stems_audio, "headphone_check": headphone_check, "completion_code": completion_code,
              "completion_url": completion_url, "store_url": store_url, "seed": seed}
    if headphone_check:
        from evalkit.study.headphone import make_headphone_check

        config["headphone_answers"] = make_headphone_check(out, seed)
    (out / "study.json").write_text(json.dumps(config, indent=2))
    Store(store_url or out)._insert(study_trials, rows)
    return config


__all__ = ["create_study"]
