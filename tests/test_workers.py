"""Many workers, one run (issue #22): work is claimed before a model is called, so N processes on one SQLite or
PostgreSQL store make exactly one call per advice and per judgment; a worker killed midway loses its lease and
the others finish its work, with no more duplicate calls than its one batch in flight, logged as taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa
import yaml

from evalkit.store import Store, work_leases
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.slow


def _systems(tmp_path, url, *, concurrency=1, chunk=1):
    path = tmp_path / "systems.yaml"
    path.write_text(yaml.safe_dump({"systems": [
        {"name": "api", "kind": "llm", "conditions": ["mix", "stems"], "chunk": chunk,
         "backend": {"name": "openai_compat", "model": "fake", "base_url": url, "max_concurrency": concurrency}},
        {"name": "analytic", "kind": "analytic", "condition": "stems"}]}))
    return path


def _judge(tmp_path, url):
    path = tmp_path / "judge.yaml"
    path.write_text(yaml.safe_dump({
        "name": "api-judge", "rubrics": ["pairwise"], "protocol": "pairwise", "both_orders": True, "samples": 1,
        "parse_retries": 0, "backend": {"name": "openai_compat", "model": "fake", "base_url": url, "max_concurrency": 1}}))
    return path


def _reply(req, n):
    if "Advice A:" in req["messages"][0]["content"]:
        return Reply(json.dumps({"rationale": "more specific", "verdict": "A"}), delay_s=0.2)
    return Reply(f"Lower the drums {1 + n % 4} dB.", delay_s=0.4)  # long enough that helpers start before the work is gone


def _workers_in_log(store: Store, stage: str) -> set[tuple[str, int]]:
    calls = store.calls_frame()
    return {(json.loads(p)["worker"], json.loads(p)["worker_index"]) for p in calls[calls.stage == stage].params}


@pytest.mark.parametrize("n", [2, 4])
def test_workers_make_each_call_once(small_testset, tmp_path, store_target, n):
    """`--workers N` on one store (SQLite, then PostgreSQL): the server sees exactly one call per advice and per
    judgment, the store holds each once, and more than one worker did the calls."""
    with FakeOpenAI(_reply) as srv:
        out = run_cli("generate", "--testset", small_testset, "--systems", _systems(tmp_path, srv.base_url), "--out", store_target,
                      "--workers", n, "--quiet", check=True)
        gen_calls = len(srv.requests)
        judged = run_cli("judge", "--run", store_target, "--judge", _judge(tmp_path, srv.base_url), "--workers", n, "--quiet",
                         check=True)
        judge_calls = len(srv.requests) - gen_calls
    store = Store(store_target, create=False)
    frame = store.advice_frame()
    llm = frame[frame.system == "api"]
    assert len(llm) == gen_calls == 2 * len(store.items("test")) and llm.id.is_unique and (llm.status == "ok").all()
    assert f"advice: {len(frame)} new" in out.stdout
    judgments = store.judgments("api-judge")
    assert len(judgments) == judge_calls and len({j.key for j in judgments}) == judge_calls
    assert f"{judge_calls} scored" in judged.stdout
    assert len(store.calls_frame()) == gen_calls + judge_calls  # every call logged once
    for stage in ("generate", "judge"):  # more than one local worker made calls, each numbered 0 … n-1
        workers = _workers_in_log(store, stage)
        assert len(workers) > 1, (stage, workers, len(store.calls_frame()))
        assert {k for _, k in workers} <= set(range(n)) and len({k for _, k in workers}) == len(workers)
    store.dispose()


def _start_worker(args: list) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evalkit.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, stdin=subprocess.DEVNULL)


def _holders_of_live_leases(store: Store) -> set[int]:
    """The pids of the workers that hold unfinished claimed work right now."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(work_leases.c.owner).where(
            work_leases.c.done_at.is_(None) & (work_leases.c.expires_at > time.time()))).all()
    return {int(r.owner.split(":")[1]) for r in rows}


def _kill_while_holding_a_lease(store: Store, procs: list[subprocess.Popen], deadline: float) -> subprocess.Popen | None:
    """SIGKILL a worker at a moment it holds unfinished work. The worker is frozen (SIGSTOP) before the lease table
    is read again, so it cannot finish its batch between the check and the kill; one found empty-handed is let go
    on (SIGCONT) and another moment is tried."""
    while time.time() < deadline:
        victim = next((p for p in procs if p.pid in _holders_of_live_leases(store)), None)
        if victim is not None:
            os.killpg(victim.pid, signal.SIGSTOP)
            if victim.pid in _holders_of_live_leases(store):
                os.killpg(victim.pid, signal.SIGKILL)
                return victim
            os.killpg(victim.pid, signal.SIGCONT)
        time.sleep(0.05)
    return None


def test_a_killed_worker_loses_its_lease_and_the_others_finish(small_testset, tmp_path, store_target):
    """Four separate `evalkit generate` processes on one store (as on four machines); one is SIGKILLed while it
    holds a batch. The other three finish everything: every advice once, and the only repeated calls are the
    killed worker's one batch in flight, each logged with the worker it was taken over from."""
    batch = 2
    with FakeOpenAI(lambda r, n: Reply(f"Raise the vocals {1 + n % 3} dB.", delay_s=0.3)) as srv:
        args = ["generate", "--testset", small_testset, "--systems", _systems(tmp_path, srv.base_url, concurrency=batch, chunk=batch),
                "--out", store_target, "--quiet", "--lease-s", "6"]
        procs = [_start_worker(args) for _ in range(4)]
        while len(srv.requests) < 2:  # the workers have opened (and migrated) the store
            time.sleep(0.05)
        store = Store(store_target, create=False)
        while len(srv.requests) < 6:  # a few batches in, so the kill lands mid-run
            time.sleep(0.05)
        victim = _kill_while_holding_a_lease(store, procs, time.time() + 60)
        assert victim is not None, "no worker held a lease"
        results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
        keys = Counter(r["messages"][-1]["content"] for r in srv.requests)
    survivors = [r for p, r in zip(procs, results, strict=True) if p is not victim]
    assert all(rc == 0 for _, _, rc in survivors), survivors
    frame = store.advice_frame()
    llm = frame[(frame.system == "api") & frame.item_id.isin([i.id for i in store.items("test")])]
    assert len(llm) == 2 * len(store.items("test")) and llm.id.is_unique and (llm.status == "ok").all()
    duplicates = sum(k - 1 for k in keys.values())
    calls = store.calls_frame()
    reclaimed = [json.loads(p) for p in calls.params if "reclaimed_from" in json.loads(p)]
    assert duplicates <= batch  # beyond the killed worker's one batch, no call was made twice
    detail = [(r["worker"], r["reclaimed_from"], r["key"]) for r in reclaimed], victim.pid, [r[1][-300:] for r in results]
    assert duplicates <= len(reclaimed) <= batch, detail  # and each taken-over call says whose work it was
    # every call made for taken-over work names the killed worker (its batch may also have been saved before the kill,
    # in which case nothing was called again); the lease table records the takeover either way
    assert {r["reclaimed_from"].split(":")[1] for r in reclaimed} <= {str(victim.pid)}
    assert store.takeovers() >= 1
    store.dispose()


def test_progress_counts_the_whole_run_not_one_worker(small_testset, tmp_path):
    """While another worker holds work, a worker's progress says so (held by other workers / pending)."""
    from evalkit.workers import Worker, scope_of, work_through

    store = Store(tmp_path / "run")
    keys = [f"k{i}" for i in range(6)]
    scope = scope_of("generate", "toy", keys)
    seen = []
    with Worker(store, lease_s=30) as other:
        store.enqueue(scope, keys, other.started_at)
        held = store.claim(scope, other.id, 2, other.lease_s)  # another worker holds two keys
        timer = threading.Timer(1.5, lambda: store.finish(scope, [c.key for c in held], "ok"))
        timer.start()
        with Worker(store, lease_s=30) as me:
            counts = work_through(me, scope, keys, 2, lambda claims: {c.key: "ok" for c in claims},
                                  store.advice_ok_among, seen.append)
        timer.join()
    assert counts["reclaimed"] == 0
    assert any(p.claimed_by_others == 2 for p in seen)  # it waited while the other worker held its batch
    final = seen[-1]
    assert (final.done, final.pending, final.claimed_by_others) == (6, 0, 0)


def test_local_workers_are_numbered_so_a_gpu_back_end_can_pin_one_gpu_each(monkeypatch):
    """`--workers 4` with vLLM's ``gpus_per_worker: 2``: worker k sees GPUs 2k and 2k+1 (the process the user
    started is worker 0); the option is deployment, not part of the system's identity."""
    from evalkit.backends.config import DEPLOYMENT_KEYS
    from evalkit.backends.vllm_backend import VLLMOptions, worker_devices

    seen = []
    for k in range(4):
        monkeypatch.setenv("EVALKIT_WORKER_INDEX", str(k))
        seen.append(worker_devices(2))
    assert seen == ["0,1", "2,3", "4,5", "6,7"]
    assert VLLMOptions(model="m", data_parallel_size=2, gpus_per_worker=1).data_parallel_size == 2
    assert {"data_parallel_size", "gpus_per_worker", "base_url"} <= DEPLOYMENT_KEYS


def test_concurrent_claims_never_hand_one_key_to_two_workers(store_target):
    """Eight workers (threads, each with its own connections) claim from one scope as fast as they can: every key is
    claimed exactly once, and no claim returns more than asked (SQLite: BEGIN IMMEDIATE; PostgreSQL: SKIP LOCKED)."""
    Store(store_target).enqueue("stress", [f"k{i:04d}" for i in range(400)], time.time())
    got: dict[str, list[str]] = {}
    sizes: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        store = Store(store_target, create=False)
        while True:
            claims = store.claim("stress", name, 3, 600)
            if not claims:
                break
            with lock:
                sizes.append(len(claims))
                for c in claims:
                    got.setdefault(c.key, []).append(name)
            store.finish("stress", [c.key for c in claims], "ok")
        store.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{k}",)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(got) == 400 and all(len(v) == 1 for v in got.values())
    assert max(sizes) <= 3 and len({w for v in got.values() for w in v}) > 1
