"""Write one benchmark's rows into benchmarks/RESULTS.md, replacing its previous rows in place.

Each row ends with an HTML comment naming its benchmark, so the Markdown table stays one table.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
DEFAULT = "# Benchmark results\n\n| what | baseline or peer | evalkit | ratio / target |\n|---|---|---|---|\n"


def record(name: str, rows: str) -> None:
    tag = f"<!-- {name} -->"
    lines = (RESULTS.read_text() if RESULTS.exists() else DEFAULT).splitlines()
    new = [f"{r.rstrip()} {tag}" for r in rows.splitlines() if r.strip()]
    at = next((k for k, line in enumerate(lines) if line.endswith(tag)), None)
    lines = [line for line in lines if not line.endswith(tag)]
    if at is None:
        last_row = max((k for k, line in enumerate(lines) if line.startswith("|")), default=len(lines) - 1)
        at = last_row + 1
    lines[at:at] = new
    RESULTS.write_text("\n".join(lines) + "\n")
