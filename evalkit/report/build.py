"""`evalkit report`: Markdown and self-contained HTML, LaTeX tables, CSVs of every number, and figures."""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pandas as pd

from evalkit.judging.reference import REFERENCE_JUDGE
from evalkit.report import figures
from evalkit.report.analysis import Analysis, analyze, engineer_spread
from evalkit.report.sections import (
    DISPLAY_COLUMNS,
    HUMAN_FIGURES,
    HUMAN_TABLES,
    METRIC_LABEL,
    SECTIONS,
    check_declared,
    computed_tables,
    load_plugins,
)
from evalkit.report.tables import fmt_cell, to_markdown, write_tables
from evalkit.stats.intervals import too_few_clusters
from evalkit.store import Store

TEMPLATES = Path(__file__).parent / "templates"
def _html_table(df: pd.DataFrame, max_rows: int = 40) -> str:
    if df.empty:
        return "<p><i>(no rows)</i></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt_cell(v))}</td>" for v in row) + "</tr>"
                   for row in df.head(max_rows).itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _shown(name: str, df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in DISPLAY_COLUMNS.get(name, df.columns) if c in df.columns]
    return df[cols]


def _p(p: float) -> str:
    """A p-value as the report prints it: never 0 (a p so small the floating point holds no more is "< 1e-16")."""
    if p != p:
        return "n/a"
    return f"= {p:.2g}" if p >= 0.001 else ("< 0.001" if p >= 1e-16 else "< 1e-16")


def _verdict(estimate: float, p_adjusted: float, null: float = 0.0) -> str:
    """Green or red only where the family-wise adjusted test says so; everything else reads as no clear difference."""
    if p_adjusted != p_adjusted or p_adjusted >= 0.05:
        return "tie"
    return "win" if estimate > null else "lose"


def _ci(lo: float, hi: float, fmt: str = "+.2f", why: str = "too few songs for an interval") -> str:
    if lo != lo:
        return why
    return f"no variation: {lo:{fmt}}" if lo == hi else f"95% CI {lo:{fmt}} to {hi:{fmt}}"


def _rank_biserial(r) -> str:
    """The effect size with its CI, or why it has none (every paired difference zero: no ranks to compare)."""
    if r.rank_biserial != r.rank_biserial:
        return "rank-biserial r undefined (every paired difference is zero)" if r.n_songs >= 2 else \
            "rank-biserial r not estimable (fewer than 2 songs)"
    return f"rank-biserial r = {r.rank_biserial:+.2f} ({_ci(r.rb_ci_low, r.rb_ci_high, why=too_few_clusters(r.n_songs))})"


def _headline_judge(an: Analysis) -> list[dict]:
    out = []
    pc = an.tables.get("primary_contrasts", pd.DataFrame())
    for r in pc.itertuples(index=False):
        unit = " dB" if r.metric.endswith("_db") else ""
        out.append({"metric": f"{r.contrast} ({METRIC_LABEL.get(r.metric, r.metric)})",
                    "verdict": _verdict(r.mean_difference, r.p_adjusted),
                    "text": f"difference {r.mean_difference:+.2f}{unit} ({_ci(r.ci_low, r.ci_high, why=too_few_clusters(r.n_songs))}, "
                            "songs as clusters); "
                            f"{_rank_biserial(r)}; "
                            f"p {_p(r.p_value)}, {an.plan.multiplicity}-adjusted p {_p(r.p_adjusted)} over the primary family of {len(pc)}; "
                            f"n = {r.n_items} items from {r.n_songs} songs"})
    return out


def _human_test_text(r) -> str:
    """The primary human test of one contrast in words, the other two tests beside it, each named."""
    sign = f"participant-level sign test p {_p(r.p_sign)}"
    if r.primary_test == "mixed model":
        main = (f"mixed model (participant and item intercepts): log-odds {r.mm_log_odds:+.2f}, P({r.system_a} wins) "
                f"{r.mm_p_win:.0%} ({_ci(r.mm_p_win_ci_low, r.mm_p_win_ci_high, '.0%')}), p {_p(r.p_value)} (Holm p "
                f"{_p(r.p_holm)}); {sign}")
    else:
        main = f"{sign} (Holm p {_p(r.p_holm)}; no mixed model: {r.mm_note})"
    return f"{main}; vote-level binomial p {_p(r.p_value_votes)} (treats votes as independent)"


def _headline_human(an: Analysis) -> list[dict]:
    out = []
    sim = " (SIMULATED raters)" if an.simulated_humans else ""
    for r in an.tables.get("human_condition_contrasts", pd.DataFrame()).itertuples(index=False):
        out.append({"metric": f"{r.contrast}: human preference{sim}", "verdict": _verdict(r.win_rate_a, r.p_holm, 0.5),
                    "text": f"{r.system_a} preferred over {r.system_b} in {r.win_rate_a:.0%} of votes (ties half; "
                            f"{_ci(r.ci_low, r.ci_high, '.0%', why=too_few_clusters(r.n_participants, 'participants'))}, participants as "
                            f"clusters); {_human_test_text(r)}; "
                            f"n = {r.votes} votes from {r.n_participants} participants "
                            f"on {r.n_items} items from {r.n_songs} songs"})
    return out


def _headline_bounds(an: Analysis) -> list[dict]:
    """The labelled bounds beside the contrasts, for scale (never tested against anything)."""
    scores, systems = an.tables.get("reference_scores", pd.DataFrame()), an.bounds
    if not len(scores) or not systems:
        return []
    rows = scores[(scores.metric == an.plan.primary_metric) & scores.system.isin(systems)]
    parts = [f"{r.system} ({r.condition}) {r.mean:+.2f} ({_ci(r.ci_low, r.ci_high, why=too_few_clusters(r.n_songs))}, n = {r.n})"
             for r in rows.itertuples(index=False)]
    return [{"metric": "bounds, for scale (not tested)", "verdict": "tie", "text": "; ".join(parts)}] if parts else []


SIMULATED_FROM = REFERENCE_JUDGE  # study/simulate.py makes its raters from this judge's stored judgments


def _headline(an: Analysis) -> list[dict]:
    out = _headline_judge(an) + _headline_bounds(an) + _headline_human(an)
    floor = an.plan.swap_consistency_floor
    for r in an.tables.get("judge_human_agreement", pd.DataFrame()).itertuples(index=False):
        sim = " (SIMULATED raters)" if an.simulated_humans else ""
        if an.simulated_humans and r.judge == SIMULATED_FROM:
            out.append({"metric": f"judge {r.judge} vs humans{sim}", "verdict": "tie",
                        "text": "n/a (raters simulated from this judge: agreement would measure the simulation; the tables keep it, flagged)"})
            continue
        # flagged once, by the plan's rule, when the agreement table was made (report/analysis.py)
        swap, biased = getattr(r, "swap_consistency", float("nan")), bool(getattr(r, "position_biased", False))
        if biased and an.plan.exclude_position_biased_judges:
            out.append({"metric": f"judge {r.judge}: left out of judge–human agreement", "verdict": "lose",
                        "text": f"position-biased: swap consistency {swap:.2f} is below the declared floor {floor:.2f} (its verdicts "
                                "follow the order shown, not the advice); its agreement stays in the tables below, flagged"})
            continue
        text = f"agreement {r.agreement_with_tie:.0%} with ties, {fmt_cell(r.agreement_without_tie)} without; Cohen's κ {fmt_cell(r.cohen_kappa)}"
        if biased:
            text += f"; position-biased (swap consistency {swap:.2f} < floor {floor:.2f}, see Judge diagnostics)"
        out.append({"metric": f"judge {r.judge} vs humans{sim}", "verdict": "tie", "text": text})
    return out


def write_report(store: Store, out: str | Path, human: pd.DataFrame | None = None, *, bootstrap: int = 1000, seed: int = 0,
                 include_simulated: bool = False, flow: pd.DataFrame | None = None,
                 human_spread: tuple[float, str] | None = None) -> Path:
    """Write the report; human answers are used after the study's exclusions (simulated ones only if asked).
    ``human_spread`` is a cited (dB, source) for the engineers'-spread line; without it the line comes from
    loaded MixologyDB/MixParams data, and without that there is none."""
    out = Path(out)
    fig_dir, tab_dir, rep_dir = out / "figures", out / "tables", out / "report"
    for d in (fig_dir, tab_dir, rep_dir):
        d.mkdir(parents=True, exist_ok=True)
    an = analyze(store, human, bootstrap=bootstrap, seed=seed, include_simulated=include_simulated, flow=flow)
    load_plugins()
    computed_tables(store, an)
    simulated = HUMAN_TABLES if an.simulated_humans else set()
    spread = human_spread or engineer_spread(store)
    an.provenance["human_spread"] = {"db": spread[0], "source": spread[1]} if spread else None
    write_tables(an.tables, tab_dir, an.provenance, simulated)
    (tab_dir / "provenance.json").write_text(json.dumps(an.provenance, indent=2))

    figs = _figures(an, fig_dir, spread)
    t = an.tables

    def table(name: str, title: str) -> dict | None:
        if name not in t:
            return None
        shown = _shown(name, t[name])
        return {"name": name, "title": title, "markdown": to_markdown(shown), "html": _html_table(shown), "simulated": name in simulated}

    def fig(name: str) -> dict | None:
        if name not in figs:
            return None
        return {"name": name, "b64": base64.b64encode(figs[name].read_bytes()).decode()}

    check_declared(t)
    ctx_sections = []
    for section in SECTIONS:
        tabs = [x for x in (table(spec.name, spec.caption) for spec in section.tables) if x]
        fs = [x for x in (fig(n) for n in section.figures) if x]
        if not tabs and not fs:
            continue
        human_sec = any(x["name"] in HUMAN_TABLES for x in tabs) or any(f["name"] in HUMAN_FIGURES for f in fs)
        ctx_sections.append({"title": section.title, "intro": section.intro_for(an), "tables": tabs, "figures": fs,
                             "simulated": human_sec and an.simulated_humans})
    return _render(an, ctx_sections, rep_dir)


def _figures(an: Analysis, fig_dir: Path, spread: tuple[float, str] | None) -> dict[str, Path]:
    """Every figure the tables allow, by name."""
    t = an.tables
    figs: dict[str, Path] = {}
    if "reference_scores" in t:
        for m in ("balance_improvement_db", "direction_accuracy", "specificity"):
            figs[f"scores_{m}"] = figures.scores_by_condition(t["reference_scores"], m, fig_dir,
                                                              METRIC_LABEL[m] + " by system and condition", bounds=an.bounds)
    if len(t.get("learning_curve", [])):
        from evalkit.report.learning_curve import learning_curve_figure

        rs = t["reference_scores"]
        others = rs[(rs.metric == "balance_improvement_db") & ~rs.system.isin(set(t["learning_curve"].system))]
        figs["learning_curve"] = learning_curve_figure(t["learning_curve"], fig_dir, others)
    if "gain_errors" in t and len(t["gain_errors"]):
        figs["gain_errors"] = figures.gain_errors(t["gain_errors"], fig_dir, *(spread or (None, "")))
    if len(t.get("primary_contrasts", [])):
        pc = t["primary_contrasts"]
        figs["primary_contrasts"] = figures.contrasts(
            pc, fig_dir, "primary_contrasts", "Primary contrasts, reference judge (n per row)")
    if len(t.get("contrasts_by_style", [])):
        figs["contrasts_by_style"] = figures.contrasts(t["contrasts_by_style"], fig_dir, "contrasts_by_style",
                                                       "Primary contrasts by style (reference judge; exploratory)", group="style")
    if len(t.get("judge_diagnostics", [])):
        figs["judge_diagnostics"] = figures.diagnostics(t["judge_diagnostics"], fig_dir)
    if an.truth_check:
        figs["distance_vs_rating"] = figures.distance_vs_rating(an.truth_check["mixes"], fig_dir)
        figs["agreement_by_band"] = figures.agreement_by_band(an.truth_check["agreement_by_band"], an.truth_check["agreement_by_stem"], fig_dir)
    if an.has_humans:
        figs["win_matrix"] = figures.win_matrix(t["human_win_matrix"], fig_dir, an.simulated_humans)
        figs["bradley_terry"] = figures.bradley_terry(t["human_bradley_terry"], fig_dir, an.simulated_humans)
        if "judge_human_agreement" in t:
            figs["judge_human_agreement"] = figures.agreement(t["judge_human_agreement"], t.get("human_agreement"), fig_dir, an.simulated_humans)
    return figs


def _render(an: Analysis, ctx_sections: list[dict], rep_dir: Path) -> Path:
    """report.md and report.html from the templates."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html.j2"]))
    ctx = {"generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "prov": an.provenance, "simulated": an.simulated_humans,
           "headline": _headline(an), "notes": an.notes, "sections": ctx_sections,
           "prov_json": json.dumps(an.provenance, indent=2, default=str)}
    (rep_dir / "report.md").write_text(env.get_template("report.md.j2").render(**ctx))
    html_ctx = {**ctx, "sections": [{**s, "tables": [{**x, "html": jinja2.utils.markupsafe.Markup(x["html"])} for x in s["tables"]]}
                                    for s in ctx_sections]}
    (rep_dir / "report.html").write_text(env.get_template("report.html.j2").render(**html_ctx))
    return rep_dir / "report.html"


__all__ = ["write_report"]
