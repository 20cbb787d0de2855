"""`evalkit study create`: a pairwise listening study from a run.

The design (`blocks.py`) gives each participant slot many system pairs, each system on both sides
equally often, and every (item, pair) in both orders across slots. Each slot also gets gold trials
at random positions: advice that follows the truth beside advice that contradicts it, worded like
any other advice, to check attention. Stimuli are loudness-matched; the consent text is the
researcher's own Markdown file.
"""

from __future__ import annotations

import itertools
import json
import secrets
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import track

from evalkit.audio.io import write_audio
from evalkit.audio.render import loudness_match, mixdown
from evalkit.data.testset import TestSet, load_testset
from evalkit.errors import EvalkitInputError
from evalkit.judging.advice_parser import parse_advice
from evalkit.judging.reference import ReferenceOptions
from evalkit.manifest import read_manifest
from evalkit.records import Advice, Item, content_hash
from evalkit.secrets import keep_without_password
from evalkit.store import Store, study_trials
from evalkit.study.blocks import design_blocks
from evalkit.study.config import StudyConfig
from evalkit.study.consent import install_consent
from evalkit.systems.analytic import phrase_corrections

GOLD_TRUTH, GOLD_CONTRADICTION = "gold-truth", "gold-contradiction"


def _arms_and_items(run_store: Store, systems: list[str] | None) -> tuple[list[str], dict[str, dict[str, Advice]]]:
    """The arms people compare (a system name selects all its conditions) and each item's advice by arm; an item
    whose advice from some arm was cut off is left out, since participants would compare a fragment."""
    advice = run_store.advice()
    if not advice:
        raise EvalkitInputError(f"{run_store.display_url}: the run has no advice; run `evalkit generate` first")
    all_arms = sorted({a.arm for a in advice})
    unknown = set(systems or []) - set(all_arms) - {a.system for a in advice}
    if unknown:
        raise EvalkitInputError(f"--systems: {', '.join(sorted(unknown))} not in the run (have {', '.join(all_arms)})")
    twice = sorted({s for s in systems or [] if (systems or []).count(s) > 1})
    if twice:
        raise EvalkitInputError(f"--systems: {', '.join(twice)} named twice; name each arm (system/condition) once")
    arms = sorted({a.arm for a in advice if not systems or a.arm in systems or a.system in systems})
    if len(arms) < 2:
        raise EvalkitInputError(f"--systems: {', '.join(arms) or 'nothing'} is one arm; a pairwise study compares at least two "
                                f"(the run has {', '.join(all_arms)})")
    by_item: dict[str, dict[str, Advice]] = {}
    for a in advice:
        if a.arm in arms and not a.was_cut:
            by_item.setdefault(a.item_id, {})[a.arm] = a
    return arms, {i: d for i, d in by_item.items() if len(d) == len(arms)}


class _Stimuli:
    """Loudness-matched WAVs under ``out/stimuli``, rendered once each."""

    def __init__(self, ts: TestSet, out: Path, opts: ReferenceOptions) -> None:
        self.ts, self.out, self.opts = ts, out, opts  # opts: the run's reference judge's reading of claims

    def render(self, item_id: str, name: str, gains: dict[str, float]) -> str:
        item = self.ts.item(item_id)
        path = self.out / "stimuli" / item_id / f"{name}.wav"
        if not path.exists():
            stems, sr = self.ts.stems(item.song_id)
            write_audio(path, loudness_match(mixdown(stems, gains), sr, -23.0), sr)
        return str(path.relative_to(self.out))

    def mix(self, item: Item) -> str:
        return self.render(item.id, "mix", item.offsets_db)

    def after(self, item_id: str, advice_id: str, text: str) -> str:
        """The mix after following the advice as parsed: what a listener would get by following it."""
        item = self.ts.item(item_id)
        gains = {s: item.offsets_db.get(s, 0) + g for s, g in self.opts.claimed_gains(parse_advice(text)).items()}
        return self.render(item_id, f"after_{advice_id}", {**item.offsets_db, **gains})

    def stems(self, item: Item) -> dict[str, str]:
        return {s: self.render(item.id, f"stem_{s}", {s: item.offsets_db.get(s, 0)}) for s in self.ts.songs[item.song_id].stems}


def _side(item_id: str, advice_id: str, system: str, text: str, stimuli: _Stimuli, after_audio: bool) -> dict[str, Any]:
    d: dict[str, Any] = {"advice_id": advice_id, "system": system, "text": text}
    if after_audio:
        d["after_audio"] = stimuli.after(item_id, advice_id, text)
    return d


def _trial(item: Item, left: dict, right: dict, stimuli: _Stimuli, stems_audio: bool, gold_answer: str | None = None) -> dict[str, Any]:
    """One trial as the page shows it; gold trials differ only in fields the page never shows."""
    t = {"item_id": item.id, "gold": gold_answer is not None, "left": left, "right": right, "mix_audio": stimuli.mix(item),
         "stems_audio": stimuli.stems(item) if stems_audio else {}}
    return {**t, "gold_answer": gold_answer} if gold_answer else t


def _gold_trial(item: Item, rng: np.random.Generator, stimuli: _Stimuli, after_audio: bool, stems_audio: bool) -> dict[str, Any]:
    """Advice that follows the truth beside advice that contradicts it, in random order, worded and
    presented like any other trial (same generator as the analytic advice, same clips)."""
    truth = _side(item.id, f"gold-{item.id}", GOLD_TRUTH, phrase_corrections(item.correction_db, rng), stimuli, after_audio)
    wrong = _side(item.id, f"gold-wrong-{item.id}", GOLD_CONTRADICTION,
                  phrase_corrections({s: -v for s, v in item.correction_db.items()}, rng), stimuli, after_audio)
    left, right = (truth, wrong) if rng.random() < 0.5 else (wrong, truth)
    return _trial(item, left, right, stimuli, stems_audio, gold_answer="a" if left is truth else "b")


def _slot_trials(block, by_item, golds: list[Item], rng, stimuli: _Stimuli, *, after_audio: bool, stems_audio: bool) -> list[dict]:
    trials = []
    for item_id, left, right in block:
        a, b = by_item[item_id][left], by_item[item_id][right]
        trials.append(_trial(stimuli.ts.item(item_id), _side(item_id, a.id, a.arm, a.text, stimuli, after_audio),
                             _side(item_id, b.id, b.arm, b.text, stimuli, after_audio), stimuli, stems_audio))
    # Gold trials go to random positions (never told apart by place) among the slot's trials.
    positions = sorted(rng.choice(len(trials) + len(golds), size=len(golds), replace=False).tolist())
    for pos, item in zip(positions, golds, strict=True):
        trials.insert(pos, _gold_trial(item, rng, stimuli, after_audio, stems_audio))
    return trials


def create_study(run: str | Path, out: str | Path, *, systems: list[str] | None = None, ratings: int = 4,
                 trials_per_participant: int = 12, gold_per_participant: int = 2, max_items: int | None = None,
                 after_audio: bool = False, stems_audio: bool = False, seed: int = 0, store_url: str | None = None,
                 completion_code: str | None = None, completion_url: str | None = None, headphone_check: bool = True,
                 consent: str | Path | None = None, screenout_code: str | None = None, screenout_url: str | None = None,
                 listen_min_s: float | None = 3.0, slot_timeout_min: float = 60.0, prolific_study_id: str | None = None,
                 show_progress: bool = True) -> StudyConfig:
    """Write the study (study.json, consent.md, stimuli/, trials in the store) and return its config."""
    if trials_per_participant < 1 or gold_per_participant < 0 or ratings < 1:
        raise EvalkitInputError("--trials and --ratings must be at least 1 and --gold at least 0")
    run_store = Store(run, create=False)
    manifest = read_manifest(run_store)
    ts = load_testset(manifest.testset_path)
    arms, by_item = _arms_and_items(run_store, systems)
    rng = np.random.default_rng(seed)
    items = sorted(by_item)
    if max_items:
        items = sorted(rng.choice(items, size=min(max_items, len(items)), replace=False).tolist())
    if not items:
        raise EvalkitInputError("no item has whole advice from every chosen system (advice cut off at max_tokens is never "
                                "shown); generate for all of them first, with max_tokens large enough")
    out = Path(out)
    (out / "stimuli").mkdir(parents=True, exist_ok=True)
    consent_info = install_consent(consent, out)
    secret = secrets.token_hex(16)  # per study: the headphone answer keys and the study id are never the same twice
    study_id = content_hash({"run": manifest.testset_checksum, "systems": arms, "items": items, "seed": seed,
                             "r": ratings, "nonce": secret})
    blocks = design_blocks(items, arms, ratings=ratings, per_block=trials_per_participant, seed=seed)
    stimuli = _Stimuli(ts, out, manifest.reference_options())
    gold_pool = [ts.item(i) for i in items if ts.item(i).kind == "problem"] or [ts.item(i) for i in items]
    rows = []
    for slot, block in enumerate(track(blocks, description="rendering stimuli", disable=not show_progress)):
        slot_rng = np.random.default_rng([seed, slot, 77])
        golds = [gold_pool[k] for k in slot_rng.permutation(len(gold_pool))[:gold_per_participant]]
        golds += [gold_pool[slot_rng.integers(len(gold_pool))] for _ in range(gold_per_participant - len(golds))]
        for pos, t in enumerate(_slot_trials(block, by_item, golds, slot_rng, stimuli, after_audio=after_audio,
                                             stems_audio=stems_audio)):
            rows.append({"trial_id": content_hash({"study": study_id, "slot": slot, "pos": pos, "t": t}), "study_id": study_id,
                         "slot": slot, "position": pos, "body": json.dumps(t)})
    # study.json never holds a password: URLs are kept without one (evalkit/secrets.py says how it is found again).
    run_ref = str(Path(run).resolve()) if "://" not in str(run) else keep_without_password(str(run))
    fields = {"study_id": study_id, "run": run_ref, "systems": arms,
              "items": items, "ratings_per_pair": ratings, "trials_per_participant": trials_per_participant,
              "gold_per_participant": gold_per_participant, "n_slots": len(blocks), "after_audio": after_audio,
              "stems_audio": stems_audio, "headphone_check": headphone_check, "completion_code": completion_code,
              "completion_url": completion_url, "screenout_code": screenout_code, "screenout_url": screenout_url,
              "listen_min_s": listen_min_s, "slot_timeout_min": slot_timeout_min, "prolific_study_id": prolific_study_id,
              "store_url": keep_without_password(store_url) if store_url else None, "seed": seed, "secret": secret, **consent_info}
    if headphone_check:
        from evalkit.study.headphone import make_headphone_clips

        fields["headphone_clips"] = make_headphone_clips(out, secret)
    config = StudyConfig.model_validate(fields)
    config.save(out)
    Store(store_url or out).insert_rows(study_trials, rows)
    return config


def planned_pairs(config: StudyConfig) -> list[tuple[str, str]]:
    """Every system pair the study asks about (sorted names), for coverage tables."""
    return list(itertools.combinations(sorted(config.systems), 2))


__all__ = ["GOLD_CONTRADICTION", "GOLD_TRUTH", "create_study", "planned_pairs"]
