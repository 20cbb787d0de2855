"""Judging throughput: evalkit vs inspect_ai (`inspect-ai` from PyPI) against the same local endpoint,
at the same concurrency, in the same run.

Both send one chat completion per judgment to a local OpenAI-compatible endpoint (asyncio, fixed
latency) that answers with a pairwise verdict, parse it, and persist the result with its log: evalkit
into its run store (every call logged), inspect_ai into its eval log. Judgments/s is the figure.

    python -m benchmarks.judge_throughput [--record] [--judgments 320] [--concurrency 32] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import yaml


def _serve(port_q, stop, latency: float) -> None:
    import json

    from tests.fake_openai import serve_fixed_latency

    serve_fixed_latency(port_q, stop, latency, json.dumps({"rationale": "A names the stem and the amount.", "verdict": "A"}))


def _evalkit_run(tmp: Path, n_pairs: int) -> Path:
    """A run with enough advice pairs: synthetic items × the four analytic systems."""
    from evalkit.data.synth import synthesize
    from evalkit.generate import generate
    from evalkit.systems import load_systems

    synthesize(tmp / "ts", songs=max(2, n_pairs // 24 + 1), seed=0, seconds=2, sample_rate=8000, problems_per_song=3, progress=False)
    generate(tmp / "ts", load_systems(Path(__file__).parents[1] / "experiments" / "systems.yaml"), tmp / "run", split="all",
             show_progress=False)
    return tmp / "run"


def time_evalkit(url: str, run: Path, judgments: int, concurrency: int) -> float:
    from evalkit.judging.rubrics import load_judge
    from evalkit.judging.stage import judge_run
    from evalkit.store import Store

    preset_path = run.parent / "judge.yaml"
    preset_path.write_text(yaml.safe_dump({"name": "bench", "protocol": "pairwise", "rubrics": ["pairwise"], "both_orders": True,
                                           "max_pairs": judgments // 2, "backend": {"name": "openai_compat", "model": "fake",
                                           "base_url": url, "max_concurrency": concurrency}}))
    preset = load_judge(preset_path)
    store = Store(run)
    import openai  # noqa: F401  (imported before the clock, as inspect_ai's own imports are)

    t = time.perf_counter()
    counts = judge_run(store, preset, show_progress=False)
    elapsed = time.perf_counter() - t
    assert counts["scored"] == judgments, counts
    return judgments / elapsed


def time_inspect(url: str, run: Path, judgments: int, concurrency: int) -> float:
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    from evalkit.judging.rubrics import load_rubric
    from evalkit.judging.stage import select_pairs
    from evalkit.store import Store

    rubric = load_rubric("pairwise")
    pairs = select_pairs(Store(run).advice())[: judgments // 2]
    samples = []
    for a, b in pairs:
        for first, second in ((a, b), (b, a)):
            samples.append(Sample(input=rubric.render(advice_a=first.text, advice_b=second.text, reference=None), target="verdict"))
    task = Task(dataset=samples, solver=[generate()], scorer=includes())
    os.environ.setdefault("OPENAI_API_KEY", "not-needed")
    t = time.perf_counter()
    logs = eval(task, model="openai/fake", model_base_url=url, model_args={"responses_api": False},
                max_connections=concurrency, max_samples=concurrency,
                log_dir=str(run.parent / "inspect-logs"), display="none", log_level="error")
    elapsed = time.perf_counter() - t
    assert logs[0].status == "success" and len(logs[0].samples or []) == judgments, (logs[0].status, str(logs[0].error)[:1500])
    return judgments / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judgments", type=int, default=320)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve, args=(q, stop, args.latency), daemon=True)
    proc.start()
    url = q.get(timeout=30)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run_a = _evalkit_run(Path(tmp) / "a", args.judgments // 2)
            ours = time_evalkit(url, run_a, args.judgments, args.concurrency)
            theirs = time_inspect(url, run_a, args.judgments, args.concurrency)
    finally:
        stop.set()
        proc.join(timeout=10)
    bound = args.concurrency / args.latency
    row = (f"| pairwise judging, {args.judgments} judgments, concurrency {args.concurrency}, {args.latency * 1000:.0f} ms endpoint "
           f"(bound {bound:.0f}/s) | inspect_ai {theirs:.0f} judgments/s | evalkit {ours:.0f} judgments/s | {ours / theirs:.2f}× |")
    print(row)
    if args.record:
        from benchmarks.record import record

        record("judge_throughput", row)


if __name__ == "__main__":
    main()
