"""The study's rules over the run store's study tables: participants, consent and browser binding, screening, slots,
trials, answers, listening evidence and events. The tables themselves live in `evalkit.store` (which knows nothing of
studies); the rules live here. Never imports streamlit, so it is tested without a browser and shared by the app, the
CLI and the simulator.

Every answer and event is written the moment it happens under an idempotent key; a reload or a
second process asks the database where the participant is, never widget state. A participant is
opened on the first visit, but holds a slot (a block of trials) only after consent and screening;
a slot whose holder withdrew or went silent for ``slot_timeout_min`` goes to the next person.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.errors import EvalkitInputError, StoreError
from evalkit.records import Preference, content_hash, utc_now
from evalkit.secrets import with_known_password
from evalkit.store import Store
from evalkit.store.study_rows import StudyRows
from evalkit.study.config import StudyConfig
from evalkit.study.headphone import PASS_AT, participant_clips, score
from evalkit.study.questions import criteria

_PID_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
SHOWN = {"A": "a", "B": "b", "tie": "tie"}


def valid_participant_id(pid: str | None) -> str:
    """Prolific IDs are 24 hex chars; we accept 1–64 letters, digits, '-', '_' and '.', starting with a letter or a
    digit ('..' and '.hidden' are not people), and refuse anything else."""
    if not pid or len(pid) > 64 or not set(pid) <= _PID_OK or not pid[0].isascii() or not pid[0].isalnum():
        raise EvalkitInputError("participant id missing or malformed: open the study from its link (PROLIFIC_PID=...)")
    return pid


def valid_token(value: str | None, limit: int = 128) -> str | None:
    """A browser key, session id or admin token from a URL: printable ASCII without spaces, at most ``limit``
    characters, or None (treated as absent: never an error page that shows internals)."""
    if value is None or not value or len(value) > limit or not value.isascii() or not value.isprintable() or " " in value:
        return None
    return value


@dataclass(frozen=True)
class Trial:
    """One question: a mix and two pieces of advice (left is shown as A). Gold trials carry their answer."""

    trial_id: str
    position: int
    item_id: str
    gold: bool
    left: dict[str, Any]  # {advice_id, system, text, after_audio?}
    right: dict[str, Any]
    mix_audio: str
    stems_audio: dict[str, str]
    gold_answer: str | None = None

    @classmethod
    def from_row(cls, row) -> Trial:
        return cls(trial_id=row.trial_id, position=row.position, **json.loads(row.body))

    @property
    def required_clips(self) -> dict[str, str]:
        """The clips a participant must play before answering: the mix and each advice's 'after' clip."""
        clips = {"mix": self.mix_audio}
        for name, side in (("after_a", self.left), ("after_b", self.right)):
            if side.get("after_audio"):
                clips[name] = side["after_audio"]
        return clips


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class StudyStore:
    def __init__(self, study_dir: str | Path, url: str | None = None) -> None:
        self.dir = Path(study_dir)
        self.config = StudyConfig.load(self.dir)
        self.study_id = self.config.study_id
        # study.json keeps its URL without a password: a full URL comes from the caller, the environment
        # (EVALKIT_STUDY_STORE_URL) or this process (evalkit/secrets.py); else libpq reads PGPASSWORD / ~/.pgpass.
        saved = self.config.store_url
        self.store = Store(url or (saved and (os.environ.get("EVALKIT_STUDY_STORE_URL") or with_known_password(saved))) or self.dir)
        self.rows = StudyRows(self.store, self.study_id)
        # A participant's slot and a slot's trials never change once written: cached per process.
        self._slot_of: dict[str, int] = {}
        self._slot_trials: dict[int, list[Trial]] = {}
        self._seconds: dict[str, float | None] = {}

    # -- participants ---------------------------------------------------------------------------
    def participant(self, pid: str) -> dict[str, Any] | None:
        return self.rows.participant(valid_participant_id(pid))

    def open(self, pid: str, session_id: str | None = None, simulated: bool = False) -> dict[str, Any]:
        """Get or create the participant (step one of the flow: opened the link); takes no slot."""
        p = self.participant(pid)
        if p is None:
            self.rows.add_participant({"participant_id": pid, "session_id": session_id, "opened_at": utc_now(), "simulated": simulated})
            p = self.participant(pid)
        return p  # type: ignore[return-value]

    def _update(self, pid: str, **values: Any) -> None:
        self.rows.update_participant(pid, **values)

    def log(self, pid: str, kind: str, detail: dict | None = None, trial_id: str | None = None, key: Any = None) -> bool:
        """One study event (idempotent when ``key`` is given; otherwise every call is a new event)."""
        at = utc_now()
        ident = content_hash([self.study_id, pid, kind, trial_id, key if key is not None else [at, secrets.token_hex(4)]])
        return self.rows.add_event({"key": ident, "participant_id": pid, "trial_id": trial_id, "kind": kind,
                                    "detail": json.dumps(detail or {}), "at": at})

    def consent(self, pid: str) -> str | None:
        """Record consent and bind the participant to this browser: returns the key the browser keeps,
        or None when another browser consented first (the key is never handed out twice)."""
        self.open(pid)
        key = secrets.token_urlsafe(16)
        won = self.rows.update_participant(pid, only_if_unset="browser_key", consented_at=utc_now(), browser_key=key)
        return key if won else None

    def browser_ok(self, pid: str, key: str | None, participant: dict[str, Any] | None = None) -> bool:
        """Is this the browser the participant consented in (or are they not bound yet)? ``participant``: their row,
        when the caller has just read it."""
        p = participant if participant is not None else self.participant(pid)
        if p is None or not p["browser_key"]:
            return True
        key = valid_token(key)
        return bool(key) and hmac.compare_digest(key.encode(), str(p["browser_key"]).encode())

    def screen(self, pid: str, responses: list[int]) -> bool:
        """Score the headphone check against this participant's own key; failing screens them out."""
        points = score(responses, participant_clips(self.config, pid))
        ok = points >= PASS_AT
        self._update(pid, headphone_passed=ok, headphone_score=points, screened_out_at=None if ok else utc_now())
        return ok

    def screened_in(self, p: dict[str, Any]) -> bool:
        return bool(p["consented_at"]) and (not self.config.headphone_check or p["headphone_passed"] is True)

    # -- slots ------------------------------------------------------------------------------------
    def _slot_loads(self) -> tuple[dict[int, int], dict[int, int]]:
        """Per slot: how many claims still count (completed, or held and active), and how many claims exist."""
        timeout = timedelta(minutes=self.config.slot_timeout_min)
        now = datetime.fromisoformat(utc_now())
        claims, people, last = self.rows.slot_history()
        loads = {s: 0 for s in range(self.config.n_slots)}
        rounds = dict(loads)
        for c in claims:
            rounds[c.slot] += 1
            p = people.get(c.participant_id)
            active = max(filter(None, [_ts(c.claimed_at), _ts(last.get(c.participant_id))]))
            if p is not None and (p.completed_at or (not p.withdrawn_at and now - active < timeout)):
                loads[c.slot] += 1
        return loads, rounds

    def claim_slot(self, pid: str) -> int:
        """Give a screened-in participant the least-covered slot (free ones first, lowest number first).
        Two processes claiming at once cannot both win one round of a slot: the loser retries."""
        p = self.open(pid)
        if p["slot"] is not None:
            return p["slot"]
        if not self.screened_in(p):
            raise EvalkitInputError(f"participant {pid} has not consented and passed screening; no slot yet")
        for _ in range(50):
            loads, rounds = self._slot_loads()
            slot = min(loads, key=lambda s: (loads[s], s))
            now = utc_now()
            if self.rows.add_slot_claim(slot, rounds[slot], pid, now):
                self._update(pid, slot=slot, claimed_at=now)
                return slot
        raise StoreError("could not claim a study slot (busy); try again")

    def withdraw(self, pid: str) -> None:
        """The participant left (or returned the study): their slot goes to the next person."""
        self._update(pid, withdrawn_at=utc_now())
        self.log(pid, "withdrew", key="withdrew")

    # -- trials and answers ------------------------------------------------------------------------
    def trials(self, pid: str) -> list[Trial]:
        """This participant's trials in order (their slot's); empty before a slot is claimed."""
        slot = self._slot_of.get(pid)
        if slot is None:
            p = self.participant(pid)
            if p is None or p["slot"] is None:
                return []
            slot = self._slot_of[pid] = p["slot"]
        if slot not in self._slot_trials:
            self._slot_trials[slot] = [Trial.from_row(r) for r in self.rows.trial_rows(slot)]
        return self._slot_trials[slot]

    def answered(self, pid: str) -> set[str]:
        return self.rows.answered_trials(pid)

    def next_trial(self, pid: str) -> tuple[Trial | None, int, int]:
        """(next unanswered trial or None, number done, total): where a reload resumes."""
        trials = self.trials(pid)
        done = self.answered(pid)
        nxt = next((t for t in trials if t.trial_id not in done), None)
        return nxt, len(done & {t.trial_id for t in trials}), len(trials)

    def save_answer(self, pid: str, trial_id: str, choices: dict[str, str], confidence: int | None = None,
                    comment: str | None = None, started_at: str | None = None, simulated: bool = False) -> bool:
        """Save one trial's answers, one per criterion (as shown: A = left, B = right, tie), in one
        transaction; True if new, False if this trial was already answered (a double submit)."""
        trial = next((t for t in self.trials(pid) if t.trial_id == trial_id), None)
        if trial is None:
            raise EvalkitInputError(f"trial {trial_id} is not one of participant {pid}'s trials")
        asked = criteria()
        if set(choices) != set(asked) or not set(choices.values()) <= set(SHOWN):
            raise EvalkitInputError(f"answers {choices!r}: give A, B or tie for each of {', '.join(asked)}")
        now = utc_now()
        rows = [Preference(participant_id=pid, trial_id=trial_id, item_id=trial.item_id, advice_id_a=trial.left["advice_id"],
                           advice_id_b=trial.right["advice_id"], system_a=trial.left["system"], system_b=trial.right["system"],
                           choice=SHOWN[choices[c]], confidence=confidence, comment=(comment or None) and comment[:2000],
                           started_at=started_at, answered_at=now, simulated=simulated, study_id=self.study_id, criterion=c)
                for c in asked]
        return self.rows.add_answers(rows) > 0

    def answer_matches(self, pid: str, trial_id: str, choices: dict[str, str], confidence: int | None) -> bool:
        """Whether the stored answer to a trial is this one (a double submit) rather than another tab's (a conflict)."""
        stored = {p.criterion: p for p in self.rows.answers()
                  if p.participant_id == pid and p.trial_id == trial_id}
        return bool(stored) and all(c in stored and stored[c].choice == SHOWN[v] and stored[c].confidence == confidence
                                    for c, v in choices.items())

    def log_plays(self, pid: str, trial_id: str, events: list[dict]) -> int:
        """Play events from the browser (each with its page id and sequence number: logged once)."""
        return sum(self.log(pid, str(e.get("kind", "play"))[:30],
                            {k: e.get(k) for k in ("clip", "listened_s", "position_s", "page", "seq")},
                            trial_id=trial_id, key=[e.get("page"), e.get("seq")]) for e in events if isinstance(e, dict))

    def player_events(self, pid: str, trial_id: str) -> list[dict[str, Any]]:
        """The player events of one trial (or the sound check), each with the server's receipt time ``at``."""
        rows = self.rows.events_of(pid, trial_id, ("shown", "play", "pause", "ended", "listened"))
        return [{**json.loads(detail or "{}"), "kind": kind, "at": at} for kind, detail, at in rows]

    def shown(self, pid: str, trial_id: str) -> None:
        """Record, once, when the server first showed a question (or the sound check): the clock listening is held to."""
        self.log(pid, "shown", {}, trial_id=trial_id, key="shown")

    def clip_seconds(self, rel: str) -> float | None:
        """A stimulus' length (read once per process)."""
        if rel not in self._seconds:
            import soundfile as sf

            try:
                self._seconds[rel] = float(sf.info(str(self.audio_path(rel))).duration)
            except (EvalkitInputError, RuntimeError):
                self._seconds[rel] = None
        return self._seconds[rel]

    def heard(self, pid: str, trial_id: str, clips: dict[str, str], min_s: float | None = None) -> set[str]:
        """Which of ``clips`` (name -> stimulus) the participant heard for ``min_s`` (default: the study's minimum; a
        clip shorter than that, nearly to its end), by the server's own count (evalkit/study/listening.py): seeking
        and forged events do not count."""
        from evalkit.study.listening import clips_heard

        min_s = float(self.config.listen_min_s or 0.0) if min_s is None else min_s
        durations = {name: self.clip_seconds(rel) for name, rel in clips.items()}
        events = self.player_events(pid, trial_id)
        shown = min((e["at"] for e in events if e["kind"] == "shown"), default=None)
        return clips_heard(events, durations, min_s, shown)

    def listened(self, pid: str, trial_id: str) -> set[str]:
        """Clips of this trial the participant has heard for at least the study's minimum (server-computed)."""
        trial = next((t for t in self.trials(pid) if t.trial_id == trial_id), None)
        return self.heard(pid, trial_id, trial.required_clips) if trial else set()

    def complete(self, pid: str) -> str:
        """Mark complete (once) and return the completion code."""
        p = self.open(pid)
        if p["completion_code"]:
            return p["completion_code"]
        code = self.config.completion_code or secrets.token_hex(4).upper()
        self._update(pid, completed_at=utc_now(), completion_code=code)
        return code

    # -- admin and export --------------------------------------------------------------------------
    def participants_frame(self) -> pd.DataFrame:
        return self.rows.participants_frame()

    def events_frame(self) -> pd.DataFrame:
        return self.rows.events_frame()

    def all_trials(self) -> list[Trial]:
        return [Trial.from_row(r) for r in self.rows.trial_rows()]

    def audio_path(self, rel: str) -> Path:
        """Resolve a stimulus path, refusing anything outside the study's own stimuli folder."""
        base = (self.dir / "stimuli").resolve()
        target = (self.dir / rel).resolve()
        if base not in target.parents or not target.is_file():
            raise EvalkitInputError(f"{rel}: not a stimulus of this study")
        return target

    def answers_frame(self) -> pd.DataFrame:
        rows = [p.model_dump() for p in self.rows.answers()]
        return pd.DataFrame(rows, columns=list(Preference.model_fields))


__all__ = ["StudyStore", "Trial", "valid_participant_id"]
