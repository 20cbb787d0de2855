"""The study tables of one study: rows in and rows out, no rules.

The rules (who may consent, when a slot is free, what counts as heard) are `evalkit.study.study_store.StudyStore`,
which reads and writes through this class; the store knows the tables and nothing about studies.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, select

from evalkit.records import Preference
from evalkit.store.schema import preferences, slot_claims, study_events, study_participants, study_trials


class StudyRows:
    def __init__(self, store, study_id: str) -> None:
        self.store = store
        self.study_id = study_id

    def _person(self, pid: str):
        return (study_participants.c.study_id == self.study_id) & (study_participants.c.participant_id == pid)

    # -- participants
    def participant(self, pid: str) -> dict[str, Any] | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(study_participants).where(self._person(pid))).first()
        return dict(row._mapping) if row else None

    def add_participant(self, row: dict[str, Any]) -> bool:
        return self.store.insert_rows(study_participants, [{"study_id": self.study_id, **row}]) == 1

    def update_participant(self, pid: str, only_if_unset: str | None = None, **values: Any) -> int:
        """Set ``values`` on one participant (only where column ``only_if_unset`` is still NULL, when given); returns
        the rows changed, so a conditional update tells who won."""
        where = self._person(pid)
        if only_if_unset:
            where = where & study_participants.c[only_if_unset].is_(None)
        with self.store.engine.begin() as conn:
            return conn.execute(study_participants.update().where(where).values(**values)).rowcount

    def participants_frame(self) -> pd.DataFrame:
        with self.store.engine.connect() as conn:
            return pd.read_sql(select(study_participants).where(study_participants.c.study_id == self.study_id), conn)

    # -- events
    def add_event(self, row: dict[str, Any]) -> bool:
        """One event row (its ``key`` makes a repeat a no-op); True if it was new."""
        return self.store.insert_rows(study_events, [{"study_id": self.study_id, **row}]) == 1

    def events_of(self, pid: str, trial_id: str, kinds: tuple[str, ...]) -> list[tuple[str, str | None, str]]:
        """(kind, detail JSON, receipt time) of one participant's events of these kinds on one trial."""
        with self.store.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(study_events.c.kind, study_events.c.detail, study_events.c.at).where(
                (study_events.c.study_id == self.study_id) & (study_events.c.participant_id == pid)
                & (study_events.c.trial_id == trial_id) & study_events.c.kind.in_(kinds))).all()]

    def events_frame(self) -> pd.DataFrame:
        with self.store.engine.connect() as conn:
            return pd.read_sql(select(study_events).where(study_events.c.study_id == self.study_id), conn)

    # -- slots
    def slot_history(self) -> tuple[list, dict[str, Any], dict[str, str]]:
        """What deciding a slot's load needs: every claim, each participant's completion and withdrawal, and each
        participant's last answer time."""
        with self.store.engine.connect() as conn:
            claims = conn.execute(select(slot_claims.c.slot, slot_claims.c.participant_id, slot_claims.c.claimed_at)
                                  .where(slot_claims.c.study_id == self.study_id)).all()
            people = {r.participant_id: r for r in conn.execute(
                select(study_participants.c.participant_id, study_participants.c.completed_at, study_participants.c.withdrawn_at)
                .where(study_participants.c.study_id == self.study_id))}
            last = dict(conn.execute(select(preferences.c.participant_id, func.max(preferences.c.answered_at))
                                     .where(preferences.c.study_id == self.study_id).group_by(preferences.c.participant_id)).all())
        return list(claims), people, last

    def add_slot_claim(self, slot: int, round_: int, pid: str, at: str) -> bool:
        """Claim one round of a slot; False when another process claimed that round first."""
        return bool(self.store.insert_rows(slot_claims, [{"study_id": self.study_id, "slot": slot, "round": round_,
                                                          "participant_id": pid, "claimed_at": at}]))

    # -- trials and answers
    def trial_rows(self, slot: int | None = None) -> list:
        """The trials of one slot in order (or of the whole study)."""
        where = study_trials.c.study_id == self.study_id
        if slot is not None:
            where = where & (study_trials.c.slot == slot)
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(study_trials).where(where).order_by(study_trials.c.slot, study_trials.c.position)).all())

    def answered_trials(self, pid: str) -> set[str]:
        with self.store.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(preferences.c.trial_id).where(
                (preferences.c.participant_id == pid) & (preferences.c.study_id == self.study_id)))}

    def answers(self) -> list[Preference]:
        return self.store.preferences(self.study_id)

    def add_answers(self, rows: list[Preference]) -> int:
        return self.store.put_preferences(rows)


__all__ = ["StudyRows"]
