"""Everything the report shows, computed once from a run store (and a study's answers, if any).

Stats functions know nothing of LLMs; this module is the one place that turns stored judgments and
preferences into the tidy frames those functions take.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit import __version__
from evalkit.analysis_plan import (
    REFERENCE_METRICS,
    AnalysisPlan,
    AxisContrast,
    Contrast,
    conditions_of,
)
from evalkit.errors import EvalkitInputError
from evalkit.judging.advice_parser import parse_advice
from evalkit.judging.diagnostics import judge_agreement, judge_diagnostics
from evalkit.judging.reference import (
    REFERENCE_JUDGE,
    ReferenceOptions,
    definitions,
    framed,
    reference_metrics,
)
from evalkit.manifest import DeclaredPlan, read_manifest, stored_plan
from evalkit.records import Condition, arm_label, content_hash
from evalkit.report.learning_curve import learning_curve
from evalkit.stats.agreement import (
    human_agreement,
    item_level_correlation,
    ranking_correlation_ci,
    vote_agreement,
)
from evalkit.stats.clustered import paired_contrast, preference_contrast
from evalkit.stats.preference import analysis_rows, canonical, holm, pairwise_tests, win_matrix, win_rates
from evalkit.stats.ranking import bradley_terry
from evalkit.stats.scores import friedman, paired_tests, system_means
from evalkit.store import Store
from evalkit.study.questions import PRIMARY
from evalkit.systems.kinds import is_bound_kind


@dataclass
class Analysis:
    provenance: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    simulated_humans: bool = False
    has_humans: bool = False
    notes: list[str] = field(default_factory=list)
    truth_check: dict | None = None  # `data check-truth` of the data the test set was imported from
    plan: AnalysisPlan = field(default_factory=AnalysisPlan)
    plan_record: DeclaredPlan | None = None
    primary: list[Contrast] = field(default_factory=list)
    axes: list[tuple[AxisContrast, Condition]] = field(default_factory=list)  # declared axis contrasts, per condition
    bounds: list[str] = field(default_factory=list)


def advice_frame(store: Store) -> pd.DataFrame:
    """One row per advice with what the design needs: its arm (system/condition), item, song and style."""
    items = {i.id: i for i in store.items()}
    songs = store.songs()

    def style(song_id: str) -> str:
        meta = songs[song_id].meta if song_id in songs else {}
        return str(meta.get("style") or meta.get("genre") or "unknown")

    return pd.DataFrame([{"advice_id": a.id, "item_id": a.item_id, "song_id": items[a.item_id].song_id,
                          "style": style(items[a.item_id].song_id), "system": a.system, "condition": a.condition.value,
                          "arm": a.arm, "reference_song_id": a.reference_song_id, "kind": items[a.item_id].kind,
                          "split": str(items[a.item_id].split), "length": len(a.text),
                          "cut": a.was_cut, "trimmed": "trimmed_from_chars" in a.params} for a in store.advice()],
                        columns=["advice_id", "item_id", "song_id", "style", "system", "condition", "arm", "reference_song_id",
                                 "kind", "split", "length", "cut", "trimmed"])


def _held_out_for_inference(advice: pd.DataFrame, split: str, an: Analysis) -> pd.DataFrame:
    """A run over ``--split all`` holds train items: songs the analytic mix model was fitted on and the reference
    pool is drawn from. Its tables and contrasts use the held-out items only (test; val where it has no test), and
    the headline says so."""
    if split != "all" or "split" not in advice or not len(advice):
        return advice
    held = "test" if (advice.split == "test").any() else "val"
    kept = advice[advice.split == held]
    an.notes.append(f"This run was generated with --split all: it holds {advice[advice.split != held].item_id.nunique()} items "
                    f"of the train/val splits, which advisors may have been fitted on (the analytic mix model, the reference pool). "
                    f"Every table and contrast here uses only its {kept.item_id.nunique()} {held} items.")
    return kept


def _order_averaged(judge: str, store: Store) -> bool:
    preset = read_manifest(store).judges.get(judge)
    return bool(preset and preset.order_average)


def _pair_vote(h: pd.DataFrame, average: bool) -> str:
    """One (item, pair)'s verdict. With ``average`` and probabilities for both orders: the option with the highest
    mean probability over orders and samples (position bias cancels instead of turning into a tie). Else each
    order's majority, and orders that disagree make a tie (MT-Bench's treatment of position-inconsistent verdicts)."""
    if average and h.probs.notna().all() and h.order.nunique() == 2:
        mean = pd.DataFrame(list(h.probs)).fillna(0.0).mean()
        return str(mean.idxmax())
    per_order = h.groupby("order").choice.agg(lambda c: c.mode().iloc[0] if len(c.mode()) == 1 else "tie")
    return per_order.iloc[0] if per_order.nunique() == 1 else "tie"


def _pair_strength(j) -> dict:
    """A pairwise judgment's margin (the reference judge: dB) or verdict probabilities (an LLM judge that gave them)."""
    if j.judge == REFERENCE_JUDGE:
        return {"margin": j.pair_metrics.margin_db, "probs": None}
    return {"margin": np.nan, "probs": j.llm_metrics.verdict_probs}


def judge_votes(store: Store, advice: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per judge, one vote per (item, pair), both orders and all samples combined (see _pair_vote)."""
    sys_of = advice.set_index("advice_id")["arm"].to_dict()
    item_of = advice.set_index("advice_id")["item_id"].to_dict()
    rows = []
    for j in store.judgments():
        if j.protocol != "pairwise" or not j.parsed or j.advice_id not in sys_of or j.advice_id_b not in sys_of:
            continue
        rows.append({"judge": j.judge, "item_id": item_of[j.advice_id], "system_a": sys_of[j.advice_id],
                     "system_b": sys_of[j.advice_id_b], "order": j.order, "choice": j.verdict,
                     **_pair_strength(j)})
    out = {}
    if not rows:
        return out
    df = pd.DataFrame(rows)
    for judge, g in df.groupby("judge"):
        average = _order_averaged(str(judge), store)
        votes = [{"participant_id": judge, "item_id": key[0], "system_a": key[1], "system_b": key[2],
                  "choice": _pair_vote(h, average), "margin": h.margin.mean()}
                 for key, h in g.groupby(["item_id", "system_a", "system_b"])]
        out[judge] = pd.DataFrame(votes)
    return out


def paired_differences(frame: pd.DataFrame, column: str, first: str, second: str, value: str) -> pd.Series:
    """``value`` of arm ``first`` minus arm ``second`` (values of ``column``: a condition, or a system), paired by item
    and indexed by (song_id, item_id); empty when either arm is missing."""
    wide = frame.pivot_table(index=["song_id", "item_id"], columns=column, values=value, aggfunc="mean")
    if first not in wide or second not in wide:
        return pd.Series(dtype=float)
    return (wide[first] - wide[second]).dropna()


def contrast_rows(frame: pd.DataFrame, contrasts: list[Contrast], value: str, *, bootstrap: int, seed: int) -> pd.DataFrame:
    """Each contrast ``condition − versus`` within its system, paired by item, clustered by song."""
    rows = []
    for c in contrasts:
        d = paired_differences(frame[frame.system == c.system], "condition", c.condition.value, c.versus.value, value)
        if not len(d):
            continue
        r = paired_contrast(d.to_numpy(), d.index.get_level_values("song_id").to_numpy(), bootstrap=bootstrap, seed=seed)
        rows.append({"contrast": c.label, "system": c.system, "condition": c.condition.value, "versus": c.versus.value,
                     "metric": value, **r})
    return pd.DataFrame(rows)


def axis_contrast_rows(frame: pd.DataFrame, axes: list[tuple[AxisContrast, Condition]], value: str, *, bootstrap: int,
                       seed: int) -> pd.DataFrame:
    """Each axis contrast ``system − versus`` (two systems that differ in one setting) under one condition, paired by
    item, clustered by song: the same method as a condition contrast."""
    rows = []
    for c, cond in axes:
        d = paired_differences(frame[frame.condition == cond.value], "system", c.system, c.versus, value)
        if not len(d):
            continue
        r = paired_contrast(d.to_numpy(), d.index.get_level_values("song_id").to_numpy(), bootstrap=bootstrap, seed=seed)
        rows.append({"contrast": c.label(cond), "system": c.system, "condition": cond.value, "versus": c.versus, "axis": c.axis,
                     "metric": value, **r})
    return pd.DataFrame(rows)


def primary_differences(store: Store) -> pd.DataFrame:
    """Per-item differences of every declared primary condition contrast on the primary metric (held-out items only):
    what a pilot run tells a power analysis (``stats power --design --pilot-run``)."""
    an = Analysis(provenance={})
    advice, systems = _design(store, an)
    ref = _reference_frame(store, advice)
    rows = []
    for c in an.plan.resolve(systems) if ref is not None else []:
        d = paired_differences(ref[ref.system == c.system], "condition", c.condition.value, c.versus.value,
                               an.plan.primary_metric)
        rows += [{"contrast": c.label, "song_id": song, "item_id": item, "difference": float(v)} for (song, item), v in d.items()]
    return pd.DataFrame(rows, columns=["contrast", "song_id", "item_id", "difference"])


def primary_contrasts(ref: pd.DataFrame, an: Analysis, *, bootstrap: int, seed: int) -> pd.DataFrame:
    """The declared family on the primary metric (condition contrasts and declared axis contrasts), adjusted together
    (Holm by default)."""
    out = pd.concat([contrast_rows(ref, an.primary, an.plan.primary_metric, bootstrap=bootstrap, seed=seed),
                     axis_contrast_rows(ref, an.axes, an.plan.primary_metric, bootstrap=bootstrap, seed=seed)], ignore_index=True)
    if not len(out):
        return out
    p = out.p_value.fillna(1.0).to_numpy()
    out["p_adjusted"] = holm(p) if an.plan.multiplicity == "holm" else np.minimum(p * len(p), 1.0)
    out["family"] = f"primary ({an.plan.multiplicity}, {len(out)} contrasts)"
    return out


def exploratory_contrasts(ref: pd.DataFrame, an: Analysis, *, bootstrap: int, seed: int) -> pd.DataFrame:
    """Everything outside the primary family, unadjusted and labelled so: other metrics for the primary
    contrasts, and stems+reference − stems within each system."""
    extra = [Contrast(system=c.system, condition=Condition.stems_reference, versus=Condition.stems)
             for c in an.primary if c.condition == Condition.stems_reference]
    frames = [contrast_rows(ref, an.primary, m, bootstrap=bootstrap, seed=seed)
              for m in an.plan.exploratory_metrics if m != an.plan.primary_metric]
    frames.append(contrast_rows(ref, extra, an.plan.primary_metric, bootstrap=bootstrap, seed=seed))
    out = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else pd.DataFrame()
    if len(out):
        out["family"] = "exploratory (unadjusted)"
    return out


def contrasts_by_style(ref: pd.DataFrame, an: Analysis, *, bootstrap: int, seed: int) -> pd.DataFrame:
    """The primary contrasts within each style or genre (exploratory: small subgroups, no adjustment).
    A style with one song has no between-song spread, so its CI is missing, not zero."""
    rows = []
    for style, g in ref.groupby("style", sort=True):
        t = contrast_rows(g, an.primary, an.plan.primary_metric, bootstrap=bootstrap, seed=seed)
        if len(t):
            rows.append(t.assign(style=style))
    if not rows:
        return pd.DataFrame()
    out = pd.concat(rows, ignore_index=True)
    return out[["style", "contrast", "system", "condition", "versus", "metric", "n_songs", "n_items", "mean_difference",
                "ci_low", "ci_high", "p_value"]]


def human_contrasts(human: pd.DataFrame, primary: list[Contrast], song_of: dict[str, str],
                    axes: list[tuple[AxisContrast, Condition]] = ()) -> pd.DataFrame:
    """Human votes on each primary contrast's two arms (condition contrasts, then declared axis contrasts): win share
    with a CI clustered by participant, the mixed model (participant × item, songs from 5) as the primary test when
    people voted more than once, else the participant-level sign test (Holm over the family), and the vote-level
    binomial test beside it."""
    arms = [(c.label, arm_label(c.system, c.condition), arm_label(c.system, c.versus)) for c in primary]
    arms += [(c.label(cond), arm_label(c.system, cond), arm_label(c.versus, cond)) for c, cond in axes]
    rows = []
    for label, a, b in arms:
        r = preference_contrast(human, a, b, song_of)
        if r["votes"]:
            pair = human[human.system_a.isin([a, b]) & human.system_b.isin([a, b])]
            rows.append({"contrast": label, "n_songs": len({song_of.get(i, i) for i in pair.item_id}), **r})
    out = pd.DataFrame(rows)
    if len(out):
        out["p_holm"] = holm(out.p_value.to_numpy())
    return out


def _provenance(store: Store, advice: pd.DataFrame) -> dict:
    """What the run's numbers came from. Rubric versions are those the stored judgments were made with (a rubric file
    edited after judging does not change them), as a sorted list per rubric when judgments used more than one."""
    manifest = read_manifest(store)
    used: dict[str, set[str]] = {}
    for j in store.judgments():  # the reference judge's rubric hash is its settings' version
        used.setdefault(j.rubric, set()).add(j.rubric_hash)
    rubric_hashes = {r: (sorted(h)[0] if len(h) == 1 else sorted(h)) for r, h in sorted(used.items())}
    provenance = {"evalkit": __version__, "testset_checksum": manifest.testset_checksum,
                  "testset_path": manifest.testset_path, "rubric_hashes": rubric_hashes,
                  "judge_configs": {k: content_hash(v.model_dump(mode="json")) for k, v in manifest.judges.items()},
                  "systems_config": manifest.systems_hash(), "split": manifest.split, "n_advice": len(advice),
                  "analysis_plan": manifest.plan.hash if manifest.plan else "default (not declared in the run)"}
    provenance["hash"] = content_hash(provenance)
    return provenance


def _plan_notes(an: Analysis, systems: list[dict]) -> None:
    if an.plan_record and an.plan_record.advice_existed:
        an.notes.append(f"The analysis plan was (re)declared at {an.plan_record.declared_at}, after advice existed: "
                        "treat its primary contrasts as exploratory.")
    if not an.primary:
        an.notes.append("No primary contrast: no system (bounds excluded) ran under mix and another condition. Run one "
                        "system under several conditions (conditions: [mix, stems, stems+reference]) to compare like with like.")
    if any(Condition.stems_own_reference in conditions_of(s) for s in systems if s["kind"] != "oracle"):
        an.notes.append("stems+own-reference shows the advisor a balanced copy of the item's own song, which gives the "
                        "answer away: it is an upper bound and never part of a contrast.")


def reference_values(j) -> dict[str, float | None]:
    """The primary and exploratory reference metrics of one reference judgment (None for one left unscored)."""
    if not j.parsed:
        return dict.fromkeys(REFERENCE_METRICS)
    m = j.reference_metrics
    return {name: getattr(m, name) for name in REFERENCE_METRICS}


def _reference_frame(store: Store, advice: pd.DataFrame) -> pd.DataFrame | None:
    """The advice frame joined with the reference judge's metrics (None before the reference judge ran)."""
    ref_rows = [{"advice_id": j.advice_id, **reference_values(j)} for j in store.judgments(REFERENCE_JUDGE) if j.protocol == "reference"]
    return advice.merge(pd.DataFrame(ref_rows), on="advice_id") if ref_rows else None


def worst_items(store: Store, ref: pd.DataFrame, per_system: int = 10) -> pd.DataFrame:
    """The items each system fails most (lowest balance improvement, any condition), with the advice and the truth: where
    error analysis starts (`evalkit view RUN` shows each in full)."""
    texts = {a.id: a.text for a in store.advice()}
    truth = {i.id: i.correction_db for i in store.items()}
    rows = []
    for system, d in ref.groupby("system"):
        for r in d.nsmallest(per_system, "balance_improvement_db").itertuples():
            text = " ".join(texts.get(r.advice_id, "").split())
            rows.append({"system": system, "condition": r.condition, "item_id": r.item_id, "kind": r.kind,
                         "balance_improvement_db": r.balance_improvement_db,
                         "truth_db": ", ".join(f"{s} {v:+g}" for s, v in truth[r.item_id].items() if v),
                         "advice": text[:240] + ("…" if len(text) > 240 else ""),
                         "view": f"?system={system}&item={r.item_id}"})  # after `evalkit view RUN`'s address
    return pd.DataFrame(rows, columns=["system", "condition", "item_id", "kind", "balance_improvement_db", "truth_db", "advice",
                                       "view"])


def _reference_tables(store: Store, advice: pd.DataFrame, an: Analysis, *, bootstrap: int, seed: int) -> None:
    t = an.tables
    ref = _reference_frame(store, advice)
    if ref is None:
        return
    means = [system_means(ref, m, ("system", "condition"), bootstrap=bootstrap, seed=seed, cluster="song_id").assign(metric=m)
             for m in REFERENCE_METRICS]
    t["reference_scores"] = pd.concat(means, ignore_index=True)[["metric", "system", "condition", "n", "n_clusters", "mean", "ci_low",
                                                                 "ci_high"]].rename(columns={"n_clusters": "n_songs"})
    t["primary_contrasts"] = primary_contrasts(ref, an, bootstrap=bootstrap, seed=seed)
    t["exploratory_contrasts"] = exploratory_contrasts(ref, an, bootstrap=bootstrap, seed=seed)
    t["contrasts_by_style"] = contrasts_by_style(ref, an, bootstrap=bootstrap, seed=seed)
    arms = ref.rename(columns={"system": "system_name", "arm": "system"})
    t["reference_paired_tests"] = paired_tests(arms, "balance_improvement_db")
    t["reference_friedman"] = friedman(arms, "balance_improvement_db")
    t["worst_items"] = worst_items(store, ref)
    opts = reference_options(store)
    t["gain_errors"] = _gain_errors(store, advice, opts)
    rows = definitions(opts) + [("reader", f"LLM reader {a['reader']}: reads {a['identical']:.0%} of {a['texts']} texts as the rules "
                                           f"reader does (claim F1 {a['claim_f1']:.2f}); {a['unread']} answers unread (unscored)")
                                for a in read_manifest(store).reader_agreement.values()]
    t["reference_definitions"] = pd.DataFrame(rows, columns=["metric", "definition"])
    t["nominal_sensitivity"] = nominal_sensitivity(store, advice, an, opts, bootstrap=bootstrap, seed=seed)


NOMINAL_GRID_DB = (2.0, 3.0, 4.0)


def nominal_sensitivity(store: Store, advice: pd.DataFrame, an: Analysis, opts: ReferenceOptions, *, bootstrap: int,
                        seed: int) -> pd.DataFrame:
    """The primary contrasts again with each dB assumed for a direction with no number (2, 3, 4 dB and the run's
    own): a headline that flips with this setting rests on the assumption, not on the advice."""
    if an.plan.primary_metric not in REFERENCE_METRICS:
        return pd.DataFrame()
    items = {i.id: i for i in store.items()}
    parsed = {a.id: parse_advice(a.text) for a in store.advice()}
    frames = []
    for nominal in sorted({*NOMINAL_GRID_DB, opts.nominal_db}):
        o = opts.model_copy(update={"nominal_db": nominal})
        values = [reference_metrics(parsed[a], items[i], o)[an.plan.primary_metric] for a, i in zip(advice.advice_id, advice.item_id, strict=True)]
        rows = contrast_rows(advice.assign(**{an.plan.primary_metric: values}), an.primary, an.plan.primary_metric,
                             bootstrap=bootstrap, seed=seed)
        if len(rows):
            frames.append(rows.assign(nominal_db=nominal, as_run=nominal == opts.nominal_db))
    if not frames:
        return pd.DataFrame()
    cols = ["contrast", "nominal_db", "as_run", "n_songs", "n_items", "mean_difference", "ci_low", "ci_high", "p_value"]
    return pd.concat(frames, ignore_index=True)[cols].sort_values(["contrast", "nominal_db"], ignore_index=True)


def _truth_check_tables(store: Store, an: Analysis) -> None:
    """The truth check made when the test set was imported from MixologyDB (``TESTSET/truth_check/``), if any."""
    where = read_manifest(store).testset_path
    path = Path(where or ".") / "truth_check" / "truth_check.json"
    if not where or not path.is_file():
        return
    from evalkit.report.truth_check import agreement_rows, headline_rows

    doc = json.loads(path.read_text())
    an.truth_check = doc
    an.tables["truth_check"] = pd.DataFrame(headline_rows(doc))
    an.tables["truth_check_agreement"] = pd.DataFrame(agreement_rows(doc))


def reference_options(store: Store) -> ReferenceOptions:
    """The settings the run's reference judgments were made with (stored with its preset)."""
    return read_manifest(store).reference_options()


def _gain_errors(store: Store, advice: pd.DataFrame, opts: ReferenceOptions) -> pd.DataFrame:
    """Each quantified claim's gain against the truth, both in the reference judge's frame (its metrics' definition)."""
    items = {i.id: i for i in store.items()}
    by_id = advice.set_index("advice_id")
    texts = {a.id: a.text for a in store.advice()}
    claims = []
    for j in store.judgments(REFERENCE_JUDGE):
        if j.protocol != "reference" or not j.parsed or j.advice_id not in by_id.index:  # unscored, or outside the analysis
            continue
        a = by_id.loc[j.advice_id]
        m = j.reference_metrics
        stored = m.claims
        # the gains the judge applied; judgments stored before they were kept: the same parse, the same settings
        gains = m.gains_db or opts.claimed_gains(parse_advice(texts[j.advice_id]))
        t, g = framed(items[a.item_id], gains, opts)
        for c in stored:
            if c["db"] is not None and c["stem"] in t:
                claims.append({"system": a.arm, "stem": c["stem"], "claimed_db": g[c["stem"]], "true_db": t[c["stem"]],
                               "error_db": g[c["stem"]] - t[c["stem"]]})
    return pd.DataFrame(claims, columns=["system", "stem", "claimed_db", "true_db", "error_db"])


def engineer_spread(store: Store) -> tuple[float, str] | None:
    """How far engineers' own gains for a stem spread across mixes of one song (pooled SD over the run's songs
    and stems), from data the user loaded (MixologyDB / MixParams); None when no song carries it."""
    sds, mixes, songs = [], 0, 0
    for song in store.songs().values():
        spread = song.meta.get("engineer_spread_db") or {}
        if spread:
            sds += [float(v) for v in spread.values()]
            mixes += int(song.meta.get("mixes", 0))
            songs += 1
    if not sds:
        return None
    return float(np.sqrt(np.mean(np.square(sds)))), f"engineers' spread (SD, {mixes} mixes of {songs} songs)"


def _rubric_tables(store: Store, advice: pd.DataFrame, an: Analysis, *, bootstrap: int, seed: int) -> None:
    abs_rows = [{"advice_id": j.advice_id, "judge": j.judge, "rubric": j.rubric, "score": j.score}
                for j in store.judgments() if j.protocol == "absolute" and j.parsed]
    if not abs_rows:
        return
    per = pd.DataFrame(abs_rows).groupby(["advice_id", "judge", "rubric"]).score
    agg = per.median().rename("score").to_frame().join((per.max() - per.min()).rename("spread")).reset_index()
    sc = advice.merge(agg, on="advice_id")  # median over samples; the spread between samples is kept beside it
    keys = ["judge", "rubric", "system", "condition"]
    means = system_means(sc, "score", tuple(keys), bootstrap=bootstrap, seed=seed, cluster="song_id")
    spread = sc.groupby(keys).spread.mean().rename("mean_sample_spread").reset_index()
    an.tables["rubric_scores"] = means.merge(spread, on=keys)
    rows = [contrast_rows(g, an.primary, "score", bootstrap=bootstrap, seed=seed).assign(judge=judge, rubric=rubric)
            for (judge, rubric), g in sc.groupby(["judge", "rubric"])]
    rows = [r for r in rows if len(r)]
    if rows:
        an.tables["rubric_contrasts"] = pd.concat(rows, ignore_index=True).assign(family="exploratory (unadjusted)")


# Which study question each judge's verdict answers: the pairwise rubric and the reference judge ask which
# advice a producer would rather follow (helpfulness); absolute rubrics are named after their question.
PAIRWISE_CRITERION = PRIMARY


def _rubric_votes(store: Store, advice: pd.DataFrame, human: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """Votes implied by absolute rubric scores on the (item, pair)s people judged: the advice scored
    higher (median over samples) wins; equal scores are a tie."""
    rows = [{"advice_id": j.advice_id, "judge": j.judge, "rubric": j.rubric, "score": j.score}
            for j in store.judgments() if j.protocol == "absolute" and j.parsed]
    if not rows:
        return {}
    scores = pd.DataFrame(rows).groupby(["advice_id", "judge", "rubric"]).score.median().reset_index()
    scores = scores.merge(advice[["advice_id", "item_id", "arm"]], on="advice_id")
    pairs = canonical(human)[["item_id", "system_a", "system_b"]].drop_duplicates()
    out = {}
    for (judge, rubric), g in scores.groupby(["judge", "rubric"]):
        s = g.set_index(["item_id", "arm"]).score
        m = pairs.assign(sa=[s.get((i, a), np.nan) for i, a in zip(pairs.item_id, pairs.system_a, strict=True)],
                         sb=[s.get((i, b), np.nan) for i, b in zip(pairs.item_id, pairs.system_b, strict=True)]).dropna()
        if len(m):
            out[(judge, rubric)] = m.assign(participant_id=judge, choice=np.where(m.sa > m.sb, "a", np.where(m.sa < m.sb, "b", "tie")))
    return out


def criterion_agreement(store: Store, advice: pd.DataFrame, votes: dict, by_criterion: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each judge against the human answers of the matching study question, with that question's
    human–human agreement beside it as the ceiling."""
    rows = []
    sources = [(judge, "pairwise verdict", PAIRWISE_CRITERION, v) for judge, v in votes.items()]
    sources += [(judge, rubric, rubric, v) for (judge, rubric), v in _rubric_votes(store, advice, next(iter(by_criterion.values()))).items()]
    for judge, rubric, criterion, v in sources:
        human = by_criterion.get(criterion)
        if human is None:
            continue
        agree = vote_agreement(v, human).iloc[0].to_dict()
        ceiling = human_agreement(human).iloc[0]
        rows.append({"judge": judge, "rubric": rubric, "study_question": criterion, **agree,
                     "human_ceiling_with_tie": ceiling.agreement_with_tie, "human_ceiling_without_tie": ceiling.agreement_without_tie})
    return pd.DataFrame(rows)


def _exclusion_note(human: pd.DataFrame) -> str | None:
    """Who the study excluded and why, in one sentence (the rule lives in study/outcomes.py)."""
    if "excluded" not in human.columns:
        return None
    people = human.drop_duplicates("participant_id")
    flags = people.excluded.astype(str).str.lower().isin(("true", "1"))
    if not flags.any():
        return f"All {len(people)} participants with answers met the inclusion rule (completed, gold trials passed)."
    reasons = people[flags].exclusion_reason.fillna("excluded").value_counts()
    return (f"{int(flags.sum())} of {len(people)} participants with answers were excluded from every human analysis ("
            + ", ".join(f"{n} {r}" for r, n in reasons.items()) + ").")


def _human_tables(store: Store, human: pd.DataFrame, advice: pd.DataFrame, votes: dict, an: Analysis, *, bootstrap: int,
                  seed: int, include_simulated: bool = False) -> None:
    t = an.tables
    an.has_humans = True
    if "gold_passed" in human and "excluded" not in human and human.gold_passed.notna().any():  # an export from before the flags
        human = human.assign(excluded=~human.gold_passed.fillna(True).astype(bool), exclusion_reason="failed gold trials")
    note = _exclusion_note(human)
    if note:
        an.notes.append(note)
    by_criterion = {c: analysis_rows(human, "human answers", criterion=c, include_simulated=include_simulated)
                    for c in (sorted(human.criterion.dropna().unique()) if "criterion" in human else [PRIMARY])}
    human = by_criterion.get(PRIMARY, next(iter(by_criterion.values())))
    an.simulated_humans = bool(human.get("simulated", pd.Series([False])).astype(str).str.lower().isin(("true", "1")).any())
    song_of = advice.drop_duplicates("item_id").set_index("item_id")["song_id"].to_dict()
    t["human_condition_contrasts"] = human_contrasts(human, an.primary, song_of, an.axes)
    if "specificity" in by_criterion:
        t["human_condition_contrasts_specificity"] = human_contrasts(by_criterion["specificity"], an.primary, song_of, an.axes)
    t["human_win_rates"] = win_rates(human)
    t["human_pairwise_tests"] = pairwise_tests(human, song_of=song_of)
    t["human_bradley_terry"] = bradley_terry(human, bootstrap=bootstrap, seed=seed)
    t["human_win_matrix"] = win_matrix(human).reset_index().rename(columns={"index": "system"})
    t["human_agreement"] = human_agreement(human)
    t["judge_human_agreement_by_question"] = criterion_agreement(store, advice, votes, by_criterion)
    agree, rank, item_corr = [], [], []
    for judge, v in votes.items():
        agree.append(vote_agreement(v, human).assign(judge=judge))
        rank.append(ranking_correlation_ci(v, human, bootstrap=min(bootstrap, 300), seed=seed).assign(judge=judge))
        if v.margin.notna().any():
            item_corr.append(item_level_correlation(canonical(v).dropna(subset=["margin"]), human).assign(judge=judge))
    if agree:
        t["judge_human_agreement"] = pd.concat(agree, ignore_index=True)
        # simulated raters are made from the reference judge's judgments: its agreement with them is circular
        t["judge_human_agreement"]["simulated_from_this_judge"] = an.simulated_humans & (t["judge_human_agreement"].judge == REFERENCE_JUDGE)
        t["judge_human_ranking"] = pd.concat(rank, ignore_index=True)
    if item_corr:
        t["judge_human_item_correlation"] = pd.concat(item_corr, ignore_index=True)


def _check_answers_match(human: pd.DataFrame, advice: pd.DataFrame, run_items: set[str]) -> None:
    """Answers must be about this run: arms it has, items it has (answers of another run would be analysed as if
    they were about this one)."""
    if not {"system_a", "system_b", "item_id"} <= set(human.columns):
        return  # the preference reader names the missing columns
    arms = set(advice.arm)
    unknown = sorted((set(human.system_a.astype(str)) | set(human.system_b.astype(str))) - arms)
    if unknown:
        raise EvalkitInputError(f"--answers: system(s) {', '.join(unknown[:3])} are not arms of this run (it has "
                                f"{', '.join(sorted(arms)[:6])}); were these answers exported from another run's study?")
    items = set(human.item_id.astype(str)) - run_items
    if items:
        raise EvalkitInputError(f"--answers: item(s) {', '.join(sorted(items)[:3])} are not in this run; were these answers "
                                "exported from another run's study?")


def _flag_position_bias(an: Analysis) -> None:
    """Mark, in the judge–human agreement table, judges whose swap consistency is under the declared floor."""
    agree, diag = an.tables.get("judge_human_agreement"), an.tables.get("judge_diagnostics")
    if agree is None or diag is None or not len(agree):
        return
    swap = diag.set_index("judge")["swap_consistency"]
    agree["swap_consistency"] = agree.judge.map(swap)
    agree["position_biased"] = agree.swap_consistency.map(an.plan.position_biased).astype(bool)


def _design(store: Store, an: Analysis) -> tuple[pd.DataFrame, list[dict]]:
    """The advice a run's inference uses (held-out items of the split it generated), the systems of that split, and
    the stored analysis plan (into ``an``)."""
    advice = advice_frame(store)
    an.provenance = _provenance(store, advice)
    manifest = read_manifest(store)
    an.plan, an.plan_record = stored_plan(store)
    return _held_out_for_inference(advice, manifest.split, an), [s.model_dump(mode="json") for s in manifest.systems]


def analyze(store: Store, human: pd.DataFrame | None = None, *, bootstrap: int = 1000, seed: int = 0,
            include_simulated: bool = False, flow: pd.DataFrame | None = None) -> Analysis:
    """Every table of the report, from the run store and (optionally) the study's answers."""
    an = Analysis(provenance={})
    advice, systems = _design(store, an)
    an.primary = an.plan.resolve(systems)
    an.axes = an.plan.resolve_axes(systems)
    an.bounds = [s["name"] for s in systems if is_bound_kind(s["kind"])]
    _plan_notes(an, systems)
    t = an.tables
    # cut_at_max_tokens: answers that hit the limit mid-sentence (scored as written; never shown in the study);
    # trimmed_to_sentences: answers that hit it and were trimmed to their last whole sentence (when_cut: trim)
    t["advice_counts"] = (advice.groupby(["system", "condition"]).agg(n=("advice_id", "size"), cut_at_max_tokens=("cut", "sum"),
                                                                      trimmed_to_sentences=("trimmed", "sum"))
                          .reset_index() if len(advice) else pd.DataFrame())
    for r in t["advice_counts"].itertuples() if len(t["advice_counts"]) else []:
        if r.cut_at_max_tokens or r.trimmed_to_sentences:
            an.notes.append(f"{r.system} under {r.condition}: {r.cut_at_max_tokens + r.trimmed_to_sentences} of {r.n} answers "
                            "reached max_tokens; " + (f"{r.trimmed_to_sentences} were trimmed to their last whole sentence"
                                                     if r.trimmed_to_sentences else "")
                            + ("; " if r.trimmed_to_sentences and r.cut_at_max_tokens else "")
                            + (f"{r.cut_at_max_tokens} stop mid-sentence (scored as written, never shown in the study)"
                               if r.cut_at_max_tokens else "") + ".")
    failed = store.advice_frame()
    t["advice_failures"] = failed[failed.status != "ok"][["item_id", "system", "condition", "attempts", "error"]]
    _reference_tables(store, advice, an, bootstrap=bootstrap, seed=seed)
    curve = learning_curve(t.get("reference_scores"), systems, t["advice_counts"])
    if len(curve):  # only a run with checkpoints has a learning curve
        t["learning_curve"] = curve
    _truth_check_tables(store, an)
    _rubric_tables(store, advice, an, bootstrap=bootstrap, seed=seed)
    t["judge_diagnostics"] = judge_diagnostics(store)
    t["judge_agreement"] = judge_agreement(store)
    votes = judge_votes(store, advice)
    if human is not None and len(human):
        _check_answers_match(human, advice, {i.id for i in store.items()})
        _human_tables(store, human, advice, votes, an, bootstrap=bootstrap, seed=seed, include_simulated=include_simulated)
        _flag_position_bias(an)
    if flow is not None:
        t["participant_flow"] = flow
    rankings = [bradley_terry(v, bootstrap=0).assign(judge=judge) for judge, v in votes.items()]
    if rankings:
        t["judge_bradley_terry"] = pd.concat(rankings, ignore_index=True)
    return an


def load_human(path: Path | None) -> pd.DataFrame | None:
    if path is None or not Path(path).exists():
        return None
    from evalkit.csv_io import read_user_csv

    return read_user_csv(Path(path), "answers")


__all__ = ["Analysis", "advice_frame", "analyze", "contrast_rows", "contrasts_by_style", "exploratory_contrasts", "human_contrasts",
           "judge_votes", "load_human", "paired_differences", "primary_contrasts",
           "primary_differences"]
