"""Schema changes as append-only migrations: a new version adds, it never edits an old one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from evalkit.store.schema import _CORE, _STUDY, _STUDY_V2, _WORK, metadata


def _judgment_failure_column(conn) -> None:
    """Tell a failed call from an unparsed answer. Stores made before this migration get the column and a
    backfill: unparsed answers carry an "unparsed:" error; other unscored rows were failed calls."""
    from sqlalchemy import inspect

    if "failure" not in {c["name"] for c in inspect(conn).get_columns("judgments")}:
        conn.execute(text("ALTER TABLE judgments ADD COLUMN failure VARCHAR(10)"))
    conn.execute(text("UPDATE judgments SET failure = 'parse' WHERE failure IS NULL AND parsed = :f AND body LIKE :p"),
                 {"f": False, "p": '%"error":"unparsed%'})
    conn.execute(text("UPDATE judgments SET failure = 'api' WHERE failure IS NULL AND parsed = :f AND protocol <> 'reference'"),
                 {"f": False})


def _study_v2(conn) -> None:
    """Per-study participants, slot claims and events; answers learn their study and criterion. Old
    participants are copied over (their slot counts as claimed) and old answers are 'helpfulness'."""
    from sqlalchemy import inspect

    metadata.create_all(conn, tables=_STUDY_V2)
    cols = {c["name"] for c in inspect(conn).get_columns("preferences")}
    for name, kind in (("study_id", "VARCHAR(100)"), ("criterion", "VARCHAR(20)")):
        if name not in cols:
            conn.execute(text(f"ALTER TABLE preferences ADD COLUMN {name} {kind}"))
    conn.execute(text("UPDATE preferences SET criterion = 'helpfulness' WHERE criterion IS NULL"))
    conn.execute(text("UPDATE preferences SET study_id = (SELECT t.study_id FROM study_trials t WHERE t.trial_id = preferences.trial_id) "
                      "WHERE study_id IS NULL"))
    conn.execute(text(
        "INSERT INTO study_participants (study_id, participant_id, slot, session_id, opened_at, consented_at, headphone_passed, "
        "claimed_at, completed_at, completion_code, simulated) SELECT p.study_id, p.participant_id, p.slot, p.session_id, p.created_at, "
        "p.consented_at, p.headphone_passed, p.created_at, p.completed_at, p.completion_code, p.simulated FROM participants p "
        "WHERE NOT EXISTS (SELECT 1 FROM study_participants s WHERE s.study_id = p.study_id AND s.participant_id = p.participant_id)"))


# Append-only: never edit an entry, add a new one.
MIGRATIONS: list[tuple[int, str, Callable[[Any], None]]] = [
    (1, "core tables: songs, items, advice, judgments, llm_calls", lambda c: metadata.create_all(c, tables=_CORE)),
    (2, "study tables: trials, participants, preferences", lambda c: metadata.create_all(c, tables=_STUDY)),
    (3, "judgments.failure: parse vs api failures", _judgment_failure_column),
    (4, "study v2: per-study participants, slot claims, events; answers by criterion", _study_v2),
    (5, "work leases: workers claim pending advice and judgments before calling a model", lambda c: metadata.create_all(c, tables=_WORK)),
]


__all__ = ["MIGRATIONS"]
