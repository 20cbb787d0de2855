"""The report's sections, declared once: title, introduction, figures and tables (with captions), and which tables
and figures come from the listening study. `write_report` renders them in this order; a table the analysis makes
that no section shows (and that is not declared CSV-only), or a section naming a table nobody makes, is an error
in `check_declared`, not a table silently missing from the report.

A new statistic adds its table here (one `TableSpec` in a section) and its code in `report/analysis.py`; a third
party adds a whole section with `register_section` (docs/architecture.md, "Adding a report section").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evalkit.stats.intervals import MIN_CLUSTERS_FOR_INTERVAL

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.report.analysis import Analysis

ENTRY_POINT_GROUP = "evalkit.report_sections"  # each entry point: a Section, or a callable returning one or a list

METRIC_LABEL = {"balance_improvement_db": "balance improvement (dB, reference judge)",
                "direction_accuracy": "direction accuracy (reference judge)", "specificity": "specificity (quantified claims)"}
HUMAN_TABLES = frozenset({"human_agreement", "human_bradley_terry", "human_condition_contrasts", "human_condition_contrasts_specificity",
                          "human_pairwise_tests", "human_win_matrix", "human_win_rates", "judge_human_agreement",
                          "judge_human_agreement_by_question", "judge_human_item_correlation", "judge_human_ranking",
                          "participant_flow"})
HUMAN_FIGURES = frozenset({"win_matrix", "bradley_terry", "judge_human_agreement"})
CSV_ONLY_TABLES = frozenset({"human_win_matrix", "gain_errors"})  # written to tables/ and drawn as a figure, not printed
FIGURES = frozenset({"scores_balance_improvement_db", "scores_direction_accuracy", "scores_specificity", "learning_curve",
                     "gain_errors", "primary_contrasts", "contrasts_by_style", "judge_diagnostics", "distance_vs_rating", "agreement_by_band",
                     "win_matrix", "bradley_terry", "judge_human_agreement"})

DISPLAY_COLUMNS = {  # what the report shows; the CSVs keep every column
    "judge_bradley_terry": ["judge", "system", "score", "rank"],  # no bootstrap here: the interval columns are empty
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


@dataclass(frozen=True)
class TableSpec:
    """One table of a section. ``compute`` (store, analysis) -> DataFrame makes a table the built-in analysis does not
    (a plug-in's statistic); built-in tables come from `report/analysis.py`."""

    name: str
    caption: str
    compute: Callable[[Any, Analysis], pd.DataFrame] | None = None


@dataclass(frozen=True)
class Section:
    title: str
    intro: str | Callable[[Analysis], str | None] | None = None
    figures: tuple[str, ...] = ()
    tables: tuple[TableSpec, ...] = field(default_factory=tuple)

    def intro_for(self, an: Analysis) -> str | None:
        return self.intro(an) if callable(self.intro) else self.intro


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


def _truth_verdict(an: Analysis) -> str | None:
    return (an.truth_check or {}).get("verdict")


SECTIONS: list[Section] = [
    Section("Primary contrasts (declared before the data)",
            intro=_plan_intro,
            figures=("primary_contrasts",),
            tables=(
                TableSpec("primary_contrasts", "Primary family: condition contrasts within each system "
                                               "(reference judge)"),
                TableSpec("human_condition_contrasts", "The same contrasts in human votes: which advice "
                                                       "would you rather follow (helpfulness)"),
                TableSpec("human_condition_contrasts_specificity", "The same contrasts in human votes: "
                                                                   "which advice is more specific "
                                                                   "(exploratory)"),
            )),
    Section("Results by style",
            intro="The primary contrasts within each style or genre (exploratory; a style with one song "
                  "has no CI).",
            figures=("contrasts_by_style",),
            tables=(
                TableSpec("contrasts_by_style", "Primary contrasts by style"),
            )),
    Section("Reference judge: advice against the true gains",
            intro="The reference judge parses each advice into claims and applies them: balance "
                  "improvement is the drop in per-stem loudness error (dB RMS, level-independent). The "
                  "oracle (reads the truth) and generic (the same text for every item) are labelled "
                  "bounds, not part of any contrast.",
            figures=("scores_balance_improvement_db", "scores_direction_accuracy", "scores_specificity"),
            tables=(
                TableSpec("reference_definitions", "What each metric is (the settings it was computed "
                                                   "with first)"),
                TableSpec("nominal_sensitivity", "The primary contrasts with each dB assumed for a "
                                                 "direction with no number (as_run: the run's setting); a "
                                                 "contrast whose sign changes rests on that assumption"),
                TableSpec("reference_scores", "Per system and condition (95% CI: CV3 t interval, songs as "
                                              "clusters)"),
                TableSpec("exploratory_contrasts", "Exploratory contrasts (other metrics; stems+reference "
                                                   "− stems), unadjusted"),
                TableSpec("reference_paired_tests", "Paired Wilcoxon tests between arms on balance "
                                                    "improvement (exploratory; Holm within the table)"),
                TableSpec("reference_friedman", "Friedman test across arms"),
            )),
    Section("Is the truth what listeners hear?",
            intro=_truth_verdict,
            figures=("distance_vs_rating", "agreement_by_band"),
            tables=(
                TableSpec("truth_check", "The engineers' consensus (this test set's truth) against real "
                                         "listeners of the source data (`evalkit data check-truth`)"),
                TableSpec("truth_check_agreement", "Comment claims that agree with the truth, by stem and "
                                                   "by |deviation| band (CI clustered by mix)"),
            )),
    Section("Worst items",
            intro="The items each system fails most on the reference judge, with the advice and the true "
                  "correction (`evalkit view RUN` shows each item's prompt, claims and verdicts: add a "
                  "row's `view` to its address, e.g. http://127.0.0.1:8600/?system=S&item=ID).",
            tables=(
                TableSpec("worst_items", "Ten lowest balance improvements per system"),
            )),
    Section("Learning curve",
            intro="The same model after N training steps on the train split (`evalkit finetune`; step 0 "
                  "is the base model), on the held-out items, per condition; dashed lines are the other "
                  "systems' means on all their items, for scale. An answer cut at max_tokens is scored as "
                  "written (the table counts them).",
            figures=("learning_curve",),
            tables=(
                TableSpec("learning_curve", "Balance improvement by training steps and condition (95% CI: "
                                            "CV3 t interval, songs as clusters)"),
            )),
    Section("Gain errors",
            intro="How far quantified claims land from the truth (in the reference judge's frame), as "
                  "each system's share of its own claims. The dashed line, when drawn, is how far "
                  "engineers' own gains spread across mixes of the same song in the loaded data; without "
                  "such data no line is drawn.",
            figures=("gain_errors",)),
    Section("LLM judges: rubric scores",
            tables=(
                TableSpec("rubric_scores", "Rubric scores (median over samples), 95% CI: CV3 t interval, "
                                           "songs as clusters"),
                TableSpec("rubric_contrasts", "Condition contrasts on rubric scores (exploratory, songs "
                                              "as clusters)"),
            )),
    Section("Human preferences",
            intro="Answers to 'which advice would you rather follow', from included participants only: "
                  "the participant flow below says who was excluded and why.",
            figures=("bradley_terry", "win_matrix"),
            tables=(
                TableSpec("participant_flow", "Participant flow (opened → included)"),
                TableSpec("human_bradley_terry", "Bradley–Terry (bootstrap by participant)"),
                TableSpec("human_pairwise_tests", "Pairwise tests: p_value is the test named in "
                                                  "primary_test (mixed model: mm_*, log-odds and P(a "
                                                  "wins)); p_sign participant-level sign test; "
                                                  "p_value_votes treats votes as independent"),
                TableSpec("human_win_rates", "Win rates (ties half, Wilson CI over votes)"),
            )),
    Section("Judges against humans",
            intro="Vote agreement follows MT-Bench's definitions; human–human agreement is the "
                  "ceiling.",
            figures=("judge_human_agreement",),
            tables=(
                TableSpec("judge_human_agreement", "Judge–human vote agreement"),
                TableSpec("human_agreement", "Human–human agreement (ceiling)"),
                TableSpec("judge_human_agreement_by_question", "Per question: each judge against the "
                                                               "answers to the matching study question "
                                                               "(pairwise and reference verdicts: 'rather "
                                                               "follow'; absolute rubrics: their own "
                                                               "question; score differences as votes)"),
                TableSpec("judge_human_ranking", "System ranking correlation, judge vs human BT "
                                                 "(bootstrap CI over items)"),
                TableSpec("judge_human_item_correlation", "Item-level correlation of judge margin and "
                                                          "human preference share"),
            )),
    Section("Judge diagnostics",
            intro="Unscored judgments are kept with their raw output and counted here, never coerced into "
                  "a score.",
            figures=("judge_diagnostics",),
            tables=(
                TableSpec("judge_diagnostics", "Diagnostics per judge"),
                TableSpec("judge_agreement", "Agreement between judges (Krippendorff's α)"),
                TableSpec("judge_bradley_terry", "Each judge's ranking of the arms from its pairwise "
                                                 "verdicts (Bradley–Terry, no interval)"),
            )),
    Section("Advice generation",
            tables=(
                TableSpec("advice_counts", "Advice per system and condition"),
                TableSpec("advice_failures", "Recorded generation failures"),
            )),
]


def register_section(section: Section, before: str | None = None) -> None:
    """Add a section (a plug-in's statistic): before the section titled ``before``, else at the end."""
    check_declared([], extra=[section])
    titles = [s.title for s in SECTIONS]
    SECTIONS.insert(titles.index(before) if before in titles else len(SECTIONS), section)


def load_plugins(eps: Iterable[Any] | None = None) -> list[str]:
    """Register the sections other packages declare under the ``evalkit.report_sections`` entry points (once each);
    returns their titles."""
    from importlib.metadata import entry_points

    added = []
    for ep in (entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps):
        obj = ep.load()
        found = obj() if callable(obj) and not isinstance(obj, Section) else obj
        for section in (found if isinstance(found, list | tuple) else [found]):
            if not isinstance(section, Section):
                raise RuntimeError(f"entry point {ep.name!r} ({ep.value}) gave {type(section).__name__}, not a report Section")
            if section.title not in {s.title for s in SECTIONS}:
                register_section(section)
                added.append(section.title)
    return added


def computed_tables(store: Any, an: Analysis) -> None:
    """Fill in the tables that sections compute themselves (plug-in statistics) into ``an.tables``."""
    for section in SECTIONS:
        for spec in section.tables:
            if spec.compute is not None and spec.name not in an.tables:
                an.tables[spec.name] = spec.compute(store, an)


def declared_tables(sections: Iterable[Section] | None = None) -> set[str]:
    return {t.name for s in (SECTIONS if sections is None else sections) for t in s.tables}


def check_declared(produced: Iterable[str], extra: Iterable[Section] = ()) -> None:
    """Every produced table is shown by a section (or declared CSV-only); every figure a section names is one the
    report can draw; a table is shown by one section only."""
    sections = [*SECTIONS, *extra]
    shown = [t.name for s in sections for t in s.tables]
    twice = sorted({n for n in shown if shown.count(n) > 1})
    unknown_figures = sorted({f for s in sections for f in s.figures} - FIGURES)
    unshown = sorted(set(produced) - set(shown) - CSV_ONLY_TABLES)
    problems = [f"tables shown twice: {twice}" if twice else "", f"figures nobody draws: {unknown_figures}" if unknown_figures else "",
                f"tables no section shows: {unshown}" if unshown else ""]
    if any(problems):
        raise RuntimeError("report sections (evalkit/report/sections.py): " + "; ".join(p for p in problems if p))


__all__ = ["CSV_ONLY_TABLES", "DISPLAY_COLUMNS", "FIGURES", "HUMAN_FIGURES", "HUMAN_TABLES", "METRIC_LABEL", "SECTIONS", "Section",
           "TableSpec", "check_declared", "computed_tables", "declared_tables", "load_plugins", "register_section"]
