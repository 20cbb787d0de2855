"""Requests/s and client CPU per request of the OpenAI-compatible back end against a local endpoint
with a fixed 200 ms latency, at concurrency 1/16/64/256, against the bound c / latency.

The endpoint (tests/fake_openai.py) runs in its own process so the CPU time measured is the client's.

    python -m benchmarks.runner_throughput [--record]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

LATENCY_S = 0.2


def _serve(port_q, stop) -> None:
    from tests.fake_openai import serve_fixed_latency

    serve_fixed_latency(port_q, stop, LATENCY_S, "Raise the vocals 2 dB.")


def measure(base_url: str, concurrency: int, n: int) -> tuple[float, float, int]:
    from evalkit.backends import GenerationRequest, create_backend

    backend = create_backend("openai_compat", model="fake", base_url=base_url, max_concurrency=concurrency, timeout_s=30)
    reqs = [GenerationRequest(messages=[{"role": "user", "content": f"advice {k}"}], max_tokens=32) for k in range(n)]
    backend.generate_sync(reqs[: min(n, concurrency)])  # warm-up: connections and imports
    cpu, wall = time.process_time(), time.perf_counter()
    results = backend.generate_sync(reqs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    backend.close()
    return n / wall, cpu / n * 1000, sum(r.ok for r in results)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve, args=(q, stop), daemon=True)
    proc.start()
    url = q.get(timeout=30)
    rows = []
    try:
        for c in (1, 16, 64, 256):
            n = max(60, 8 * c)
            rps, cpu_ms, ok = measure(url, c, n)
            bound = c / LATENCY_S
            rows.append(f"| OpenAI back end, 200 ms endpoint, concurrency {c} ({n} requests, {ok} ok) | bound {bound:.0f} req/s | "
                        f"{rps:.1f} req/s = {rps / bound:.0%} of bound; {cpu_ms:.2f} ms CPU/request | targets ≥ {85 if c > 64 else 90}%, ≤ 2 ms |")
            print(rows[-1], flush=True)
    finally:
        stop.set()
        proc.join(timeout=10)
    if args.record:
        from benchmarks.record import record

        record("runner_throughput", "\n".join(rows))


if __name__ == "__main__":
    main()
