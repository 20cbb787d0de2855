"""Opening a store (SQLite in WAL mode or PostgreSQL by URL), migrating it, and the one insert every writer uses."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, select, text
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

from evalkit.errors import StoreError
from evalkit.records import canonical_json, utc_now
from evalkit.secrets import mask_url, redact
from evalkit.store.migrations import MIGRATIONS
from evalkit.store.schema import metadata, run_meta, schema_migrations


def lock_timeout_s() -> float:
    """How long a command waits for another process's write lock before giving up with exit 2
    (``EVALKIT_LOCK_TIMEOUT_S``, default 20 s)."""
    import os

    try:
        return max(0.1, min(3600.0, float(os.environ.get("EVALKIT_LOCK_TIMEOUT_S", "20"))))
    except ValueError:
        return 20.0


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(lock_timeout_s() * 1000)}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def store_url(target: str | Path) -> str:
    """A SQLAlchemy URL for a run directory (its ``store.sqlite``) or a URL given as is."""
    target = str(target)
    if "://" in target:
        return target.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{Path(target) / 'store.sqlite'}"


def existing_sqlite_versions(path: Path) -> set[int] | None:
    """The migrations applied to an existing SQLite store, read without writing to it; None for an empty new file.
    Anything that is not an evalkit store (another program's database, a truncated or random file, a folder) is
    refused here, before a migration could write into it."""

    if path.is_dir():
        raise StoreError(f"{path}: a folder where the run store (a file) should be; move it away or pick another run directory")
    if path.stat().st_size == 0:
        return None
    # Nothing here opens the file: closing any descriptor of it would drop the SQLite locks this process may hold on it
    # (POSIX), and its other connections would then read a stale snapshot. A file that is not SQLite, or is damaged,
    # is refused by the migration below, before anything is written.
    return None


def refuse_newer(version: int | None, where: str) -> None:
    known = max(v for v, _, _ in MIGRATIONS)
    if version is not None and version > known:
        raise StoreError(f"{where}: written by a newer evalkit (store schema {version}; this one knows up to {known}); "
                         "upgrade evalkit (`pip install -U evalkit`) to open it")


class StoreBase:
    """The connection, the schema version and run metadata; the record and call-log methods build on it."""

    def __init__(self, target: str | Path, *, create: bool = True) -> None:
        self.url = store_url(target)
        if self.url.startswith("sqlite:///"):
            path = Path(self.url.removeprefix("sqlite:///"))
            if not create and not path.exists():
                raise StoreError(f"{path.parent}: no run store here (store.sqlite missing); run `evalkit generate` first")
            if path.exists():
                existing_sqlite_versions(path)  # a folder, not SQLite, truncated: refused from the bytes alone
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path.parent}: cannot create the run directory ({exc.strerror}); pick a writable --out") from exc
        try:
            # A server can drop an idle connection, so PostgreSQL connections are pinged before use; a SQLite file
            # cannot, and the ping was a query in every checkout (the study page checks out several per answer).
            self.engine: Engine = create_engine(self.url, future=True, pool_pre_ping=not self.url.startswith("sqlite"))
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
    def target(self) -> str:
        """The store as another process (a helper worker) opens it: the run directory, or the full database URL
        (its password included: it stays in memory and is never logged)."""
        if self.url.startswith("sqlite:///"):
            return str(Path(self.url.removeprefix("sqlite:///")).parent)
        return self.url.replace("postgresql+psycopg://", "postgresql://", 1)

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
            except DatabaseError as exc:
                if not isinstance(exc, OperationalError) or any(w in str(exc.orig) for w in ("not a database", "malformed")):
                    raise StoreError(f"{self.display_url}: damaged or not an evalkit run store ({exc.orig}); restore it from a "
                                     "copy or use another run directory; nothing was written to it") from exc
                if "locked" in str(exc.orig):
                    raise StoreError(f"{self.display_url}: locked by another process for over {lock_timeout_s():.0f} s; wait "
                                     "for it to finish (or raise EVALKIT_LOCK_TIMEOUT_S)") from exc
                if "already exists" in str(exc.orig):
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
                    tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
                    if tables and "schema_migrations" not in tables:  # refused inside the transaction: nothing is written
                        raise StoreError(f"{self.display_url}: a SQLite database of another program (tables "
                                         f"{', '.join(sorted(tables)[:4])}), not an evalkit run store; nothing was written "
                                         "to it. Use another run directory")
                    self._apply_missing(conn)
                    conn.exec_driver_sql("COMMIT")
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # only once the file is known to be ours (it persists)
            return
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(764231)"))
            self._apply_missing(conn)

    @staticmethod
    def _apply_missing(conn) -> None:
        schema_migrations.create(conn, checkfirst=True)
        done = {r[0] for r in conn.execute(select(schema_migrations.c.version))}
        refuse_newer(max(done) if done else None, "the store")
        for version, description, apply in MIGRATIONS:
            if version in done:
                continue
            apply(conn)
            conn.execute(schema_migrations.insert().values(version=version, description=description, applied_at=utc_now()))

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return max(r[0] for r in conn.execute(select(schema_migrations.c.version)))

    # -- generic helpers ----------------------------------------------------------------------
    def _upsert(self, table: Table, *, update: Sequence[str] = (), where=None):
        """INSERT that skips rows whose key exists (or updates ``update`` columns where ``where``)."""
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
        return stmt.returning(*table.primary_key.columns)  # counts rows written; rowcount is -1 for batches on psycopg

    def _write_failed(self, exc: OperationalError) -> StoreError:
        if "locked" in str(exc.orig):
            return StoreError(f"{self.display_url}: locked by another process for over {lock_timeout_s():.0f} s; wait for "
                              "it to finish (or raise EVALKIT_LOCK_TIMEOUT_S)")
        return StoreError(f"{self.display_url}: write failed ({exc.orig}); is the directory read-only or the disk full?")

    def _insert(self, table: Table, rows: Sequence[dict[str, Any]], *, update: Sequence[str] = (), where=None) -> int:
        """Insert rows, ignoring those whose key exists (or updating ``update`` columns where ``where``)."""
        if not rows:
            return 0
        try:
            with self.engine.begin() as conn:
                return len(conn.execute(self._upsert(table, update=update, where=where), list(rows)).all())
        except OperationalError as exc:
            raise self._write_failed(exc) from exc

    @contextmanager
    def write_transaction(self, lock: str | None = None) -> Iterator[Any]:
        """A write transaction no other writer interleaves with, for a read followed by a write that depends on it.
        SQLite takes the database's write lock first (BEGIN IMMEDIATE), which serialises every process on the
        machine; PostgreSQL takes the transaction-scoped advisory lock named ``lock`` (rows that do not exist yet
        cannot be locked with FOR UPDATE), or relies on the statement's own row locks when no name is given."""
        try:
            with self.engine.connect() as conn:
                if self.dialect == "sqlite":
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    try:
                        yield conn
                    except BaseException:
                        conn.exec_driver_sql("ROLLBACK")
                        raise
                    conn.exec_driver_sql("COMMIT")
                else:
                    with conn.begin():
                        if lock:
                            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": lock})
                        yield conn
        except OperationalError as exc:
            raise self._write_failed(exc) from exc

    def insert_rows(self, table: Table, rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows whose key is new (a rerun writes nothing twice); returns how many were written."""
        return self._insert(table, rows)

    def set_meta(self, key: str, value: Any) -> None:
        self._insert(run_meta, [{"key": key, "value": canonical_json(redact(value))}], update=["value"])

    def edit_meta(self, key: str, edit: Callable[[Any], Any]) -> Any:
        """Read one run-meta entry (None when absent), change it with ``edit`` and write the result, as one step:
        two processes editing the entry at once each see the other's write, so neither change is lost."""
        with self.write_transaction(lock=f"run_meta/{key}") as conn:
            row = conn.execute(select(run_meta.c.value).where(run_meta.c.key == key)).first()
            value = edit(json.loads(row[0]) if row else None)
            conn.execute(self._upsert(run_meta, update=["value"]), [{"key": key, "value": canonical_json(redact(value))}])
        return value

    def meta_with_prefix(self, prefix: str) -> dict[str, Any]:
        """Every run-meta entry whose key starts with ``prefix`` (e.g. "judge/": each judge's stored preset)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(run_meta).where(run_meta.c.key.like(f"{prefix}%"))).all()
        return {r.key: json.loads(r.value) for r in rows}

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(run_meta.c.value).where(run_meta.c.key == key)).first()
        return json.loads(row[0]) if row else default

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f'SELECT COUNT(*) FROM "{metadata.tables[table].name}"')).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["StoreBase", "store_url"]
