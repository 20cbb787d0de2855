"""Simulated raters for dry runs and power planning — always flagged ``simulated``.

A Thurstone-style model: a rater prefers the advice whose reference-judge balance improvement
(plus the rater's own Gaussian noise) is higher; differences under a threshold are ties; a share of
inattentive raters answer at random. Answers go through the same StudyStore path as the app's.
"""

from __future__ import annotations

import numpy as np

from evalkit.judging.reference import judge_reference
from evalkit.records import content_hash
from evalkit.store import Store
from evalkit.study.store import StudyStore


def _utilities(study: StudyStore) -> dict[str, float]:
    run = Store(study.config["run"], create=False)
    items = {i.id: i for i in run.items()}
    return {a.id: judge_reference(a, items[a.item_id]).score for a in run.advice()}


def _utility(trial, side: dict, util: dict[str, float]) -> float:
    """What following this advice is worth to a careful listener (gold truth far above its contradiction)."""
    if trial.gold:
        return 5.0 if side["system"] == "gold-truth" else -5.0
    return util.get(side["advice_id"], 0.0)


def simulate(study_dir, participants: int = 20, seed: int = 0, noise_db: float = 1.0, tie_db: float = 0.3,
             inattentive: float = 0.1) -> int:
    study = StudyStore(study_dir)
    util = _utilities(study)
    rng = np.random.default_rng(seed)
    saved = 0
    for k in range(participants):
        pid = f"sim-{content_hash([study.study_id, seed, k], 10)}"
        study.participant(pid, simulated=True)
        careless = rng.random() < inattentive
        rater_noise = noise_db * (0.5 + rng.random())
        for trial in study.trials(pid):
            if careless:
                choice = str(rng.choice(["A", "B", "tie"], p=[0.45, 0.45, 0.1]))
            else:
                d = _utility(trial, trial.left, util) - _utility(trial, trial.right, util) + rng.normal(0, rater_noise)
                choice = "tie" if abs(d) < tie_db else ("A" if d > 0 else "B")
            saved += study.save_answer(pid, trial.trial_id, choice, strength=int(rng.integers(1, 6)), simulated=True)
        study.complete(pid)
    return saved


__all__ = ["simulate"]
