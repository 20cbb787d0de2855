"""`evalkit run CONFIG` / `evalkit demo`: every stage from one validated config, resuming where it stopped.

test set -> generate -> judge (each preset) -> study (create, simulate or import answers) -> stats -> report.
Each stage is idempotent, so rerunning after a crash recomputes only what is missing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalkit.analysis_plan import AnalysisPlan
from evalkit.config_io import load_yaml, validate
from evalkit.data.synth_options import SynthOptions
from evalkit.errors import ConfigError, MissingDependencyError
from evalkit.manifest import declare_plan
from evalkit.paths import find_shipped
from evalkit.records import Condition
from evalkit.systems.base import SystemConfig, expand_checkpoints, parse_systems


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestsetOptions(Strict):
    path: str | None = Field(None, description="an existing test set (evalkit data synth/import); without it one is synthesized under OUT/testset")  # an existing test set; otherwise one is synthesized under OUT/testset
    synth: SynthOptions = Field(default_factory=SynthOptions, description="how to synthesize the test set when no "
                                                                          "path is given")

    __test__ = False


class JudgeEntry(Strict):
    preset: str = Field(description="a judge preset YAML (judges/*.yaml, shipped or your own path)")
    pairs: str = Field("all", description="which advice pairs a pairwise judge sees: all, or vs:SYSTEM (pairs with "
                                          "that system or arm)")
    max_pairs: int | None = Field(None, ge=1, description="judge at most this many (item, pair)s")
    optional: bool = Field(False, description="a judge whose back end is missing here (not installed, no GPU) is skipped with a note in the report instead of stopping the run")  # skip with a note if its dependency or endpoint is missing


class SimulateOptions(Strict):
    participants: int = Field(24, ge=1, description="how many simulated raters")
    seed: int = Field(0, description="seed for the simulated raters")
    noise_db: float = Field(1.0, description="each rater's judgement noise in dB of balance improvement (scaled "
                                             "0.5–1.5× per rater)")
    inattentive: float = Field(0.1, ge=0, le=1, description="share of raters who answer at random (they fail gold "
                                                            "trials)")
    fail_screening: float = Field(0.05, ge=0, le=1, description="share of raters who fail the headphone check")


class StudyOptions(Strict):
    enabled: bool = Field(True, description="create a listening study (and simulate or read answers for it)")
    systems: list[str] | None = Field(None, description="the systems (a name takes all its conditions) or arms "
                                                        "(system/condition) the study compares; default: every "
                                                        "arm in the run")
    ratings: int = Field(4, ge=1, description="how many participants rate each (item, pair)")
    trials_per_participant: int = Field(12, ge=1, description="questions per participant, gold trials not counted")
    gold_per_participant: int = Field(2, ge=0, description="gold trials (one advice right, one contradicting the "
                                                           "truth) per participant; a wrong one excludes them")
    max_items: int | None = Field(None, description="use at most this many items")
    after_audio: bool = Field(False, description="render each advice applied to the mix, so participants can hear "
                                                 "what following it would give")
    seed: int = Field(0, ge=0, description="seeds the study's design: blocks, left/right order, gold trials "
                                           "(report.seed seeds "
                                            "the report's bootstrap only)")
    simulate: SimulateOptions | None = Field(default_factory=SimulateOptions, description="simulated raters, clearly labelled, so the pipeline runs end to end before real people take part")
    answers_csv: str | None = Field(None, description="real answers exported by evalkit study export; used instead of simulating")  # real answers exported from `evalkit study export`


class ReportOptions(Strict):
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (by song or participant) for the intervals "
                                                   "that use it; 0 skips them")
    seed: int = Field(0, description="seeds the report's bootstrap intervals")
    human_spread_db: float | None = Field(None, gt=0, le=20, description="a cited engineers' spread (dB) for the "
                                                                         "gain-error figure")
    human_spread_source: str | None = Field(None, min_length=3, description="where human_spread_db comes from (a "
                                                                            "citation)")

    @model_validator(mode="after")
    def _cited(self) -> ReportOptions:
        if (self.human_spread_db is None) != (self.human_spread_source is None):
            raise ValueError("human_spread_db and human_spread_source go together: a number needs its source")
        return self

    @property
    def human_spread(self) -> tuple[float, str] | None:
        return (self.human_spread_db, self.human_spread_source) if self.human_spread_db is not None else None


class FinetuneOptions(Strict):
    """Fine-tune before advising: an adapter under OUT/adapters/NAME that systems use with ``checkpoints:
    [adapters/NAME]`` (a learning curve) or ``backend: {adapter: adapters/NAME}``."""
    name: str = Field("tuned", pattern=r"^[A-Za-z0-9_.-]+$", description="folder under OUT/adapters")
    base: str = Field("smollm2", description='"smollm2" or a local transformers checkpoint')
    conditions: list[Condition] = Field(default_factory=lambda: [Condition.mix, Condition.stems, Condition.stems_reference],
                                        min_length=1, description="trained at once: one model for every condition")
    layout: Literal["side-by-side", "difference", "interleaved"] = Field(
        "difference", description="how the stems sit beside a reference in the training prompts (give the systems "
                                  "the same)")
    steps: int = Field(60, ge=1, le=1_000_000, description="optimizer steps")
    batch_size: int = Field(8, ge=1, le=4096, description="examples per step")
    lora_r: int = Field(8, ge=1, le=1024, description="LoRA rank (alpha = 2 × rank)")
    lr: float = Field(2e-4, gt=0, lt=1, description="peak learning rate (10% linear warm-up, then cosine to a "
                                                    "tenth)")
    seed: int = Field(0, ge=0, description="LoRA's initial weights, batch order and dropout")
    full: bool = Field(False, description="full fine-tuning instead of LoRA (tiny models)")
    checkpoint_every: int = Field(20, ge=1, description="a checkpoint (and the val loss) every N steps: the "
                                                        "learning curve's points")
    max_length: int = Field(512, ge=32, le=32768, description="longest prompt + advice in tokens; a longer example "
                                                              "is an error")


class ExperimentConfig(Strict):
    """One experiment: every stage of `evalkit run` from one file."""
    name: str = Field(description="a label for the run")
    analysis: AnalysisPlan = Field(default_factory=AnalysisPlan, description="the primary metric and contrasts, "
                                                                             "declared before the data")
    testset: TestsetOptions = Field(default_factory=TestsetOptions, description="an existing test set, or how to "
                                                                                "synthesize one")
    split: Literal["train", "val", "test", "all"] = Field("test", description="the items advised on")
    finetune: FinetuneOptions | None = Field(None, description="fine-tune an advisor on the train split before "
                                                               "advising")
    systems: list[SystemConfig] | str = Field(min_length=1, description="the advice systems, or a systems YAML "
                                                                        "file next to this one")
    judges: list[JudgeEntry] = Field(default_factory=lambda: [JudgeEntry(preset="judges/reference.yaml")],
                                     description="judge presets, in order")
    study: StudyOptions = Field(default_factory=StudyOptions, description="the listening study: design, simulated "
                                                                          "or real answers")
    report: ReportOptions = Field(default_factory=ReportOptions, description="bootstrap rounds and the cited human "
                                                                             "spread")


def _resolve(path: str, base: Path) -> Path:
    """A path in an experiment config: as given, next to the config, or shipped with evalkit."""
    p = Path(path)
    for cand in (p, base / p):
        if cand.exists():
            return cand
    return find_shipped(p)


def load_experiment(path: str | Path) -> ExperimentConfig:
    path = Path(path)
    cfg = validate(ExperimentConfig, load_yaml(path), path)
    if isinstance(cfg.systems, str):
        f = _resolve(cfg.systems, path.parent)
        cfg.systems = parse_systems(load_yaml(f), str(f))  # checkpoints are expanded once the run's adapters exist
    return cfg


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, flush=True)


def _study_stage(config: ExperimentConfig, out: Path, config_dir: Path, quiet: bool) -> tuple[pd.DataFrame | None, pd.DataFrame | None, bool]:
    """Create the study once; answers come from a CSV the user gives or from simulated raters (labelled).
    Returns (answers, participant flow, whether the answers are simulated)."""
    from evalkit.study.design import create_study
    from evalkit.study.outcomes import export_answers, flow_table
    from evalkit.study.simulate import simulate
    from evalkit.study.study_store import StudyStore

    opts, study_dir = config.study, out / "study"
    if not (study_dir / "study.json").exists():
        _log("[4/6] creating the listening study", quiet)
        create_study(out, study_dir, systems=opts.systems, ratings=opts.ratings, trials_per_participant=opts.trials_per_participant,
                     gold_per_participant=opts.gold_per_participant, max_items=opts.max_items, after_audio=opts.after_audio,
                     seed=opts.seed, show_progress=not quiet)
    if opts.answers_csv:
        from evalkit.csv_io import read_user_csv

        return read_user_csv(_resolve(opts.answers_csv, config_dir), "study.answers_csv"), None, False
    if not opts.simulate:
        return None, None, False
    sim = opts.simulate
    _log(f"[4/6] simulating {sim.participants} raters (marked SIMULATED)", quiet)
    simulate(study_dir, participants=sim.participants, seed=sim.seed, noise_db=sim.noise_db, inattentive=sim.inattentive,
             fail_screening=sim.fail_screening)
    study = StudyStore(study_dir)
    human = export_answers(study)
    from evalkit.csv_io import write_safe_csv

    write_safe_csv(human, study_dir / "answers.csv", "simulated study export")
    return human, flow_table(study), True


def _testset_step(config: ExperimentConfig, out: Path, config_dir: Path, quiet: bool, force: frozenset[str]) -> Path:
    """1. The test set: the configured one, or one synthesized under OUT/testset. A test set already there with other
    settings is the one this run's advice was made on: it is replaced only with ``--force testset``."""
    from evalkit.data.synth import synthesize
    from evalkit.outputs import staged_dir

    if config.testset.path:
        return _resolve(config.testset.path, config_dir)
    ts_dir = out / "testset"
    params = config.testset.synth.model_dump()
    manifest = ts_dir / "manifest.json"
    current = json.loads(manifest.read_text()) if manifest.exists() else None
    wanted = {k: v for k, v in params.items() if k != "seed"}
    if current and current.get("seed") == params["seed"] and all(current["parameters"].get(k) == v for k, v in wanted.items()):
        _log("[1/6] test set already there", quiet)
        return ts_dir
    if current and "testset" not in force:
        was = {**current.get("parameters", {}), "seed": current.get("seed")}
        changed = ", ".join(f"{k} {was.get(k)} -> {v}" for k, v in params.items() if was.get(k) != v)
        raise ConfigError(f"{ts_dir}: this run's test set was synthesized with other settings ({changed}) and its advice "
                          "refers to it; give a new --out, or --force testset to replace it")
    _log("[1/6] synthesizing the test set", quiet)
    with staged_dir(ts_dir, "test set", force=True) as tmp:
        synthesize(tmp, songs=params["songs"], seed=params["seed"], seconds=params["seconds"],
                   sample_rate=params["sample_rate"], problems_per_song=params["problems_per_song"],
                   controls_per_song=params["controls_per_song"], renderer=params["renderer"], progress=not quiet)
    return ts_dir


def _finetune_step(opts: FinetuneOptions, ts_dir: Path, out: Path, quiet: bool) -> None:
    """1b. The adapter under OUT/adapters/NAME: trained once, resumed after a kill, kept when already complete."""
    from evalkit.data.testset import load_testset
    from evalkit.training.loop import TrainSettings, finetune

    _log(f"[1/6] fine-tuning {opts.base} on the train split ({opts.steps} steps)", quiet)
    settings = TrainSettings(**{**opts.model_dump(exclude={"name"}), "conditions": tuple(c.value for c in opts.conditions)})
    rec = finetune(load_testset(ts_dir), settings, out / "adapters" / opts.name, progress=not quiet)
    curve = rec["loss_curve"]
    _log(f"      loss {curve[0][1]:.3f} -> {curve[-1][1]:.3f} over {rec['steps']} steps, checkpoints {rec['checkpoints']}", quiet)


def _presets(config: ExperimentConfig, config_dir: Path, force: frozenset[str]) -> list[tuple[JudgeEntry, Any]]:
    """The judge presets, loaded before any work, and a check that every --force name is a system or a judge."""
    from evalkit.judging.rubrics import load_judge

    presets = [(entry, load_judge(_resolve(entry.preset, config_dir))) for entry in config.judges]
    unknown = (set(force) - {s.name for s in config.systems} - {s.checkpoint_of for s in config.systems}
               - {p.name for _, p in presets} - {"testset"})
    if unknown:
        raise ConfigError(f"--force {', '.join(sorted(unknown))}: no system or judge of that name in the experiment")
    return presets


def _judge_step(store, presets, force: frozenset[str], quiet: bool, notes: list[str], stage, workers: int = 1) -> None:
    """3. Each judge in order; an optional one whose model or endpoint is missing is skipped with a note."""
    from evalkit.judging.stage import judge_run

    for entry, preset in presets:
        if entry.max_pairs:
            preset.max_pairs = entry.max_pairs
        _log(f"[3/6] judging with {preset.name}", quiet)
        t = time.perf_counter()
        try:
            c = judge_run(store, preset, pairs=entry.pairs, show_progress=not quiet, force=preset.name in force,
                          workers=workers)
            _log(f"      {c['scored']} scored, {c['unscored']} unscored, {c['skipped']} already there"
                 + (f", {c['failed_calls']} failed calls (retried on the next run)" if c["failed_calls"] else ""), quiet)
        except (MissingDependencyError, ConfigError) as exc:
            if not entry.optional:
                raise
            notes.append(f"judge {preset.name} skipped: {exc}")
            _log(f"      skipped: {exc}", quiet)
        stage(f"judge_{preset.name}_s", t)


def run_experiment(config: ExperimentConfig, out: str | Path, *, config_dir: Path = Path(), quiet: bool = False,
                   force: frozenset[str] = frozenset(), workers: int = 1) -> dict[str, Any]:
    """Every stage of one experiment, each resumable: test set, advice, judges, study, statistics, report.
    ``workers`` local processes share the model calls of generate and the LLM judges (evalkit/workers.py)."""
    from evalkit.generate import generate
    from evalkit.report.build import write_report
    from evalkit.store import Store

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    notes: list[str] = []

    def stage(name: str, t: float) -> None:
        timings[name] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    ts_dir = _testset_step(config, out, config_dir, quiet, force)
    stage("testset_s", t)

    if config.finetune is not None:
        t = time.perf_counter()
        _finetune_step(config.finetune, ts_dir, out, quiet)
        stage("finetune_s", t)
    config.systems = expand_checkpoints(config.systems, [out, config_dir])

    t = time.perf_counter()
    _log("[2/6] generating advice", quiet)
    stored = [s.model_dump(mode="json") for s in config.systems]
    config.analysis.resolve(stored)  # a bad plan fails before any work
    config.analysis.resolve_axes(stored)
    presets = _presets(config, config_dir, force)
    store = Store(out)
    declare_plan(store, config.analysis)  # the primary contrasts are on record before any advice exists
    counts = generate(ts_dir, config.systems, out, split=config.split, store=store, show_progress=not quiet,
                      force={s.name for s in config.systems if s.name in force or s.checkpoint_of in force}, workers=workers)
    _log(f"      {counts['ok']} new, {counts['skipped']} already there, {counts['failed']} failed", quiet)
    stage("generate_s", t)

    t = time.perf_counter()
    _judge_step(store, presets, force, quiet, notes, stage, workers)
    stage("judge_s", t)

    t = time.perf_counter()
    human, flow, simulated = _study_stage(config, out, config_dir, quiet) if config.study.enabled else (None, None, False)
    stage("study_s", t)

    t = time.perf_counter()
    _log("[5/6] statistics", quiet)
    _log("[6/6] writing the report", quiet)
    report = write_report(store, out, human, bootstrap=config.report.bootstrap, seed=config.report.seed,
                          human_spread=config.report.human_spread, include_simulated=simulated, flow=flow)
    stage("report_s", t)
    if notes:
        md = out / "report" / "report.md"
        md.write_text(md.read_text() + "\n## Notes from the run\n\n" + "".join(f"- {n}\n" for n in notes))
    store.set_meta("last_run", {"timings": timings, "notes": notes})
    return {"report": report, "timings": timings, "notes": notes, "advice": counts}


__all__ = ["ExperimentConfig", "load_experiment", "run_experiment"]
