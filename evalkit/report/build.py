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
from evalkit.report.tables import fmt_cell, to_markdown, write_tables
from evalkit.stats.intervals import MIN_CLUSTERS_FOR_INTERVAL, too_few_clusters
from evalkit.store import Store

TEMPLATES = Path(__file__).parent / "templates"
HUMAN_TABLES = {"human_win_rates", "human_pairwise_tests", "human_bradley_terry", "human_win_matrix", "human_agreement",
                "judge_human_agreement", "judge_human_ranking", "judge_human_item_correlation", "human_condition_contrasts",
                "human_condition_contrasts_specificity", "participant_flow", "judge_human_agreement_by_question"}
HUMAN_FIGURES = {"win_matrix", "bradley_terry", "judge_human_agreement"}
METRIC_LABEL = {"balance_improvement_db": "balance improvement (dB, reference judge)",
                "direction_accuracy": "direction accuracy (reference judge)", "specificity": "specificity (quantified claims)"}


def _html_table(df: pd.DataFrame, max_rows: int = 40) -> str:
    if df.empty:
        return "<p><i>(no rows)</i></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt_cell(v))}</td>" for v in row) + "</tr>"
                   for row in df.head(max_rows).itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


DISPLAY_COLUMNS = {  # what the report shows; the CSVs keep every column
    "primary_contrasts": ["contrast", "n_songs", "n_items", "mean_difference", "ci_low", "ci_high", "p_value", "p_adjusted",
                          "rank_biserial", "rb_ci_low", "rb_ci_high"],
    "exploratory_contrasts": ["contrast", "metric", "n_songs", "n_items", "mean_difference", "ci_low", "ci_high", "p_value",
                              "rank_biserial"],
    "rubric_contrasts": ["judge", "rubric", "contrast", "n_songs", "n_items", "mean_difference", "ci_low", "ci_high", "p_value"],
    "contrasts_by_style": ["style", "contrast", "n_songs", "n_items", "mean_difference", "ci_low", "ci_high", "p_value"],
    "human_condition_contrasts": ["contrast", "n_participants", "n_items", "n_songs", "votes", "wins_a", "wins_b", "ties",
                                  "win_rate_a", "ci_low", "ci_high", "primary_test", "mm_log_odds", "mm_p_win",
                                  "mm_p_win_ci_low", "mm_p_win_ci_high", "p_value", "p_holm", "p_sign", "p_value_votes",
                                  "participant_var", "item_var", "mm_note"],
    "human_condition_contrasts_specificity": ["contrast", "n_participants", "n_items", "votes", "wins_a", "wins_b", "ties",
                                              "win_rate_a", "ci_low", "ci_high", "primary_test", "mm_p_win", "p_value",
                                              "p_holm", "p_sign"],
    "human_pairwise_tests": ["system_a", "system_b", "wins_a", "wins_b", "ties", "n_participants", "win_rate_a", "ci_low",
                             "ci_high", "primary_test", "mm_log_odds", "mm_p_win", "p_value", "p_holm", "p_sign",
                             "p_value_votes"],
}


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


def _plan_intro(an: Analysis) -> str:
    rec = an.plan_record
    when = f"declared in the run store at {rec.declared_at}" if rec else "the default plan (none declared in the run)"
    axes = (f" and {len(an.axes)} axis contrast(s) between systems that differ in one declared setting "
            f"({', '.join(sorted({c.axis for c, _ in an.axes}))}), under one condition each") if an.axes else ""
    return (f"Primary metric: {METRIC_LABEL.get(an.plan.primary_metric, an.plan.primary_metric)}; {len(an.primary)} primary "
            f"condition contrast(s), each within one system{axes}, paired by item, adjusted together ({an.plan.multiplicity}); {when}. "
            "Uncertainty treats songs as clusters (items of one song are not independent): CV3 (leave-one-song-out jackknife) "
            "cluster-robust standard errors with t(G−1) intervals, a small-sample method (MacKinnon, Nielsen & Webb 2023; "
            "by pyfixest), also for every per-arm mean; the rank-biserial CI is the song-level bootstrap SD around the estimate, clipped to "
            f"[−1, 1]; no interval is drawn from fewer than {MIN_CLUSTERS_FOR_INTERVAL} songs, and with every difference equal "
            "the p-value is the exact sign flip of the song means. Human votes are tested with a logistic mixed model with crossed "
            "random intercepts for participant and item (and song, from 5 songs; Laplace fit by GPBoost, held to lme4's glmer "
            "in the tests) whenever participants gave more than one vote, the participant-level sign test beside it; win "
            "shares have CIs clustered by participant. Everything else is exploratory.")


def _sections(an: Analysis) -> list[tuple]:
    return [
        ("Primary contrasts (declared before the data)", _plan_intro(an), ["primary_contrasts"],
         [("primary_contrasts", "Primary family: condition contrasts within each system (reference judge)"),
          ("human_condition_contrasts", "The same contrasts in human votes: which advice would you rather follow (helpfulness)"),
          ("human_condition_contrasts_specificity", "The same contrasts in human votes: which advice is more specific (exploratory)")]),
        ("Results by style", "The primary contrasts within each style or genre (exploratory; a style with one song has no CI).",
         ["contrasts_by_style"], [("contrasts_by_style", "Primary contrasts by style")]),
        ("Reference judge: advice against the true gains", "The reference judge parses each advice into claims and applies them: "
         "balance improvement is the drop in per-stem loudness error (dB RMS, level-independent). The oracle (reads the truth) "
         "and generic (the same text for every item) are labelled bounds, not part of any contrast.",
         ["scores_balance_improvement_db", "scores_direction_accuracy", "scores_specificity"],
         [("reference_definitions", "What each metric is (the settings it was computed with first)"),
          ("nominal_sensitivity", "The primary contrasts with each dB assumed for a direction with no number "
           "(as_run: the run's setting); a contrast whose sign changes rests on that assumption"),
          ("reference_scores", "Per system and condition (95% CI: CV3 t interval, songs as clusters)"),
          ("exploratory_contrasts", "Exploratory contrasts (other metrics; stems+reference − stems), unadjusted"),
          ("reference_paired_tests", "Paired Wilcoxon tests between arms on balance improvement (exploratory; Holm within the table)"),
          ("reference_friedman", "Friedman test across arms")]),
        ("Is the truth what listeners hear?", (an.truth_check or {}).get("verdict"), ["distance_vs_rating", "agreement_by_band"],
         [("truth_check", "The engineers' consensus (this test set's truth) against real listeners of the source data "
           "(`evalkit data check-truth`)"),
          ("truth_check_agreement", "Comment claims that agree with the truth, by stem and by |deviation| band (CI clustered by mix)")]),
        ("Worst items", "The items each system fails most on the reference judge, with the advice and the true correction "
         "(`evalkit view RUN` shows each item's prompt, claims and verdicts: add a row's `view` to its address, e.g. "
         "http://127.0.0.1:8600/?system=S&item=ID).", [],
         [("worst_items", "Ten lowest balance improvements per system")]),
        ("Learning curve", "The same model after N training steps on the train split (`evalkit finetune`; step 0 is the base "
         "model), on the held-out items, per condition; dashed lines are the other systems' means on all their items, for "
         "scale. An answer cut at max_tokens is scored as written (the table counts them).", ["learning_curve"],
         [("learning_curve", "Balance improvement by training steps and condition (95% CI: CV3 t interval, songs as clusters)")]),
        ("Gain errors", "How far quantified claims land from the truth (in the reference judge's frame), as each system's share of its "
         "own claims. The dashed line, when drawn, is how far engineers' own gains spread across mixes of the same song in the loaded "
         "data; without such data no line is drawn.", ["gain_errors"], []),
        ("LLM judges: rubric scores", None, [],
         [("rubric_scores", "Rubric scores (median over samples), 95% CI: CV3 t interval, songs as clusters"),
          ("rubric_contrasts", "Condition contrasts on rubric scores (exploratory, songs as clusters)")]),
        ("Human preferences", "Answers to 'which advice would you rather follow', from included participants only: the participant "
         "flow below says who was excluded and why.", ["bradley_terry", "win_matrix"],
         [("participant_flow", "Participant flow (opened → included)"),
          ("human_bradley_terry", "Bradley–Terry (bootstrap by participant)"),
          ("human_pairwise_tests", "Pairwise tests: p_value is the test named in primary_test (mixed model: mm_*, log-odds and P(a wins)); p_sign participant-level sign test; p_value_votes treats votes as independent"),
          ("human_win_rates", "Win rates (ties half, Wilson CI over votes)")]),
        ("Judges against humans", "Vote agreement follows MT-Bench's definitions; human–human agreement is the ceiling.",
         ["judge_human_agreement"],
         [("judge_human_agreement", "Judge–human vote agreement"), ("human_agreement", "Human–human agreement (ceiling)"),
          ("judge_human_agreement_by_question", "Per question: each judge against the answers to the matching study question "
           "(pairwise and reference verdicts: 'rather follow'; absolute rubrics: their own question; score differences as votes)"),
          ("judge_human_ranking", "System ranking correlation, judge vs human BT (bootstrap CI over items)"),
          ("judge_human_item_correlation", "Item-level correlation of judge margin and human preference share")]),
        ("Judge diagnostics", "Unscored judgments are kept with their raw output and counted here, never coerced into a score.",
         ["judge_diagnostics"], [("judge_diagnostics", "Diagnostics per judge"), ("judge_agreement", "Agreement between judges (Krippendorff's α)")]),
        ("Advice generation", None, [], [("advice_counts", "Advice per system and condition"), ("advice_failures", "Recorded generation failures")]),
    ]


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

    ctx_sections = []
    for title, intro, fig_names, table_specs in _sections(an):
        tabs = [x for x in (table(n, tt) for n, tt in table_specs) if x]
        fs = [x for x in (fig(n) for n in fig_names) if x]
        if not tabs and not fs:
            continue
        human_sec = any(x["name"] in HUMAN_TABLES for x in tabs) or any(f["name"] in HUMAN_FIGURES for f in fs)
        ctx_sections.append({"title": title, "intro": intro, "tables": tabs, "figures": fs, "simulated": human_sec and an.simulated_humans})
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
