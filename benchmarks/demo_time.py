"""End-to-end time of `evalkit demo` (fresh output directory), as a user runs it: first on a machine that
has never converted SmolLM2's GGUF (an empty EVALKIT_CACHE), then again with the converted copy cached.

    python -m benchmarks.demo_time [--record]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def _demo(cache: str) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "demo", "--out", f"{tmp}/demo", "--quiet"],
                              capture_output=True, text=True, env={**os.environ, "EVALKIT_CACHE": cache})
        wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    return wall, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        cold, out = _demo(cache)
        warm, _ = _demo(cache)
    smol = ("SmolLM2 advising on 8 items × 3 conditions and judging 3 pairs × 2 orders and every arm of one item on two 1–5 rubrics" if "skipped" not in out
            else "SmolLM2 not installed (skipped)")
    row = (f"| `evalkit demo` end to end, fresh directory, {smol} | – | {cold:.0f} s first run (GGUF converted), "
           f"{warm:.0f} s with the converted copy cached | target ≤ 120 s on 2 cores |")
    print(row)
    if args.record:
        from benchmarks.record import record

        record("demo_time", row)


if __name__ == "__main__":
    main()
