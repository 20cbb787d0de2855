"""End-to-end time of `evalkit demo` (fresh output directory), as a user runs it.

    python -m benchmarks.demo_time [--record]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "demo", "--out", f"{tmp}/demo", "--quiet"], capture_output=True, text=True)
        wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    smol = "with SmolLM2 judging 8 pairs × 2 orders" if "skipped" not in proc.stdout else "SmolLM2 not installed (skipped)"
    row = f"| `evalkit demo` end to end, fresh directory, {smol} | – | {wall:.0f} s | target ≤ 120 s on 2 cores |"
    print(row)
    if args.record:
        from benchmarks.record import record

        record("demo_time", row)


if __name__ == "__main__":
    main()
