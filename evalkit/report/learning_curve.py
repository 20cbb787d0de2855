"""The learning curve: balance improvement against training steps, per condition, for systems made from
``checkpoints:`` (the same model after N steps; step 0 is the base model). Each point is the arm's mean with the
report's song-clustered interval (CV3 t), so the curve's uncertainty follows what was sampled."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["model", "training_steps", "system", "condition", "n", "n_songs", "mean", "ci_low", "ci_high", "cut_at_max_tokens"]


def learning_curve(scores: pd.DataFrame | None, systems: list[dict], counts: pd.DataFrame | None = None,
                   metric: str = "balance_improvement_db") -> pd.DataFrame:
    """One row per (checkpointed model, steps, condition) from the report's per-arm scores."""
    steps = {s["name"]: (s.get("checkpoint_of"), s.get("training_steps")) for s in systems if s.get("training_steps") is not None}
    if scores is None or not len(scores) or not steps:
        return pd.DataFrame(columns=COLUMNS)
    d = scores[(scores.metric == metric) & scores.system.isin(steps)].copy()
    d["model"] = d.system.map(lambda s: steps[s][0])
    d["training_steps"] = d.system.map(lambda s: steps[s][1])
    cut = counts.set_index(["system", "condition"]).cut_at_max_tokens if counts is not None and len(counts) else None
    d["cut_at_max_tokens"] = [int(cut.get((s, c), 0)) if cut is not None else 0 for s, c in zip(d.system, d.condition, strict=True)]
    return d.sort_values(["model", "condition", "training_steps"])[COLUMNS].reset_index(drop=True)


def learning_curve_figure(curve: pd.DataFrame, out: Path, others: pd.DataFrame | None = None) -> Path:
    """Per checkpointed model, a line per condition; ``others`` (the report's per-arm scores of the systems that are not
    checkpoints) are drawn as dashed levels in the condition's colour, so the curve reads against the analytic family
    and the bounds."""
    from evalkit.report.figures import COND_COLOURS, _save, plt

    models = sorted(curve.model.unique())
    fig, axes = plt.subplots(1, len(models), figsize=(6.4 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        m = curve[curve.model == model]
        span = max(1, int(m.training_steps.max()))
        for k, (cond, d) in enumerate(m.groupby("condition", sort=False)):
            x = d.training_steps.to_numpy() + (k - 1) * span * 0.008  # a little apart, so intervals do not hide each other
            colour = COND_COLOURS.get(cond, "#555")
            n = f"{int(d.n.min())}" if d.n.min() == d.n.max() else f"{int(d.n.min())}–{int(d.n.max())}"
            ax.plot(x, d["mean"], "-o", color=colour, label=f"{cond} (n = {n} items)", ms=4)
            has = d.ci_low.notna()
            ax.errorbar(x[has.to_numpy()], d["mean"][has], yerr=[(d["mean"] - d.ci_low)[has], (d.ci_high - d["mean"])[has]],
                        fmt="none", ecolor=colour, capsize=3, alpha=0.8)
        ax.axhline(0, color="black", lw=0.6)
        if others is not None and len(others):
            for r in others.itertuples():
                style = ":" if r.condition not in COND_COLOURS or r.condition == "stems+own-reference" else "--"
                ax.axhline(r.mean, color=COND_COLOURS.get(r.condition, "#555"), lw=0.9, ls=style, alpha=0.7)
                ax.annotate(f"{r.system} ({r.condition})", (1.0, r.mean), xycoords=("axes fraction", "data"), fontsize=6,
                            color="0.3", ha="right", va="bottom")
        ax.set_xlabel("training steps (0 = the base model)")
        ax.set_ylabel("balance improvement (dB): mean, 95% CI\n(songs as clusters)")
        ax.set_title(f"{model}: learning curve on the held-out items", fontsize=10)
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, out, "learning_curve")


__all__ = ["learning_curve", "learning_curve_figure"]
