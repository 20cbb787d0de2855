"""Figures (PNG and PDF): scores with CIs by condition, win-rate matrix, Bradley–Terry, agreement,
judge diagnostics, and gain errors against the spread between human engineers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COND_COLOURS = {"mix": "#9e9e9e", "stems": "#4c72b0", "stems+reference": "#dd8452"}
SIM_MARK = "SIMULATED raters"


def _save(fig, out: Path, name: str, simulated: bool = False) -> Path:
    if simulated:
        fig.text(0.99, 0.01, SIM_MARK, ha="right", va="bottom", fontsize=9, color="#c0392b", weight="bold")
    fig.tight_layout()
    png = out / f"{name}.png"
    fig.savefig(png, dpi=140)
    fig.savefig(out / f"{name}.pdf")
    plt.close(fig)
    return png


def scores_by_condition(df: pd.DataFrame, metric: str, out: Path, title: str) -> Path:
    d = df[df.metric == metric].sort_values("mean")
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * len(d)))
    y = np.arange(len(d))
    colours = [COND_COLOURS.get(c, "#555") for c in d.condition]
    ax.barh(y, d["mean"], color=colours, alpha=0.85)
    ax.errorbar(d["mean"], y, xerr=[d["mean"] - d.ci_low, d.ci_high - d["mean"]], fmt="none", ecolor="black", capsize=3)
    ax.set_yticks(y, [f"{s}\n({c})" for s, c in zip(d.system, d.condition, strict=True)], fontsize=8)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel(metric.replace("_", " ") + " (mean, 95% CI)")
    ax.set_title(title, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COND_COLOURS.values()]
    ax.legend(handles, COND_COLOURS.keys(), fontsize=7, frameon=False, loc="lower right")
    return _save(fig, out, f"scores_{metric}")


def win_matrix(m: pd.DataFrame, out: Path, simulated: bool) -> Path:
    m = m.set_index("system")
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    im = ax.imshow(m.to_numpy(float), cmap="RdBu", vmin=0, vmax=1)
    ax.set_xticks(range(len(m.columns)), m.columns, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(m.index)), m.index, fontsize=8)
    for i in range(len(m.index)):
        for j in range(len(m.columns)):
            v = m.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="row preferred over column")
    ax.set_title("Pairwise win rate (human raters)", fontsize=10)
    return _save(fig, out, "win_matrix", simulated)


def bradley_terry(bt: pd.DataFrame, out: Path, simulated: bool, name: str = "bradley_terry", title: str = "Bradley–Terry scores") -> Path:
    d = bt.sort_values("score")
    fig, ax = plt.subplots(figsize=(5.6, 0.6 + 0.4 * len(d)))
    y = np.arange(len(d))
    ax.errorbar(d.score, y, xerr=[d.score - d.ci_low, d.ci_high - d.score], fmt="o", capsize=3)
    ax.set_yticks(y, d.system, fontsize=8)
    ax.set_xlabel("log-strength (95% CI, bootstrap by participant)")
    ax.set_title(title, fontsize=10)
    return _save(fig, out, name, simulated)


def agreement(agree: pd.DataFrame, ceiling: pd.DataFrame | None, out: Path, simulated: bool) -> Path:
    fig, ax = plt.subplots(figsize=(5.6, 3.2))
    x = np.arange(len(agree))
    ax.bar(x - 0.18, agree.agreement_with_tie, 0.36, label="with ties")
    ax.bar(x + 0.18, agree.agreement_without_tie, 0.36, label="without ties")
    if ceiling is not None and len(ceiling):
        ax.axhline(ceiling.agreement_with_tie.iloc[0], ls="--", color="C0", lw=1, label="human–human (with ties)")
        ax.axhline(ceiling.agreement_without_tie.iloc[0], ls="--", color="C1", lw=1, label="human–human (without)")
    ax.set_xticks(x, agree.judge, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("agreement with human votes")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Judge vs human agreement", fontsize=10)
    return _save(fig, out, "judge_human_agreement", simulated)


def diagnostics(diag: pd.DataFrame, out: Path) -> Path:
    cols = ["parse_failure_rate", "swap_consistency", "first_position_rate"]
    fig, ax = plt.subplots(figsize=(5.6, 3.0))
    x = np.arange(len(diag))
    for k, c in enumerate(cols):
        ax.bar(x + (k - 1) * 0.25, diag[c].fillna(0), 0.25, label=c.replace("_", " "))
    ax.set_xticks(x, diag.judge, fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Judge diagnostics", fontsize=10)
    return _save(fig, out, "judge_diagnostics")


def gain_errors(errors: pd.DataFrame, out: Path, spread_db: float) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for system, g in errors.groupby("system"):
        ax.hist(g.error_db.abs(), bins=np.arange(0, 13, 0.5), histtype="step", lw=1.5, label=system)
    ax.axvline(spread_db, color="black", ls="--", lw=1)
    ax.text(spread_db, ax.get_ylim()[1] * 0.95, f" {spread_db} dB: spread between engineers", fontsize=8, va="top")
    ax.set_xlabel("|claimed − true| gain change per stem (dB)")
    ax.set_ylabel("claims")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Gain errors of quantified advice", fontsize=10)
    return _save(fig, out, "gain_errors")


__all__ = ["agreement", "bradley_terry", "diagnostics", "gain_errors", "scores_by_condition", "win_matrix"]
