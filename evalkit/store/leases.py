"""Work claimed, not repeated: the lease table several workers share on one run store.

A worker lists the keys it has to do under a *scope* (one system's advice, or one judge's judgments) and,
before it calls a model, claims a batch of them with a lease. Claims are one statement each:

- PostgreSQL: ``WITH picked AS (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) UPDATE … FROM picked``, so workers on
  several machines never wait on each other's rows (see ``claim`` for why not ``WHERE key IN (SELECT …)``);
- SQLite: the same update under ``BEGIN IMMEDIATE``, which serialises the processes of one machine.

A lease names its owner and an expiry; a worker renews its leases while it works (``renew``), and one that
dies stops renewing, so after the lease time another worker takes the work over (``prev_owner`` says
whose it was). A finished key keeps its row (``done_at``), so no worker of the same pass does it again; a
key that failed is offered again only to a worker started after it failed (a rerun retries failures, as
every stage always has). Times are seconds since the epoch on the workers' clocks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, case, func, or_, select

from evalkit.store.schema import work_leases as wl

_CHUNK = 500  # keys per statement: SQLite caps bound parameters


@dataclass(frozen=True)
class Claim:
    key: str
    prev_owner: str | None  # set when this claim took over another worker's expired lease


@dataclass(frozen=True)
class ScopeProgress:
    """The whole pass of one scope as every worker sees it."""

    done: int
    failed: int
    claimed_by_me: int
    claimed_by_others: int
    pending: int


class WorkLeases:
    """The lease table (needs StoreBase's engine and dialect)."""

    def enqueue(self, scope: str, keys: Sequence[str], started_at: float) -> None:
        """Make sure each key has a row in ``scope``; a key whose last try failed before ``started_at`` (an
        earlier pass) is offered again. Keys already done in this pass, or leased, are left as they are."""
        rows = [{"scope": scope, "key": k, "position": n, "claims": 0} for n, k in enumerate(keys)]
        self._insert(wl, rows)
        reopen = (wl.update().where(and_(wl.c.scope == scope, wl.c.key.in_(bindparam("keys", expanding=True)),
                                         wl.c.done_at.is_not(None), wl.c.done_at < started_at))
                  .values(done_at=None, outcome=None, owner=None, expires_at=None))
        with self.write_transaction() as conn:
            for k in range(0, len(keys), _CHUNK):
                conn.execute(reopen, {"keys": list(keys[k:k + _CHUNK])})

    def claim(self, scope: str, owner: str, n: int, lease_s: float) -> list[Claim]:
        """Claim up to ``n`` pending keys of ``scope`` (in listed order) whose lease is free or expired.

        One statement: ``WITH picked AS (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) UPDATE … FROM picked``. The CTE is
        evaluated once (PostgreSQL materialises a locking CTE), so a claim never takes more than ``n`` rows nor a row
        another claim has just taken, which ``UPDATE … WHERE key IN (SELECT … SKIP LOCKED)`` does not promise under
        concurrent updates; the free-or-expired condition is checked again on the row being updated."""
        now = time.time()
        free = or_(wl.c.expires_at.is_(None), wl.c.expires_at < now)
        pick = (select(wl.c.scope, wl.c.key).where(and_(wl.c.scope == scope, wl.c.done_at.is_(None), free))
                .order_by(wl.c.position).limit(n))
        if self.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        picked = pick.cte("picked")
        stmt = (wl.update().where(and_(wl.c.scope == picked.c.scope, wl.c.key == picked.c.key, wl.c.done_at.is_(None), free))
                .values(prev_owner=wl.c.owner, owner=owner, claims=wl.c.claims + 1, claimed_at=now, expires_at=now + lease_s)
                .returning(wl.c.key, wl.c.prev_owner, wl.c.position))
        with self.write_transaction() as conn:
            rows = conn.execute(stmt).all()
        return [Claim(r.key, r.prev_owner if r.prev_owner != owner else None) for r in sorted(rows, key=lambda r: r.position)]

    def renew(self, owner: str, lease_s: float) -> int:
        """Extend every unfinished lease of ``owner`` (a worker's heartbeat); returns how many."""
        stmt = wl.update().where(and_(wl.c.owner == owner, wl.c.done_at.is_(None))).values(expires_at=time.time() + lease_s)
        with self.write_transaction() as conn:
            return conn.execute(stmt).rowcount

    def finish(self, scope: str, keys: Sequence[str], outcome: str) -> None:
        """Mark keys done (``ok``) or tried and failed (``failed``) in this pass."""
        stmt = (wl.update().where(and_(wl.c.scope == scope, wl.c.key.in_(bindparam("keys", expanding=True)),
                                       wl.c.done_at.is_(None)))
                .values(done_at=time.time(), outcome=outcome))
        with self.write_transaction() as conn:
            for k in range(0, len(keys), _CHUNK):
                conn.execute(stmt, {"keys": list(keys[k:k + _CHUNK])})

    def release(self, owner: str) -> int:
        """Give back ``owner``'s unfinished leases at once (a worker stopping cleanly), so others need not wait."""
        stmt = wl.update().where(and_(wl.c.owner == owner, wl.c.done_at.is_(None))).values(expires_at=None)
        with self.write_transaction() as conn:
            return conn.execute(stmt).rowcount

    def scope_progress(self, scope: str, owner: str) -> ScopeProgress:
        now = time.time()
        live = and_(wl.c.expires_at.is_not(None), wl.c.expires_at >= now)
        state = case((wl.c.outcome.is_not(None), wl.c.outcome),
                     (live, case((wl.c.owner == owner, "me"), else_="others")), else_="pending").label("state")
        counts = {"ok": 0, "failed": 0, "me": 0, "others": 0, "pending": 0}
        with self.engine.connect() as conn:
            for slot, n in conn.execute(select(state, func.count()).where(wl.c.scope == scope).group_by("state")):
                counts[slot] = counts.get(slot, 0) + n
        return ScopeProgress(counts["ok"], counts["failed"], counts["me"], counts["others"], counts["pending"])

    def takeovers(self, scope: str | None = None) -> int:
        """Claims that took over another worker's expired lease."""
        q = select(func.count()).select_from(wl).where(wl.c.prev_owner.is_not(None) & (wl.c.prev_owner != wl.c.owner))
        if scope:
            q = q.where(wl.c.scope == scope)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())


__all__ = ["Claim", "ScopeProgress", "WorkLeases"]
