"""The study's data layer: trials, participants and answers. Never imports streamlit, so it is tested
without a browser and shared by the app, the CLI and the simulator.

Every answer is written the moment it is given under an idempotent key (participant + trial); a
reload or a second process asks the database where the participant is, never widget state.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from evalkit.errors import EvalkitInputError
from evalkit.records import Preference, utc_now
from evalkit.store import Store, participants, preferences, study_trials

_PID_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def valid_participant_id(pid: str | None) -> str:
    """Prolific IDs are 24 hex chars; we accept 1–64 safe characters and refuse anything else."""
    if not pid or len(pid) > 64 or not set(pid) <= _PID_OK:
        raise EvalkitInputError("participant id missing or malformed: open the study from its link (PROLIFIC_PID=...)")
    return pid


@dataclass
class Trial:
    trial_id: str
    position: int
    item_id: str
    gold: bool
    left: dict[str, Any]  # shown as "A": {advice_id, system, text, after_audio}
    right: dict[str, Any]
    mix_audio: str
    stems_audio: dict[str, str]

    @classmethod
    def from_row(cls, row) -> Trial:
        body = json.loads(row.body)
        return cls(trial_id=row.trial_id, position=row.position, **body)


class StudyStore:
    def __init__(self, study_dir: str | Path, url: str | None = None) -> None:
        self.dir = Path(study_dir)
        cfg = self.dir / "study.json"
        if not cfg.exists():
            raise EvalkitInputError(f"{cfg}: not found; create the study with `evalkit study create`")
        self.config = json.loads(cfg.read_text())
        self.study_id = self.config["study_id"]
        self.store = Store(url or self.config.get("store_url") or self.dir)
        # A participant's slot and a slot's trials never change once written: cache them per process.
        self._slot_of: dict[str, int] = {}
        self._slot_trials: dict[int, list[Trial]] = {}

    # -- participants ---------------------------------------------------------------------------
    def participant(self, pid: str, session_id: str | None = None, simulated: bool = False) -> dict[str, Any]:
        """Get or create a participant; a new one takes the least-used slot (balanced assignment)."""
        pid = valid_participant_id(pid)
        with self.store.engine.begin() as conn:
            row = conn.execute(select(participants).where(participants.c.participant_id == pid)).first()
            if row:
                return dict(row._mapping)
            used = dict(conn.execute(select(participants.c.slot, func.count()).where(participants.c.study_id == self.study_id)
                                     .group_by(participants.c.slot)).all())
            n_slots = self.config["n_slots"]
            slot = min(range(n_slots), key=lambda s: (used.get(s, 0), s))
        self.store._insert(participants, [{"participant_id": pid, "study_id": self.study_id, "slot": slot, "session_id": session_id,
                                           "simulated": simulated, "created_at": utc_now()}])
        return self.participant(pid)

    def update_participant(self, pid: str, **values: Any) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(participants.update().where(participants.c.participant_id == pid).values(**values))

    def trials(self, pid: str) -> list[Trial]:
        """This participant's trials in order: only their own slot's."""
        slot = self._slot_of.get(pid)
        if slot is None:
            slot = self._slot_of[pid] = self.participant(pid)["slot"]
        if slot not in self._slot_trials:
            with self.store.engine.connect() as conn:
                rows = conn.execute(select(study_trials).where((study_trials.c.study_id == self.study_id) & (study_trials.c.slot == slot))
                                    .order_by(study_trials.c.position)).all()
            self._slot_trials[slot] = [Trial.from_row(r) for r in rows]
        return self._slot_trials[slot]

    def answered(self, pid: str) -> set[str]:
        with self.store.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(preferences.c.trial_id).where(preferences.c.participant_id == pid))}

    def next_trial(self, pid: str) -> tuple[Trial | None, int, int]:
        """(next unanswered trial or None, number done, total): where a reload resumes."""
        trials = self.trials(pid)
        done = self.answered(pid)
        nxt = next((t for t in trials if t.trial_id not in done), None)
        return nxt, len(done & {t.trial_id for t in trials}), len(trials)

    def save_answer(self, pid: str, trial_id: str, shown_choice: str, strength: int | None = None, comment: str | None = None,
                    started_at: str | None = None, simulated: bool = False) -> bool:
        """Save one answer (choice as shown: A = left, B = right, tie); True if new, False if already saved."""
        trial = next((t for t in self.trials(pid) if t.trial_id == trial_id), None)
        if trial is None:
            raise EvalkitInputError(f"trial {trial_id} is not one of participant {pid}'s trials")
        if shown_choice not in ("A", "B", "tie"):
            raise EvalkitInputError(f"choice {shown_choice!r}: use A, B or tie")
        # Canonical frame: "a" is the left advice as stored; the trial already encodes counterbalancing.
        choice = {"A": "a", "B": "b", "tie": "tie"}[shown_choice]
        pref = Preference(participant_id=pid, trial_id=trial_id, item_id=trial.item_id, advice_id_a=trial.left["advice_id"],
                          advice_id_b=trial.right["advice_id"], system_a=trial.left["system"], system_b=trial.right["system"],
                          shown_left="a", choice=choice, strength=strength, comment=(comment or None) and comment[:2000],
                          started_at=started_at, simulated=simulated)
        return self.store.put_preference(pref)

    def complete(self, pid: str) -> str:
        """Mark complete (once) and return the completion code."""
        p = self.participant(pid)
        if p["completion_code"]:
            return p["completion_code"]
        code = self.config.get("completion_code") or secrets.token_hex(4).upper()
        self.update_participant(pid, completed_at=utc_now(), completion_code=code)
        return code

    # -- admin ------------------------------------------------------------------------------------
    def progress(self) -> pd.DataFrame:
        with self.store.engine.connect() as conn:
            parts = pd.read_sql(select(participants).where(participants.c.study_id == self.study_id), conn)
            answers = pd.read_sql(select(preferences.c.participant_id, preferences.c.trial_id), conn)
        per = answers.groupby("participant_id").size().rename("answers")
        return parts.merge(per, left_on="participant_id", right_index=True, how="left").fillna({"answers": 0})

    def export(self, include_gold: bool = False) -> pd.DataFrame:
        """Answers in the `evalkit stats preferences` format, plus gold-check and simulation flags."""
        prefs = self.store.preferences()
        gold_ids = self._gold_trials()
        rows = []
        gold_pass: dict[str, list[bool]] = {}
        for p in prefs:
            if p.trial_id in gold_ids:
                gold_pass.setdefault(p.participant_id, []).append(p.choice == gold_ids[p.trial_id])
        for p in prefs:
            if p.trial_id in gold_ids and not include_gold:
                continue
            checks = gold_pass.get(p.participant_id, [])
            rows.append({"participant_id": p.participant_id, "item_id": p.item_id, "system_a": p.system_a, "system_b": p.system_b,
                         "choice": p.choice, "strength": p.strength, "trial_id": p.trial_id, "simulated": p.simulated,
                         "gold_passed": all(checks) if checks else None, "answered_at": p.answered_at})
        cols = ["participant_id", "item_id", "system_a", "system_b", "choice", "strength", "trial_id", "simulated", "gold_passed", "answered_at"]
        return pd.DataFrame(rows, columns=cols)

    def _gold_trials(self) -> dict[str, str]:
        """trial_id -> the correct canonical choice for gold trials."""
        out = {}
        with self.store.engine.connect() as conn:
            for r in conn.execute(select(study_trials.c.trial_id, study_trials.c.body).where(study_trials.c.study_id == self.study_id)):
                body = json.loads(r.body)
                if body["gold"]:
                    out[r.trial_id] = "a" if body["left"]["system"] == "gold-truth" else "b"
        return out

    def audio_path(self, rel: str) -> Path:
        """Resolve a stimulus path, refusing anything outside the study's own stimuli folder."""
        base = (self.dir / "stimuli").resolve()
        target = (self.dir / rel).resolve()
        if base not in target.parents or not target.is_file():
            raise EvalkitInputError(f"{rel}: not a stimulus of this study")
        return target


__all__ = ["StudyStore", "Trial", "valid_participant_id"]
