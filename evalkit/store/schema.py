"""The run store's tables (SQLAlchemy Core): one definition for SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", String(40), nullable=False),
)
run_meta = Table(
    "run_meta", metadata, Column("key", String(100), primary_key=True), Column("value", Text, nullable=False)
)
songs = Table(
    "songs",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("source", String(20), nullable=False),
    Column("body", Text, nullable=False),
)
items = Table(
    "items",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("song_id", String(200), nullable=False, index=True),
    Column("split", String(10), nullable=False, index=True),
    Column("kind", String(10), nullable=False),
    Column("body", Text, nullable=False),
)
advice = Table(
    "advice",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("item_id", String(200), nullable=False, index=True),
    Column("system", String(100), nullable=False, index=True),
    Column("condition", String(30), nullable=False),
    Column("status", String(10), nullable=False),  # ok | failed
    Column("text", Text),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=1),
    Column("config_hash", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)
judgments = Table(
    "judgments",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("advice_id", String(40), nullable=False, index=True),
    Column("advice_id_b", String(40)),
    Column("judge", String(100), nullable=False, index=True),
    Column("rubric", String(100), nullable=False),
    Column("rubric_hash", String(40), nullable=False),
    Column("protocol", String(20), nullable=False),
    Column("order", String(2)),
    Column("sample_index", Integer, nullable=False),
    Column("score", Float),
    Column("verdict", String(4)),
    Column("parsed", Boolean, nullable=False),
    Column("failure", String(10)),  # migration 3: parse | api (an api failure is retried, not a judgment)
    Column("body", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)
llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stage", String(20), nullable=False),
    Column("backend", String(40), nullable=False),
    Column("model", String(200)),
    Column("params", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("prompt_hash", String(40), nullable=False, index=True),
    Column("response", Text),
    Column("tokens_in", Integer),
    Column("tokens_out", Integer),
    Column("latency_s", Float),
    Column("cost_usd", Float),
    Column("error", Text),
    Column("created_at", String(40), nullable=False),
)
# Study tables (migration 2): the design is written once by `study create`; answers once per trial.
study_trials = Table(
    "study_trials",
    metadata,
    Column("trial_id", String(40), primary_key=True),
    Column("study_id", String(100), nullable=False, index=True),
    Column("slot", Integer, nullable=False, index=True),  # which participant slot gets it
    Column("position", Integer, nullable=False),
    Column("body", Text, nullable=False),
)
participants = Table(
    "participants",
    metadata,
    Column("participant_id", String(200), primary_key=True),
    Column("study_id", String(100), nullable=False),
    Column("slot", Integer, nullable=False),
    Column("session_id", String(200)),
    Column("consented_at", String(40)),
    Column("headphone_passed", Boolean),
    Column("completed_at", String(40)),
    Column("completion_code", String(40)),
    Column("simulated", Boolean, nullable=False, default=False),
    Column("created_at", String(40), nullable=False),
)
preferences = Table(
    "preferences",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("participant_id", String(200), nullable=False, index=True),
    Column("trial_id", String(40), nullable=False),
    Column("item_id", String(200), nullable=False),
    Column("system_a", String(100), nullable=False),
    Column("system_b", String(100), nullable=False),
    Column("choice", String(4), nullable=False),
    Column("simulated", Boolean, nullable=False),
    Column("body", Text, nullable=False),
    Column("answered_at", String(40), nullable=False),
    Column("study_id", String(100), index=True),  # added by migration 4 to stores made before it
    Column("criterion", String(20)),
)

# Study tables (migration 4): participants keyed by (study, participant) so studies sharing a store stay
# apart; slots are claimed (one row per claim) only after consent and screening; every flow step,
# browser mismatch and play event is an idempotent row in study_events.
study_participants = Table(
    "study_participants",
    metadata,
    Column("study_id", String(100), primary_key=True),
    Column("participant_id", String(200), primary_key=True),
    Column("slot", Integer),  # None until claimed
    Column("session_id", String(200)),
    Column("browser_key", String(64)),
    Column("opened_at", String(40), nullable=False),
    Column("consented_at", String(40)),
    Column("headphone_passed", Boolean),
    Column("headphone_score", Integer),
    Column("screened_out_at", String(40)),
    Column("claimed_at", String(40)),
    Column("withdrawn_at", String(40)),
    Column("completed_at", String(40)),
    Column("completion_code", String(40)),
    Column("simulated", Boolean, nullable=False, default=False),
)
slot_claims = Table(
    "slot_claims",
    metadata,
    Column("study_id", String(100), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("round", Integer, primary_key=True),  # the n-th claim of this slot: a concurrent claim of the same round loses
    Column("participant_id", String(200), nullable=False),
    Column("claimed_at", String(40), nullable=False),
)
study_events = Table(
    "study_events",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("study_id", String(100), nullable=False, index=True),
    Column("participant_id", String(200), nullable=False, index=True),
    Column("trial_id", String(40)),
    Column("kind", String(30), nullable=False),
    Column("detail", Text),
    Column("at", String(40), nullable=False),
)

# Work leases (migration 5): before a worker calls a model it claims a batch of pending keys (advice ids or
# judgment keys) of one scope with a lease; a lease that is not renewed expires and another worker takes
# the work over. A finished key keeps its row (done_at), so no other worker of the same pass redoes it.
work_leases = Table(
    "work_leases",
    metadata,
    Column("scope", String(120), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("position", Integer, nullable=False),  # the order the work was listed in (claims take it in order)
    Column("owner", String(120)),
    Column("prev_owner", String(120)),  # whose expired lease this claim took over, if any
    Column("claims", Integer, nullable=False, default=0),
    Column("claimed_at", Float),
    Column("expires_at", Float),
    Column("done_at", Float),
    Column("outcome", String(10)),  # ok | failed
    Index("ix_work_leases_pending", "scope", "done_at", "position"),
)

_CORE = [schema_migrations, run_meta, songs, items, advice, judgments, llm_calls]
_STUDY = [study_trials, participants, preferences]
_STUDY_V2 = [study_participants, slot_claims, study_events]
_WORK = [work_leases]
