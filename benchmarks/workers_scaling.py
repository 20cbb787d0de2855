"""`evalkit generate --workers 1` against `--workers 4` on one run, one latency-bound endpoint, each worker's
concurrency capped (as a rate-limited API key or a small GPU server caps it): throughput and duplicate calls.

Throughput is counted at the endpoint (calls / time from the first call to the last answer), so the helpers'
process start-up (imports, loading the test set) is shown apart, in the wall time.

    python -m benchmarks.workers_scaling [--record] [--store-url postgresql://…]   (a fresh database is made per run)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

LATENCY_S = 1.0
CONCURRENCY = 2  # per worker


def run(workers: int, testset: Path, base_url: str, out: str, srv) -> tuple[float, float, int, int]:
    systems = Path(tempfile.mkdtemp()) / "systems.yaml"
    systems.write_text(yaml.safe_dump({"systems": [{
        "name": "api", "kind": "llm", "conditions": ["mix", "stems"],
        "backend": {"name": "openai_compat", "model": "fake", "base_url": base_url, "max_concurrency": CONCURRENCY}}]}))
    first = len(srv.requests)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "generate", "--testset", str(testset), "--systems", str(systems),
                           "--out", out, "--split", "all", "--workers", str(workers), "--quiet"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stderr)
    times = srv.times[first:]
    calls = len(times)
    keys = Counter(str(r["messages"]) for r in srv.requests[first:])
    throughput = calls / (times[-1] + LATENCY_S - times[0])
    return throughput, wall, calls, sum(n - 1 for n in keys.values())


def fresh_database(url: str) -> str:
    """A new, empty database on the server of ``url`` (the benchmark's runs never share one)."""
    import uuid

    import sqlalchemy as sa

    name = f"evalkit_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    from evalkit.data.synth import synthesize
    from tests.fake_openai import FakeOpenAI, Reply

    ap = argparse.ArgumentParser()
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--store-url", help="a PostgreSQL server (URL of any database on it); default SQLite")
    args = ap.parse_args()
    testset = Path(tempfile.mkdtemp()) / "ts"
    synthesize(testset, songs=24, seed=5, seconds=3.0, sample_rate=22050, progress=False)
    rows, rates = [], {}
    with FakeOpenAI(lambda r, n: Reply("Lower the drums 2 dB.", delay_s=LATENCY_S)) as srv:
        for workers in (1, 4):
            out = fresh_database(args.store_url) if args.store_url else str(Path(tempfile.mkdtemp()) / "run")
            rate, wall, calls, dup = run(workers, testset, srv.base_url, out, srv)
            rates[workers] = rate
            print(f"workers={workers}: {calls} calls, {rate:.2f} calls/s at the endpoint, {wall:.1f} s wall, {dup} duplicate calls",
                  flush=True)
            rows.append((workers, calls, rate, wall, dup))
    store = "PostgreSQL" if args.store_url else "SQLite"
    (_, calls, r1, w1, _), (_, _, r4, w4, dup4) = rows
    line = (f"| `generate --workers 4` vs `--workers 1`, one {store} run, {calls} calls, {LATENCY_S:.0f} s endpoint, "
            f"{CONCURRENCY} calls per worker | 1 worker {r1:.2f} calls/s ({w1:.0f} s wall) | 4 workers {r4:.2f} calls/s "
            f"({w4:.0f} s wall), {dup4} duplicate calls | {r4 / r1:.2f}× at the endpoint, {w1 / w4:.2f}× wall; target ≥ 3.5×, 0 duplicates |")
    print(line)
    if args.record:
        from benchmarks.record import record

        record(f"workers_scaling_{store.lower()}", line)


if __name__ == "__main__":
    main()
