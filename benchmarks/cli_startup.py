"""How fast the command line answers before it does any work: `evalkit --help`, a usage error caught by the
option parser (`data synth --songs 0`), and bad input caught by evalkit itself (a missing systems or judge file),
each against the floor of `python -c "import typer"` on the same machine in the same run.

    python -m benchmarks.cli_startup [--repeats N] [--record]

Wall time of a fresh interpreter, median of N runs each (after one warm-up run that fills the OS file cache).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_S = 0.5  # the "well under half a second"


def _wall(argv: list[str], expect_rc: int, repeats: int) -> float:
    times = []
    for k in range(repeats + 1):
        t = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t
        if proc.returncode != expect_rc:
            raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}, expected {expect_rc}\n{proc.stderr[-1000:]}")
        if k:  # the first run warms the file cache
            times.append(wall)
    return statistics.median(times)


def measure(repeats: int) -> tuple[float, dict[str, float]]:
    cli = [sys.executable, "-m", "evalkit.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "`evalkit --help`": (cli + ["--help"], 0),
            "usage error (`data synth --songs 0`)": (cli + ["data", "synth", "--songs", "0", "--out", f"{tmp}/t"], 2),
            "missing systems file (`generate`)": (cli + ["generate", "--testset", tmp, "--systems", f"{tmp}/none.yaml",
                                                         "--out", f"{tmp}/run"], 2),
            "missing judge file (`judge`)": (cli + ["judge", "--run", f"{tmp}/run", "--judge", f"{tmp}/none.yaml"], 2),
        }
        floor = _wall([sys.executable, "-c", "import typer"], 0, repeats)
        return floor, {name: _wall(argv, rc, repeats) for name, (argv, rc) in cases.items()}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cli_startup", description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    floor, cases = measure(args.repeats)
    rows = "\n".join(f"| command line answers: {name}, fresh interpreter (median of {args.repeats}) | "
                     f"`python -c \"import typer\"` {floor * 1000:.0f} ms | {t * 1000:.0f} ms | "
                     f"{t / floor:.2f}× the floor; target < {TARGET_S * 1000:.0f} ms |" for name, t in cases.items())
    print(rows)
    if args.record:
        from benchmarks.record import record

        record("cli_startup", rows)


if __name__ == "__main__":
    main()
