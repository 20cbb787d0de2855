"""Simulated raters for dry runs and power planning — always flagged ``simulated``.

A Thurstone-style model per question: a rater would rather *follow* the advice whose reference-judge
balance improvement (plus the rater's Gaussian noise) is higher, and finds *more specific* the advice
that names more stems with amounts (plus noise); differences under a threshold are ties. A share of
inattentive raters answer at random, and a share fail the headphone check. Everyone goes through the
same StudyStore flow as a person in the app: open, consent, screening, slot claim, answers, code.
"""

from __future__ import annotations

import numpy as np

from evalkit.judging.reference import REFERENCE_JUDGE, judge_reference
from evalkit.records import content_hash
from evalkit.secrets import with_known_password
from evalkit.store import Store
from evalkit.study.design import GOLD_TRUTH
from evalkit.study.headphone import participant_clips
from evalkit.study.questions import criteria
from evalkit.study.study_store import StudyStore


def _utilities(study: StudyStore) -> dict[str, tuple[float, float]]:
    """advice id -> (what following it is worth, how specific it reads): the reference judge's stored judgments
    of the run (its balance improvement and quantified claims), the same numbers the report uses. Advice the
    reference judge has not scored yet is judged here with its default settings."""
    run = Store(with_known_password(study.config.run), create=False)
    stored = {j.advice_id: j for j in run.judgments(REFERENCE_JUDGE) if j.protocol == "reference"}
    items = {i.id: i for i in run.items()}
    out = {}
    for a in run.advice():
        j = stored.get(a.id) or judge_reference(a, items[a.item_id])
        out[a.id] = (j.score, j.reference_metrics.specificity)
    return out


def _worth(trial, side: dict, util: dict) -> tuple[float, float]:
    if trial.gold:  # a careful listener follows the truth; both gold texts are equally specific
        return (5.0 if side["system"] == GOLD_TRUTH else -5.0, 0.0)
    return util.get(side["advice_id"], (0.0, 0.0))


def _choose(d: float, tie: float) -> str:
    return "tie" if abs(d) < tie else ("A" if d > 0 else "B")


def admit(study: StudyStore, pid: str, *, pass_screening: bool = True) -> bool:
    """Take a simulated person through consent and the headphone check (right or wrong answers) and, if
    they pass, claim their slot: the same steps and the same store calls as the app makes."""
    study.open(pid, simulated=True)
    study.consent(pid)
    if study.config.headphone_check:
        clips = participant_clips(study.config, pid)
        if not study.screen(pid, [c["answer"] if pass_screening else c["answer"] % 3 + 1 for c in clips]):
            return False
    study.claim_slot(pid)
    return True


def simulate(study_dir, participants: int = 20, seed: int = 0, noise_db: float = 1.0, tie_db: float = 0.3,
             inattentive: float = 0.1, fail_screening: float = 0.0) -> int:
    """Run ``participants`` simulated people through the study; returns the number of trials answered."""
    study = StudyStore(study_dir)
    util = _utilities(study)
    rng = np.random.default_rng(seed)
    saved = 0
    for k in range(participants):
        pid = f"sim-{content_hash([study.study_id, seed, k], 10)}"
        if (p := study.participant(pid)) is not None and p["completed_at"]:
            continue  # idempotent per seed: the same raters answer nothing twice
        if not admit(study, pid, pass_screening=rng.random() >= fail_screening):
            continue
        careless = rng.random() < inattentive
        noise = noise_db * (0.5 + rng.random())
        for trial in study.trials(pid):
            if careless:
                picks = [str(rng.choice(["A", "B", "tie"], p=[0.45, 0.45, 0.1])) for _ in range(2)]
            else:
                a, b = _worth(trial, trial.left, util), _worth(trial, trial.right, util)
                picks = [_choose(a[1] - b[1] + rng.normal(0, 0.7), 0.5), _choose(a[0] - b[0] + rng.normal(0, noise), tie_db)]
            ruled = {"specificity": picks[0], "helpfulness": picks[1]}  # a question with no rule here: no opinion (tie)
            saved += study.save_answer(pid, trial.trial_id, {c: ruled.get(c, "tie") for c in criteria()},
                                       confidence=int(rng.integers(1, 6)), simulated=True)
        study.complete(pid)
    return saved


__all__ = ["admit", "simulate"]
