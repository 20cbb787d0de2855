"""Tables as CSV (every number), Markdown (the report) and LaTeX booktabs (paste into the paper).
Every table carries the run's provenance: columns in CSV, a footnote in Markdown, a caption in LaTeX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def fmt_cell(v) -> str:
    if isinstance(v, float | np.floating):
        if np.isnan(v):
            return "–"
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def to_markdown(df: pd.DataFrame, max_rows: int = 40) -> str:
    if df.empty:
        return "_(no rows)_"
    shown = df.head(max_rows)
    lines = ["| " + " | ".join(map(str, shown.columns)) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(fmt_cell(v).replace("|", "\\|") for v in row) + " |" for row in shown.itertuples(index=False)]
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more rows in the CSV._")
    return "\n".join(lines)


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"), ("_", r"\_"),
                 ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}")):
        s = s.replace(a, b)
    return s


def to_latex(df: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table (no pandas Styler/jinja dependency in the output)."""
    cols = list(df.columns)
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in cols)
    out = [r"\begin{table}[t]", r"\centering", rf"\caption{{{_tex_escape(caption)}}}", rf"\label{{tab:{label}}}",
           rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(_tex_escape(str(c)) for c in cols) + r" \\", r"\midrule"]
    out += [" & ".join(_tex_escape(fmt_cell(v)) for v in row) + r" \\" for row in df.itertuples(index=False)]
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def write_tables(tables: dict[str, pd.DataFrame], out: Path, provenance: dict, simulated: set[str]) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in tables.items():
        csv = df.copy()
        csv["testset_checksum"] = provenance.get("testset_checksum")
        csv["provenance"] = provenance.get("hash")
        if name in simulated:
            csv["simulated_raters"] = True
        paths[name] = out / f"{name}.csv"
        csv.to_csv(paths[name], index=False)
        caption = name.replace("_", " ") + (" (SIMULATED raters)" if name in simulated else "") + \
            f". Test set {provenance.get('testset_checksum')}, provenance {provenance.get('hash')}."
        (out / f"{name}.tex").write_text(to_latex(df, caption, name))
    return paths


__all__ = ["to_latex", "to_markdown", "write_tables"]
