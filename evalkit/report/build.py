"""`evalkit report`: Markdown and self-contained HTML, LaTeX tables, CSVs of every number, and figures."""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pandas as pd

from evalkit.report import figures
from evalkit.report.analysis import ENGINEER_SPREAD_DB, Analysis, analyze
from evalkit.report.tables import _fmt, to_markdown, write_tables
from evalkit.stats.preference import wilson_interval
from evalkit.store import Store

TEMPLATES = Path(__file__).parent / "templates"
HUMAN_TABLES = {"human_win_rates", "human_pairwise_tests", "human_bradley_terry", "human_win_matrix", "human_agreement",
                "judge_human_agreement", "judge_human_ranking", "judge_human_item_correlation", "human_condition_contrast"}
HUMAN_FIGURES = {"win_matrix", "bradley_terry", "judge_human_agreement"}
METRIC_LABEL = {"balance_improvement_db": "balance improvement (dB, reference judge)",
                "direction_accuracy": "direction accuracy (reference judge)", "specificity": "specificity (quantified claims)"}


def _html_table(df: pd.DataFrame, max_rows: int = 40) -> str:
    if df.empty:
        return "<p><i>(no rows)</i></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df.head(max_rows).itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def human_condition_contrast(human: pd.DataFrame, conditions: dict[str, str]) -> pd.DataFrame:
    """Human votes between a stems+reference system and a mix-only system: win rate with Wilson CI."""
    from scipy.stats import binomtest

    rows = []
    for better, worse in (("stems+reference", "mix"), ("stems", "mix"), ("stems+reference", "stems")):
        wins = losses = ties = 0
        for r in human.itertuples(index=False):
            ca, cb = conditions.get(r.system_a), conditions.get(r.system_b)
            if {ca, cb} != {better, worse}:
                continue
            a_is_better = ca == better
            if r.choice == "tie":
                ties += 1
            elif (r.choice == "a") == a_is_better:
                wins += 1
            else:
                losses += 1
        n = wins + losses
        if n + ties == 0:
            continue
        lo, hi = wilson_interval(wins + 0.5 * ties, n + ties)
        rows.append({"condition": better, "versus": worse, "wins": wins, "losses": losses, "ties": ties,
                     "win_rate": (wins + 0.5 * ties) / (n + ties), "ci_low": lo, "ci_high": hi,
                     "p_value": binomtest(wins, n, 0.5).pvalue if n else 1.0})
    return pd.DataFrame(rows)


def _headline(an: Analysis) -> list[dict]:
    out = []
    cc = an.tables.get("condition_contrasts", pd.DataFrame())
    for metric, label in METRIC_LABEL.items():
        row = cc[(cc.metric == metric) & (cc.condition == "stems+reference") & (cc.versus == "mix")] if len(cc) else cc
        if not len(row):
            continue
        r = row.iloc[0]
        verdict = "win" if r.ci_low > 0 else ("lose" if r.ci_high < 0 else "tie")
        word = {"win": "stems+reference beat mix only", "lose": "mix only beat stems+reference", "tie": "no clear difference"}[verdict]
        out.append({"metric": label, "verdict": verdict,
                    "text": f"{word}: difference {r.mean_difference:+.2f} (95% CI {r.ci_low:+.2f} to {r.ci_high:+.2f}) over {r.n_items} items"})
    hc = an.tables.get("human_condition_contrast", pd.DataFrame())
    if len(hc) and len(hc[(hc.condition == "stems+reference") & (hc.versus == "mix")]):
        r = hc[(hc.condition == "stems+reference") & (hc.versus == "mix")].iloc[0]
        verdict = "win" if r.ci_low > 0.5 else ("lose" if r.ci_high < 0.5 else "tie")
        sim = " (SIMULATED raters)" if an.simulated_humans else ""
        out.append({"metric": f"human preference{sim}", "verdict": verdict,
                    "text": f"stems+reference preferred in {r.win_rate:.0%} of votes against mix only (95% CI {r.ci_low:.0%} to {r.ci_high:.0%}, p = {r.p_value:.3g})"})
    diag = an.tables.get("judge_diagnostics", pd.DataFrame()).set_index("judge") if len(an.tables.get("judge_diagnostics", [])) else None
    for r in an.tables.get("judge_human_agreement", pd.DataFrame()).itertuples(index=False):
        sim = " (SIMULATED raters)" if an.simulated_humans else ""
        text = f"agreement {r.agreement_with_tie:.0%} with ties, {_fmt(r.agreement_without_tie)} without; Cohen's κ {_fmt(r.cohen_kappa)}"
        swap = diag.loc[r.judge, "swap_consistency"] if diag is not None and r.judge in diag.index else float("nan")
        if swap == swap and swap < 0.5:
            text += f"; its verdicts flip with the order shown (swap consistency {swap:.2f}, see Judge diagnostics)"
        out.append({"metric": f"judge {r.judge} vs humans{sim}", "verdict": "tie", "text": text})
    return out


def write_report(store: Store, out: str | Path, human: pd.DataFrame | None = None, *, bootstrap: int = 1000, seed: int = 0) -> Path:
    out = Path(out)
    fig_dir, tab_dir, rep_dir = out / "figures", out / "tables", out / "report"
    for d in (fig_dir, tab_dir, rep_dir):
        d.mkdir(parents=True, exist_ok=True)
    an = analyze(store, human, bootstrap=bootstrap, seed=seed)
    if human is not None and len(human):
        conditions = {a.system: a.condition.value for a in store.advice()}
        an.tables["human_condition_contrast"] = human_condition_contrast(human, conditions)
    simulated = HUMAN_TABLES if an.simulated_humans else set()
    write_tables(an.tables, tab_dir, an.provenance, simulated)
    (tab_dir / "provenance.json").write_text(json.dumps(an.provenance, indent=2))

    t = an.tables
    figs: dict[str, Path] = {}
    if "reference_scores" in t:
        for m in ("balance_improvement_db", "direction_accuracy", "specificity"):
            figs[f"scores_{m}"] = figures.scores_by_condition(t["reference_scores"], m, fig_dir, METRIC_LABEL[m] + " by system and condition")
    if "gain_errors" in t and len(t["gain_errors"]):
        figs["gain_errors"] = figures.gain_errors(t["gain_errors"], fig_dir, ENGINEER_SPREAD_DB)
    if len(t.get("judge_diagnostics", [])):
        figs["judge_diagnostics"] = figures.diagnostics(t["judge_diagnostics"], fig_dir)
    if an.has_humans:
        figs["win_matrix"] = figures.win_matrix(t["human_win_matrix"], fig_dir, an.simulated_humans)
        figs["bradley_terry"] = figures.bradley_terry(t["human_bradley_terry"], fig_dir, an.simulated_humans)
        if "judge_human_agreement" in t:
            figs["judge_human_agreement"] = figures.agreement(t["judge_human_agreement"], t.get("human_agreement"), fig_dir, an.simulated_humans)

    def table(name: str, title: str) -> dict | None:
        if name not in t:
            return None
        return {"name": name, "title": title, "markdown": to_markdown(t[name]), "html": _html_table(t[name]), "simulated": name in simulated}

    def fig(name: str) -> dict | None:
        if name not in figs:
            return None
        return {"name": name, "b64": base64.b64encode(figs[name].read_bytes()).decode()}

    sections = [
        ("Reference judge: advice against the true gains", "The reference judge parses each advice into claims and applies them: "
         "balance improvement is the drop in per-stem loudness error (dB RMS, level-independent). Oracle is an upper bound, generic a lower bound.",
         ["scores_balance_improvement_db", "scores_direction_accuracy", "scores_specificity"],
         [("condition_contrasts", "Condition contrasts (paired by item, bootstrap 95% CI)"), ("reference_scores", "Per system and condition"),
          ("reference_paired_tests", "Paired Wilcoxon tests on balance improvement (Holm)"), ("reference_friedman", "Friedman test")]),
        ("Gain errors", f"How far quantified claims land from the truth, against the ≈{ENGINEER_SPREAD_DB} dB spread between human engineers' relative stem gains.",
         ["gain_errors"], []),
        ("LLM judges: rubric scores", None, [], [("rubric_scores", "Rubric scores (median over samples), bootstrap 95% CI")]),
        ("Human preferences", None, ["bradley_terry", "win_matrix"],
         [("human_condition_contrast", "Condition contrast in human votes"), ("human_bradley_terry", "Bradley–Terry (bootstrap by participant)"),
          ("human_pairwise_tests", "Pairwise sign tests (ties dropped; Holm and BH)"), ("human_win_rates", "Win rates (ties half, Wilson CI)")]),
        ("Judges against humans", "Vote agreement follows MT-Bench's definitions; human–human agreement is the ceiling.",
         ["judge_human_agreement"],
         [("judge_human_agreement", "Judge–human vote agreement"), ("human_agreement", "Human–human agreement (ceiling)"),
          ("judge_human_ranking", "System ranking correlation, judge vs human BT (bootstrap CI over items)"),
          ("judge_human_item_correlation", "Item-level correlation of judge margin and human preference share")]),
        ("Judge diagnostics", "Unscored judgments are kept with their raw output and counted here, never coerced into a score.",
         ["judge_diagnostics"], [("judge_diagnostics", "Diagnostics per judge"), ("judge_agreement", "Agreement between judges (Krippendorff's α)")]),
        ("Advice generation", None, [], [("advice_counts", "Advice per system"), ("advice_failures", "Recorded generation failures")]),
    ]
    ctx_sections = []
    for title, intro, fig_names, table_specs in sections:
        tabs = [x for x in (table(n, tt) for n, tt in table_specs) if x]
        fs = [x for x in (fig(n) for n in fig_names) if x]
        if not tabs and not fs:
            continue
        human_sec = any(x["name"] in HUMAN_TABLES for x in tabs) or any(f["name"] in HUMAN_FIGURES for f in fs)
        ctx_sections.append({"title": title, "intro": intro, "tables": tabs, "figures": fs, "simulated": human_sec and an.simulated_humans})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html.j2"]))
    ctx = {"generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "prov": an.provenance, "simulated": an.simulated_humans,
           "headline": _headline(an), "notes": an.notes, "sections": ctx_sections,
           "prov_json": json.dumps(an.provenance, indent=2, default=str)}
    (rep_dir / "report.md").write_text(env.get_template("report.md.j2").render(**ctx))
    html_ctx = {**ctx, "sections": [{**s, "tables": [{**x, "html": jinja2.utils.markupsafe.Markup(x["html"])} for x in s["tables"]]}
                                    for s in ctx_sections]}
    (rep_dir / "report.html").write_text(env.get_template("report.html.j2").render(**html_ctx))
    return rep_dir / "report.html"


__all__ = ["human_condition_contrast", "write_report"]
