"""Figures (PNG and PDF): scores with CIs by condition, win-rate matrix, Bradley–Terry, agreement,
judge diagnostics, and gain errors against the spread between human engineers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COND_COLOURS = {"mix": "#9e9e9e", "stems": "#4c72b0", "stems+reference": "#dd8452", "stems+own-reference": "#c44e52"}
SIM_MARK = "SIMULATED raters"
AXIS_LABEL = {"balance_improvement_db": "balance improvement (dB)", "direction_accuracy": "direction accuracy (share of disturbed stems)",
              "specificity": "specificity (quantified claims)", "db_error": "|claimed − true| (dB)", "score": "rubric score (1–5)",
              "wrong_claims": "wrong claims (count)", "missed_stems": "missed stems (count)"}


def raters(simulated: bool) -> str:
    return "SIMULATED raters" if simulated else "human raters"


def _save(fig, out: Path, name: str, simulated: bool = False) -> Path:
    if simulated:
        fig.text(0.99, 0.01, SIM_MARK, ha="right", va="bottom", fontsize=9, color="#c0392b", weight="bold")
    fig.tight_layout()
    png = out / f"{name}.png"
    fig.savefig(png, dpi=140)
    fig.savefig(out / f"{name}.pdf")
    plt.close(fig)
    return png


def _interval_marks(ax, d: pd.DataFrame, y: np.ndarray, value: str = "mean") -> None:
    """Error bars where an interval exists; a zero-width one is a point marked 'no variation', a missing one says so."""
    has = d.ci_low.notna() & (d.ci_high > d.ci_low)
    ax.errorbar(d[value][has], y[has.to_numpy()], xerr=[(d[value] - d.ci_low)[has], (d.ci_high - d[value])[has]], fmt="none",
                ecolor="black", capsize=3)
    for yi, r in zip(y, d.itertuples(index=False), strict=True):
        v = getattr(r, value)
        if r.ci_low == r.ci_low and r.ci_low == r.ci_high:
            ax.plot([v], [yi], "o", mfc="white", mec="black", ms=5)
            ax.annotate("no variation", (v, yi), xytext=(7, 0), textcoords="offset points", va="center", fontsize=7, color="0.35")
        elif r.ci_low != r.ci_low:
            k = getattr(r, "n_songs", None)
            why = f"no CI: {int(k)} songs" if k == k and k is not None else "no CI"
            ax.annotate(why, (v, yi), xytext=(7, 0), textcoords="offset points", va="center", fontsize=7, color="0.35")


def scores_by_condition(df: pd.DataFrame, metric: str, out: Path, title: str, bounds: list[str] | tuple = ()) -> Path:
    """Per arm, with its n; the labelled bounds (oracle, generic) drawn apart below a rule, hatched: they are scale
    marks, never compared with the conditions."""
    d = df[df.metric == metric].copy()
    d["is_bound"] = d.system.isin(bounds)
    d = d.sort_values(["is_bound", "system", "condition"], ascending=[True, False, False])[::-1]
    n_bounds = int(d.is_bound.sum())
    gap = 1 if 0 < n_bounds < len(d) else 0
    fig, ax = plt.subplots(figsize=(6.8, 0.8 + 0.45 * (len(d) + gap)))
    y = np.arange(len(d)) + np.where(d.is_bound, 0, gap)  # a blank row between the bounds and the conditions
    colours = [COND_COLOURS.get(c, "#555") for c in d.condition]
    ax.barh(y, d["mean"], color=colours, alpha=0.85, hatch=["//" if b else "" for b in d.is_bound], edgecolor="white")
    _interval_marks(ax, d, y)
    labels = [f"{s} ({c})\nn = {int(n)}" for s, c, n in zip(d.system, d.condition, d.n, strict=True)]
    ax.set_yticks(y, labels, fontsize=7)
    if gap:
        ax.axhline(n_bounds, color="0.3", lw=0.8, ls=":")
        ax.text(0.01, n_bounds - 0.15, "below: bounds, for scale (not tested)", transform=ax.get_yaxis_transform(), ha="left",
                va="top", fontsize=7, color="0.3")
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel(AXIS_LABEL.get(metric, metric.replace("_", " ")) + ": mean, 95% CI (songs as clusters)")
    ax.set_title(title, fontsize=10)
    shown = [c for c in COND_COLOURS if c in set(d.condition)]
    handles = [plt.Rectangle((0, 0), 1, 1, color=COND_COLOURS[c]) for c in shown]
    ax.legend(handles, shown, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, out, f"scores_{metric}")


def win_matrix(m: pd.DataFrame, out: Path, simulated: bool) -> Path:
    m = m.set_index("system")
    fig, ax = plt.subplots(figsize=(1.6 + 0.75 * len(m.columns), 1.2 + 0.6 * len(m.index)))
    values = np.ma.masked_invalid(m.to_numpy(float))
    cmap = plt.get_cmap("RdBu").copy()
    cmap.set_bad("#e0e0e0")  # pairs nobody compared: grey, not a colour that reads as 50%
    im = ax.imshow(values, cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks(range(len(m.columns)), m.columns, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(m.index)), m.index, fontsize=8)
    for i in range(len(m.index)):
        for j in range(len(m.columns)):
            v = m.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8)
            elif i != j:
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="#666")
    fig.colorbar(im, ax=ax, label="share of votes: row preferred over column (ties half)")
    ax.set_title(f"Pairwise win rate ({raters(simulated)})", fontsize=10)
    return _save(fig, out, "win_matrix", simulated)


def bradley_terry(bt: pd.DataFrame, out: Path, simulated: bool, name: str = "bradley_terry", title: str = "Bradley–Terry scores") -> Path:
    d = bt.sort_values("score")
    fig, ax = plt.subplots(figsize=(5.6, 0.6 + 0.4 * len(d)))
    y = np.arange(len(d))
    # Interval as drawn segments: a percentile interval need not straddle the estimate, and a study stopped
    # early has systems without one (n/a), neither of which an error bar can show.
    ax.hlines(y, d.ci_low, d.ci_high, color="C0", lw=1.5)
    ax.plot(d.score, y, "o", color="C0")
    for k, r in enumerate(d.itertuples(index=False)):
        if r.ci_low != r.ci_low:
            ax.annotate("CI n/a", (r.score, k), xytext=(6, 0), textcoords="offset points", va="center", fontsize=7, color="0.4")
    ax.set_yticks(y, d.system, fontsize=8)
    ax.set_xlabel("log-strength (95% CI, bootstrap by participant)")
    ax.set_title(f"{title} ({raters(simulated)})", fontsize=10)
    return _save(fig, out, name, simulated)


def agreement(agree: pd.DataFrame, ceiling: pd.DataFrame | None, out: Path, simulated: bool) -> Path:
    """Vote agreement per judge (n votes under each), the human–human ceiling as lines, the legend outside the data.
    A judge whose 'raters' were simulated from it is hatched and labelled circular."""
    who = "SIMULATED raters" if simulated else "human raters"
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    x = np.arange(len(agree))
    circular = agree.get("simulated_from_this_judge", pd.Series(False, index=agree.index)).fillna(False).astype(bool).to_numpy()
    hatch = ["xx" if c else "" for c in circular]
    ax.bar(x - 0.18, agree.agreement_with_tie, 0.36, label="with ties", color="C0", hatch=hatch, edgecolor="white")
    ax.bar(x + 0.18, agree.agreement_without_tie, 0.36, label="without ties", color="C1", hatch=hatch, edgecolor="white")
    if ceiling is not None and len(ceiling):
        ax.axhline(ceiling.agreement_with_tie.iloc[0], ls="--", color="C0", lw=1, label=f"between {who} (with ties)")
        ax.axhline(ceiling.agreement_without_tie.iloc[0], ls=":", color="C1", lw=1.4, label=f"between {who} (without)")
    labels = [f"{j}\nn = {int(n)} votes" + ("\ncircular: raters\nsimulated from it" if c else "")
              for j, n, c in zip(agree.judge, agree.n, circular, strict=True)]
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"agreement with {who}' votes" if simulated else "agreement with human votes")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"Judge vs {who}: vote agreement", fontsize=10)
    return _save(fig, out, "judge_human_agreement", simulated)


def diagnostics(diag: pd.DataFrame, out: Path) -> Path:
    """Rates per judge, each judge's n under its name; a rate that does not apply to a judge (e.g. swap consistency
    of the reference judge, which sees no order) is written "n/a", never drawn as 0; a true 0 gets a visible marker."""
    cols = ["parse_failure_rate", "swap_consistency", "first_position_rate"]
    fig, ax = plt.subplots(figsize=(2.8 + 1.6 * len(diag), 3.2))
    x = np.arange(len(diag))
    for k, c in enumerate(cols):
        xs = x + (k - 1) * 0.27
        v = diag[c].to_numpy(float)
        ax.bar(xs, np.nan_to_num(v), 0.25, label=c.replace("_", " "), color=f"C{k}")
        for xi, vi in zip(xs, v, strict=True):
            if not np.isfinite(vi):
                ax.text(xi, 0.02, "n/a", ha="center", va="bottom", fontsize=7, rotation=90, color="#666")
            elif vi == 0:
                ax.plot([xi], [0], marker="v", color=f"C{k}", clip_on=False)
                ax.text(xi, 0.02, "0", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [f"{j}\nn = {int(n)} judgments" for j, n in zip(diag.judge, diag.judgments, strict=True)], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rate (0–1)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("Judge diagnostics (n/a: does not apply to that judge)", fontsize=10)
    return _save(fig, out, "judge_diagnostics")


def gain_errors(errors: pd.DataFrame, out: Path, spread_db: float | None = None, spread_source: str = "") -> Path:
    """|claimed − true| per quantified claim, as each system's share of its own claims (systems make
    different numbers of claims, so raw counts would not compare)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    bins = np.arange(0, 13, 1.0)
    for system, g in errors.groupby("system"):
        e = g.error_db.abs().clip(upper=12.0).to_numpy()
        ax.hist(e, bins=bins, weights=np.full(len(e), 1 / len(e)), histtype="step", lw=1.5, label=f"{system} (n={len(e)})")
    if spread_db is not None:
        ax.axvline(spread_db, color="black", ls="--", lw=1)
        ax.text(spread_db, ax.get_ylim()[1] * 0.95, f" {spread_db:.1f} dB: {spread_source}", fontsize=8, va="top")
    ax.set_xticks(bins)
    ax.set_xlabel("|claimed − true| gain change per stem (dB; last bin ≥ 11 dB)")
    ax.set_ylabel("share of the system's claims")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Gain errors of quantified advice (reference judge)", fontsize=10)
    return _save(fig, out, "gain_errors")


def contrasts(df: pd.DataFrame, out: Path, name: str, title: str, group: str | None = None) -> Path:
    """Forest plot of paired contrasts (mean difference, 95% CI); a missing CI is said, not drawn."""
    d = df.reset_index(drop=True)
    # every row names its own n: rows of one figure can cover different items (an LLM on 6, the analytic family on 32)
    labels = [(f"{r[group]} · {r.contrast}" if group else r.contrast) + f"  (n = {r.n_items} items, {r.n_songs} songs)"
              for _, r in d.iterrows()]
    fig, ax = plt.subplots(figsize=(8.0, 1.1 + 0.42 * len(d)))
    y = np.arange(len(d))[::-1]
    for yi, (_, r) in zip(y, d.iterrows(), strict=True):
        colour = COND_COLOURS.get(r.condition, "#555")
        note = None
        if not np.isfinite(r.ci_low):
            note = f"no CI: {r.n_songs} song(s)" if r.n_songs < 5 else "no CI"
        elif r.ci_low == r.ci_high:
            note = "no variation"  # a point, not a zero-width interval
        else:
            ax.plot([r.ci_low, r.ci_high], [yi, yi], color=colour, lw=2)
        if note:
            right = r.mean_difference <= 0  # write toward the middle of the plot, where there is room
            ax.annotate(note, (r.mean_difference, yi), xytext=(8 if right else -8, 0), textcoords="offset points",
                        fontsize=7, color="#666", ha="left" if right else "right", va="center")
        ax.plot([r.mean_difference], [yi], "o", color=colour, mfc="white" if note else colour)
    ax.axvline(0, color="black", lw=0.7)
    ax.set_yticks(y, labels, fontsize=8)
    metric = d.metric.iloc[0] if len(d) else ""
    ax.set_xlabel(f"difference in {AXIS_LABEL.get(metric, metric)}; 95% CI, songs as clusters")
    ax.set_title(title, fontsize=10)
    return _save(fig, out, name)


__all__ = ["agreement", "bradley_terry", "contrasts", "diagnostics", "gain_errors", "scores_by_condition", "win_matrix"]


def distance_vs_rating(mixes: list[dict], out: Path) -> Path:
    """Each mix's distance from the leave-one-out consensus against its mean listener rating, one colour per song."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    rated = [m for m in mixes if m["mean_rating"] is not None]
    songs = sorted({m["song"] for m in rated})
    cmap = plt.get_cmap("tab20")
    for k, song in enumerate(songs):
        g = [m for m in rated if m["song"] == song]
        x, y = np.array([m["distance_db"] for m in g]), np.array([m["mean_rating"] for m in g])
        ax.scatter(x, y, color=cmap(k % 20), s=28, label=f"{song} ({len(g)})")
        if len(g) >= 3 and np.ptp(x) > 0:
            b, a = np.polyfit(x, y, 1)
            xs = np.linspace(x.min(), x.max(), 2)
            ax.plot(xs, a + b * xs, color=cmap(k % 20), lw=1, alpha=0.7)
    ax.set_xlabel("distance from the other engineers' median balance (dB RMS)")
    ax.set_ylabel("mean listener rating (0–1, real listeners)")
    ax.set_title(f"Distance from consensus vs rating ({len(rated)} mixes, {len(songs)} songs)")
    if len(songs) <= 14:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    return _save(fig, out, "distance_vs_rating")


def agreement_by_band(bands: list[dict], stems: list[dict], out: Path) -> Path:
    """Share of listener comment claims that agree with the truth, by |deviation| band and by stem, with CIs."""
    rows = [r for r in bands + stems if r["claims"]]
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * max(len(rows), 2) + 1.4))
    for k, r in enumerate(rows):
        colour = "#4c72b0" if r in bands else "#dd8452"
        if r["ci"]:
            ax.plot(r["ci"], [k, k], color=colour, lw=2)
        ax.plot([r["agreement"]], [k], "o", color=colour, mfc=colour if r["ci"] else "white")
        ax.annotate(f"n = {r['claims']} claims, {r['mixes']} mixes" + ("" if r["ci"] else " (no CI: too few mixes)"),
                    (1.01, k), xycoords=("axes fraction", "data"), fontsize=7, va="center")
    ax.axvline(0.5, color="#888", ls="--", lw=1)
    ax.set_yticks(range(len(rows)), [r["group"] for r in rows])
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("comment claims agreeing with the truth (dashed: chance)")
    ax.set_title("Real listeners' comments against the consensus (95% CI, clustered by mix)")
    return _save(fig, out, "agreement_by_band")
