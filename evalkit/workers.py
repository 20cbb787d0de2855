"""Many workers on one run: claim work before calling a model, keep the claim alive, take over a dead worker's.

Every stage that calls a model (``generate``, LLM judges) runs its work through ``work_through``: the keys it
must make are listed under a scope in the run store's lease table, and the worker claims a batch at a time
(``Store.claim``), does it, and marks it done. Any number of workers may run the same command on the same
store: processes on one machine (``--workers N``), or machines sharing one PostgreSQL run. None makes a call
that another has claimed; a worker that dies stops renewing its leases, and after ``lease_s`` the others take
its batch over (those calls are logged with ``reclaimed_from``). Why a lease table and not a task library:
docs/scaling.md.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import EvalkitInputError
from evalkit.records import content_hash
from evalkit.store import Claim, ScopeProgress, Store

DEFAULT_LEASE_S = 60.0


def worker_index() -> int:
    """Which of the local workers this process is: 0 for the one a user started, 1… for its helpers."""
    return int(os.environ.get("EVALKIT_WORKER_INDEX", "0"))


def call_tags(worker_id: str, claims: Sequence[Claim]) -> list[dict[str, Any]]:
    """What each call's log row says about who made it: the worker, its local index, whose expired lease it took over."""
    index = worker_index()
    return [{"worker": worker_id, "worker_index": index, **({"reclaimed_from": c.prev_owner} if c.prev_owner else {})}
            for c in claims]


def new_worker_id() -> str:
    """host:pid:random, unique across machines and restarts; shown in the lease table and the call log."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def scope_of(stage: str, name: str, all_keys: Sequence[str]) -> str:
    """Workers share a scope when they list the same work: the stage, the system or judge, and a hash of every
    key it covers (done or not), so two workers with different configs never hand each other work."""
    return f"{stage}/{name}/{content_hash(sorted(all_keys), 16)}"[:120]


@dataclass
class Worker:
    """One worker's identity, lease time and heartbeat; ``with Worker(store) as w:`` renews its leases every
    third of ``lease_s`` until it leaves, then hands back whatever it still holds."""

    store: Store
    lease_s: float = DEFAULT_LEASE_S
    id: str = field(default_factory=new_worker_id)
    started_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not (1 <= self.lease_s <= 86400):
            raise EvalkitInputError(f"--lease-s {self.lease_s}: give between 1 and 86400 seconds")
        self._stop = threading.Event()

    def __enter__(self) -> Worker:
        self._beat = threading.Thread(target=self._heartbeat, name="evalkit-lease-heartbeat", daemon=True)
        self._beat.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._beat.join(timeout=5)
        try:
            self.store.release(self.id)
        except Exception:  # noqa: BLE001 - leaving must not hide the error that made us leave; the lease expires anyway
            pass

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.store.renew(self.id, self.lease_s)
            except Exception:  # noqa: BLE001 - a missed beat only risks a takeover, which is safe
                pass


ProcessBatch = Callable[[list[Claim]], dict[str, str]]  # claims -> {key: "ok" | "failed"}
OnProgress = Callable[[ScopeProgress], None]


def work_through(worker: Worker, scope: str, todo: Sequence[str], batch: int, process: ProcessBatch,
                 already_done: Callable[[list[str]], set[str]], on_progress: OnProgress | None = None) -> Counter:
    """Claim, do and finish ``todo`` under ``scope`` until nothing is pending and no other worker holds a live
    lease (it may still die, and its batch must then be taken over). ``already_done`` filters keys finished by
    a worker that died after saving them but before it marked them done."""
    store, counts = worker.store, Counter()
    store.enqueue(scope, list(todo), worker.started_at)
    poll = min(1.0, worker.lease_s / 4)
    while True:
        claims = store.claim(scope, worker.id, batch, worker.lease_s)
        if not claims:
            progress = store.scope_progress(scope, worker.id)
            if on_progress:
                on_progress(progress)
            if progress.claimed_by_others == 0 and progress.pending == 0:
                return counts
            time.sleep(poll)  # others are working: wait, in case one dies and its batch comes free
            continue
        finished = already_done([c.key for c in claims])
        if finished:
            store.finish(scope, sorted(finished), "ok")
        live = [c for c in claims if c.key not in finished]
        counts["reclaimed"] += sum(c.prev_owner is not None for c in live)
        outcomes = process(live) if live else {}
        for outcome in ("ok", "failed"):
            keys = [k for k, v in outcomes.items() if v == outcome]
            if keys:
                store.finish(scope, keys, outcome)
        if on_progress:
            on_progress(store.scope_progress(scope, worker.id))


def _helper_main(index: int, target: Callable[..., Counter], kwargs: dict[str, Any], results) -> None:
    os.environ["EVALKIT_WORKER_INDEX"] = str(index)  # which of the local workers this is (a back end may pin a GPU by it)
    try:
        results.put(("ok", dict(target(**kwargs))))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which exits with it
        results.put(("error", f"{type(exc).__name__}: {exc}"))


class Helpers:
    """``n`` local helper processes running ``target(**kwargs)`` (the same stage as this process, quietly);
    started after this process has prepared the store, joined with ``collect``."""

    def __init__(self, n: int, target: Callable[..., Counter], kwargs: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")
        self.results = ctx.Queue()
        self.procs = [ctx.Process(target=_helper_main, args=(k + 1, target, kwargs, self.results), daemon=True)
                      for k in range(n)]
        for p in self.procs:
            p.start()

    def collect(self) -> Counter:
        """Wait for every helper; their counts summed. A helper that died (killed) is counted in
        ``workers_lost``: this process has already taken its work over. One that raised is an error."""
        total: Counter = Counter()
        errors = []
        for _ in self.procs:
            status, value = self._next_result()
            if status == "ok":
                total.update(value)
            elif status == "died":
                total["workers_lost"] += 1
            else:
                errors.append(value)
        for p in self.procs:
            p.join(timeout=30)
        if errors:
            raise RuntimeError(f"{len(errors)} worker process(es) failed: {errors[0]}")
        return total

    def _next_result(self) -> tuple[str, Any]:
        import queue

        while True:
            try:
                return self.results.get(timeout=1)
            except queue.Empty:
                if not any(p.is_alive() for p in self.procs) and self.results.empty():
                    return "died", None

    def stop(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()


def check_workers(n: int) -> int:
    if not (1 <= n <= 256):
        raise EvalkitInputError(f"--workers {n}: give between 1 and 256 processes")
    return n


__all__ = ["DEFAULT_LEASE_S", "Helpers", "Worker", "call_tags", "check_workers", "new_worker_id", "scope_of", "work_through",
           "worker_index"]
