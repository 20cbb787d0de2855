"""The run store: one database per run, read and written by every stage, split by concern.

- ``schema.py``: the tables (SQLAlchemy Core, one definition for SQLite and PostgreSQL);
- ``migrations.py``: append-only schema migrations;
- ``base.py``: opening (SQLite in WAL mode with a busy timeout, or PostgreSQL by URL), migrating, run metadata,
  and the one idempotent insert (keyed by content hash) every writer uses;
- ``records.py``: songs, items, advice, judgments, preferences;
- ``calls.py``: the call log (every model call as it completes);
- ``leases.py``: work leases, so several workers on one run never make the same model call twice;
- ``study.py``: the listening study's participants, slots, trials, answers and events (``StudyStore``).

Nothing outside this package writes SQL (tests/test_code_shape.py).
"""

from evalkit.store.base import StoreBase, store_url
from evalkit.store.calls import CallLog
from evalkit.store.leases import Claim, ScopeProgress, WorkLeases
from evalkit.store.migrations import MIGRATIONS
from evalkit.store.records import RunRecords
from evalkit.store.schema import (
    advice,
    items,
    judgments,
    llm_calls,
    metadata,
    participants,
    preferences,
    run_meta,
    schema_migrations,
    slot_claims,
    songs,
    study_events,
    study_participants,
    study_trials,
    work_leases,
)


class Store(RunRecords, CallLog, WorkLeases, StoreBase):
    """The run store. Open with a run directory or a database URL."""


__all__ = ["MIGRATIONS", "Claim", "ScopeProgress", "Store", "advice", "items", "judgments", "llm_calls", "metadata", "participants", "preferences",
           "run_meta", "schema_migrations", "slot_claims", "songs", "store_url", "study_events", "study_participants",
           "study_trials", "work_leases"]
