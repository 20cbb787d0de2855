"""The run store: one database per run, read and written by every stage.

SQLite (WAL, busy timeout) by default, PostgreSQL through a SQLAlchemy URL. Writes are idempotent
(keyed by content hash) so a rerun computes only what is missing, and every model call is logged.
Schema changes are append-only migrations: a new version adds, it never edits an old one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from evalkit.errors import StoreError
from evalkit.records import Advice, Item, Judgment, Preference, Song, canonical_json, utc_now
from evalkit.secrets import mask_url, redact

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

_CORE = [schema_migrations, run_meta, songs, items, advice, judgments, llm_calls]
_STUDY = [study_trials, participants, preferences]
_STUDY_V2 = [study_participants, slot_claims, study_events]

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
]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def store_url(target: str | Path) -> str:
    """A SQLAlchemy URL for a run directory (its ``store.sqlite``) or a URL given as is."""
    target = str(target)
    if "://" in target:
        return target.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{Path(target) / 'store.sqlite'}"


class Store:
    """The run store. Open with a run directory or a database URL."""

    def __init__(self, target: str | Path, *, create: bool = True) -> None:
        self.url = store_url(target)
        if self.url.startswith("sqlite:///"):
            path = Path(self.url.removeprefix("sqlite:///"))
            if not create and not path.exists():
                raise StoreError(f"{path.parent}: no run store here (store.sqlite missing); run `evalkit generate` first")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path.parent}: cannot create the run directory ({exc.strerror}); pick a writable --out") from exc
        try:
            self.engine: Engine = create_engine(self.url, future=True, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"{self.display_url}: cannot open the store ({mask_url(str(exc))}); check the URL and driver") from exc
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    @property
    def display_url(self) -> str:
        """The store's URL for messages: credentials masked."""
        return mask_url(self.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- schema -------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply missing migrations. Safe when several processes open the store at once: PostgreSQL
        serialises on an advisory lock; SQLite retries when another process created a table first."""
        for attempt in range(20):
            try:
                self._migrate_once()
                return
            except OperationalError as exc:
                if "already exists" in str(exc.orig) or "locked" in str(exc.orig):
                    time.sleep(0.05 * (attempt + 1))
                    continue
                if self.dialect == "sqlite":
                    raise StoreError(f"{self.display_url}: cannot write the store ({exc.orig}); is the directory read-only or the disk full?") from exc
                raise StoreError(f"{self.display_url}: cannot reach the database ({mask_url(str(exc.orig)).strip()}); check that the server "
                                 "runs and the URL, and give the password in the URL, PGPASSWORD or ~/.pgpass "
                                 "(a study server: EVALKIT_STUDY_STORE_URL)") from exc
        raise StoreError(f"{self.display_url}: could not migrate the store (busy); try again")

    def _migrate_once(self) -> None:
        if self.dialect == "sqlite":
            # Take the write lock before reading which migrations exist (BEGIN IMMEDIATE), so two
            # processes opening a new store cannot both apply version 1.
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    self._apply_missing(conn)
                    conn.exec_driver_sql("COMMIT")
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
            return
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(764231)"))
            self._apply_missing(conn)

    @staticmethod
    def _apply_missing(conn) -> None:
        schema_migrations.create(conn, checkfirst=True)
        done = {r[0] for r in conn.execute(select(schema_migrations.c.version))}
        for version, description, apply in MIGRATIONS:
            if version in done:
                continue
            apply(conn)
            conn.execute(schema_migrations.insert().values(version=version, description=description, applied_at=utc_now()))

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return max(r[0] for r in conn.execute(select(schema_migrations.c.version)))

    # -- generic helpers ----------------------------------------------------------------------
    def _insert(self, table: Table, rows: Sequence[dict[str, Any]], *, update: Sequence[str] = (), where=None) -> int:
        """Insert rows, ignoring those whose key exists (or updating ``update`` columns where ``where``)."""
        if not rows:
            return 0
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(table)
        key = [c.name for c in table.primary_key.columns]
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=key, set_={c: stmt.excluded[c] for c in update}, where=where
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=key)
        stmt = stmt.returning(*table.primary_key.columns)  # counts rows written; rowcount is -1 for batches on psycopg
        try:
            with self.engine.begin() as conn:
                return len(conn.execute(stmt, list(rows)).all())
        except OperationalError as exc:
            raise StoreError(f"{self.display_url}: write failed ({exc.orig}); is the directory read-only or the disk full?") from exc

    def insert_rows(self, table: Table, rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows whose key is new (a rerun writes nothing twice); returns how many were written."""
        return self._insert(table, rows)

    def set_meta(self, key: str, value: Any) -> None:
        self._insert(run_meta, [{"key": key, "value": canonical_json(redact(value))}], update=["value"])

    def meta_with_prefix(self, prefix: str) -> dict[str, Any]:
        """Every run-meta entry whose key starts with ``prefix`` (e.g. "judge/": each judge's stored preset)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(run_meta).where(run_meta.c.key.like(f"{prefix}%"))).all()
        return {r.key: json.loads(r.value) for r in rows}

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(run_meta.c.value).where(run_meta.c.key == key)).first()
        return json.loads(row[0]) if row else default

    # -- songs and items ----------------------------------------------------------------------
    def put_songs(self, values: Iterable[Song]) -> int:
        return self._insert(
            songs, [{"id": s.id, "source": s.source, "body": s.model_dump_json()} for s in values]
        )

    def put_items(self, values: Iterable[Item]) -> int:
        return self._insert(
            items,
            [{"id": i.id, "song_id": i.song_id, "split": str(i.split), "kind": i.kind, "body": i.model_dump_json()} for i in values],
        )

    def songs(self) -> dict[str, Song]:
        with self.engine.connect() as conn:
            return {r.id: Song.model_validate_json(r.body) for r in conn.execute(select(songs))}

    def items(self, split: str | None = None) -> list[Item]:
        q = select(items).order_by(items.c.id)
        if split:
            q = q.where(items.c.split == split)
        with self.engine.connect() as conn:
            return [Item.model_validate_json(r.body) for r in conn.execute(q)]

    # -- advice -------------------------------------------------------------------------------
    def put_advice(self, value: Advice) -> None:
        row = {
            "id": value.id, "item_id": value.item_id, "system": value.system, "condition": str(value.condition),
            "status": "ok", "text": value.text, "error": None, "attempts": 1, "config_hash": value.config_hash,
            "body": value.model_dump_json(), "created_at": utc_now(),
        }
        # A failed attempt may be replaced by a success; a success is never overwritten.
        self._insert(advice, [row], update=["status", "text", "error", "body", "created_at"], where=advice.c.status != "ok")

    def put_advice_failure(self, item_id: str, system: str, condition: str, config_hash: str, error: str) -> None:
        from evalkit.records import advice_id

        aid = advice_id(item_id, system, condition)
        with self.engine.begin() as conn:
            existing = conn.execute(select(advice.c.status, advice.c.attempts).where(advice.c.id == aid)).first()
            if existing and existing.status == "ok":
                return
            if existing:
                conn.execute(advice.update().where(advice.c.id == aid).values(error=error, attempts=existing.attempts + 1))
                return
        self._insert(advice, [{
            "id": aid, "item_id": item_id, "system": system, "condition": condition, "status": "failed",
            "text": None, "error": error, "attempts": 1, "config_hash": config_hash, "body": "{}", "created_at": utc_now(),
        }])

    def advice_config_hashes(self) -> dict[tuple[str, str], set[str]]:
        """(system, condition) -> the config hashes its stored advice was made with."""
        out: dict[tuple[str, str], set[str]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(select(advice.c.system, advice.c.condition, advice.c.config_hash).distinct()):
                out.setdefault((r.system, r.condition), set()).add(r.config_hash)
        return out

    def delete_system(self, system: str) -> int:
        """Remove a system's advice and every judgment of it (for `generate --force`); returns advice rows removed."""
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(select(advice.c.id).where(advice.c.system == system))]
            for k in range(0, len(ids), 500):
                chunk = ids[k:k + 500]
                conn.execute(judgments.delete().where(judgments.c.advice_id.in_(chunk) | judgments.c.advice_id_b.in_(chunk)))
            return conn.execute(advice.delete().where(advice.c.system == system)).rowcount

    def advice_status(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {r.id: r.status for r in conn.execute(select(advice.c.id, advice.c.status))}

    def advice(self, *, include_failed: bool = False) -> list[Advice]:
        q = select(advice.c.body).order_by(advice.c.item_id, advice.c.system)
        if not include_failed:
            q = q.where(advice.c.status == "ok")
        with self.engine.connect() as conn:
            return [Advice.model_validate_json(r.body) for r in conn.execute(q)]

    def advice_frame(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(
                select(advice.c.id, advice.c.item_id, advice.c.system, advice.c.condition, advice.c.status,
                       advice.c.text, advice.c.error, advice.c.attempts), conn)

    # -- judgments ----------------------------------------------------------------------------
    def put_judgments(self, values: Iterable[Judgment]) -> int:
        """Save judgments; a row recorded as a failed call is replaced when the call is retried."""
        rows = [{
            "key": j.key, "advice_id": j.advice_id, "advice_id_b": j.advice_id_b, "judge": j.judge, "rubric": j.rubric,
            "rubric_hash": j.rubric_hash, "protocol": j.protocol, "order": j.order, "sample_index": j.sample_index,
            "score": j.score, "verdict": j.verdict, "parsed": j.parsed, "failure": j.failure, "body": j.model_dump_json(),
            "created_at": utc_now(),
        } for j in values]
        rows = list({r["key"]: r for r in rows}.values())  # one row per key: PostgreSQL's upsert refuses repeats in a batch
        return self._insert(judgments, rows, update=["score", "verdict", "parsed", "failure", "body", "created_at"],
                            where=judgments.c.failure == "api")

    def judgment_versions(self, judge: str) -> dict[tuple[str, str], int]:
        """How many judgments of ``judge`` were made under each (judge config hash, rubric hash)."""
        out: dict[tuple[str, str], int] = {}
        with self.engine.connect() as conn:
            for body, rubric_hash in conn.execute(select(judgments.c.body, judgments.c.rubric_hash).where(judgments.c.judge == judge)):
                key = (json.loads(body).get("judge_config_hash", ""), rubric_hash)
                out[key] = out.get(key, 0) + 1
        return out

    def delete_judge(self, judge: str) -> int:
        """Remove every judgment of ``judge`` (for `judge --force`); returns rows removed."""
        with self.engine.begin() as conn:
            return conn.execute(judgments.delete().where(judgments.c.judge == judge)).rowcount

    def judgment_keys(self, judge: str | None = None, *, include_failed_calls: bool = False) -> set[str]:
        """Keys of judgments already made (a failed call is not one, so it is retried)."""
        q = select(judgments.c.key)
        if not include_failed_calls:
            q = q.where((judgments.c.failure.is_(None)) | (judgments.c.failure != "api"))
        if judge:
            q = q.where(judgments.c.judge == judge)
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(q)}

    def judgments(self, judge: str | None = None) -> list[Judgment]:
        q = select(judgments.c.body).order_by(judgments.c.key)
        if judge:
            q = q.where(judgments.c.judge == judge)
        with self.engine.connect() as conn:
            return [Judgment.model_validate_json(r.body) for r in conn.execute(q)]

    # -- the call log -------------------------------------------------------------------------
    def log_call(self, **call: Any) -> None:
        """Log one model call (see ``log_calls``)."""
        self.log_calls([call])

    def log_calls(self, calls: Sequence[dict[str, Any]]) -> None:
        """Log model calls in one transaction: stage, backend, model, params, prompt, prompt_hash, response,
        tokens_in, tokens_out, latency_s, cost_usd, error."""
        now = utc_now()
        rows = [{**c, "params": canonical_json(redact(c["params"])), "prompt": canonical_json(c["prompt"]),
                 "error": mask_url(c["error"]) if c.get("error") else c.get("error"), "created_at": now} for c in calls]
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(llm_calls.insert(), rows)
        except OperationalError as exc:
            raise StoreError(f"{self.display_url}: cannot log model calls ({exc.orig}); is the directory read-only or the disk full?") from exc

    def failed_calls_by(self, stage: str) -> dict[str, int]:
        """Calls of a stage that failed in transport, counted by who made them (``by`` in their params): the log's
        history, so calls that failed and were retried later still count."""
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            q = select(llm_calls.c.params).where((llm_calls.c.stage == stage) & llm_calls.c.error.is_not(None))
            for (params,) in conn.execute(q):
                by = json.loads(params).get("by", "")
                out[by] = out.get(by, 0) + 1
        return out

    def calls_frame(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(select(llm_calls), conn)

    # -- preferences --------------------------------------------------------------------------
    def put_preference(self, value: Preference) -> bool:
        """Save one answer; True if it was new. A second submit of the same trial changes nothing."""
        return self.put_preferences([value]) == 1

    def put_preferences(self, values: Sequence[Preference]) -> int:
        """Save the answers of one trial (one per criterion) in one transaction; returns how many were new."""
        return self._insert(preferences, [{
            "key": v.key, "participant_id": v.participant_id, "trial_id": v.trial_id, "item_id": v.item_id,
            "system_a": v.system_a, "system_b": v.system_b, "choice": v.choice, "simulated": v.simulated,
            "body": v.model_dump_json(), "answered_at": v.answered_at, "study_id": v.study_id, "criterion": v.criterion,
        } for v in values])

    def preferences(self, study_id: str | None = None) -> list[Preference]:
        """All answers, or one study's: studies sharing a store never see each other's answers."""
        q = select(preferences.c.body).order_by(preferences.c.answered_at)
        if study_id is not None:
            q = q.where(preferences.c.study_id == study_id)
        with self.engine.connect() as conn:
            return [Preference.model_validate_json(r.body) for r in conn.execute(q)]

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f'SELECT COUNT(*) FROM "{metadata.tables[table].name}"')).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["MIGRATIONS", "Store", "store_url"]
