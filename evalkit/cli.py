"""The `evalkit` command line. Each command imports what it needs, so start-up stays fast.

Exit codes: 0 success, 2 bad input with a one-line reason, 1 internal failure.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from evalkit.data.synth_options import SYNTH_DEFAULTS
from evalkit.errors import EvalkitInputError
from evalkit.secrets import mask_url

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Evaluation harness for AI mixing assistants.")
data_app = typer.Typer(no_args_is_help=True, help="Build, load and describe test sets.")
advice_app = typer.Typer(no_args_is_help=True, help="Tools for advice text.")
study_app = typer.Typer(no_args_is_help=True, help="The listening study: create, serve, export, simulate.")
stats_app = typer.Typer(no_args_is_help=True, help="Statistics over preferences, scores and agreement.")
app.add_typer(data_app, name="data")

WorkersOpt = Annotated[int, typer.Option(min=1, max=256, help="local worker processes sharing this run's model calls")]
LeaseOpt = Annotated[float | None, typer.Option(min=1, max=86400, help="seconds before a silent worker's claimed work is "
                                                                      "taken over (default 60)")]


def _worker_note(counts) -> str:
    """What other workers did for this command: work taken over from a dead worker, helpers lost."""
    parts = [f"{counts['reclaimed']} taken over from a stopped worker"] if counts.get("reclaimed") else []
    parts += [f"{counts['workers_lost']} worker process(es) died (their work was taken over)"] if counts.get("workers_lost") else []
    return "; " + ", ".join(parts) if parts else ""
app.add_typer(advice_app, name="advice")
app.add_typer(study_app, name="study")
app.add_typer(stats_app, name="stats")


def _echo_table(df, title: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None)
    for c in df.columns:
        table.add_column(str(c))
    for row in df.itertuples(index=False):
        table.add_row(*[f"{v:.3g}" if isinstance(v, float) else str(v) for v in row])
    Console(width=None if sys.stdout.isatty() else 200).print(table)


# -- data ---------------------------------------------------------------------------------------
@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="directory for manifest.json, items.jsonl and songs/")],
    songs: Annotated[int, typer.Option(min=1, max=10000, help="number of songs")] = SYNTH_DEFAULTS.songs,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="random seed; the same seed gives byte-identical files")] = SYNTH_DEFAULTS.seed,
    seconds: Annotated[float, typer.Option(help="length of each song in seconds")] = SYNTH_DEFAULTS.seconds,
    sample_rate: Annotated[int, typer.Option(min=8000, max=192000, help="sample rate in Hz")] = SYNTH_DEFAULTS.sample_rate,
    problems: Annotated[int, typer.Option(min=1, max=50, help="problem items per song")] = SYNTH_DEFAULTS.problems_per_song,
    controls: Annotated[int, typer.Option(min=0, max=50, help="already-balanced control items per song")] = SYNTH_DEFAULTS.controls_per_song,
    renderer: Annotated[str, typer.Option(help="builtin (no system packages) or fluidsynth")] = SYNTH_DEFAULTS.renderer,
    force: Annotated[bool, typer.Option(help="replace the test set already in --out (runs that point to it break)")] = False,
) -> None:
    """Generate the synthetic held-out test set."""
    from evalkit.data.synth import synthesize
    from evalkit.outputs import staged_dir

    if not 2.0 <= seconds <= 600:  # before anything is written
        raise EvalkitInputError("--seconds must be between 2 and 600")
    with staged_dir(out, "test set", force=force) as tmp:
        synthesize(tmp, songs=songs, seed=seed, seconds=seconds, sample_rate=sample_rate,
                   problems_per_song=problems, controls_per_song=controls, renderer=renderer)
    manifest = json.loads((out / "manifest.json").read_text())
    typer.echo(f"wrote {len(manifest['songs'])} songs to {out} (manifest.json, items.jsonl)")


@data_app.command("import")
def data_import(
    source: Annotated[str, typer.Argument(help="musdb | mixparams | mixeval")],
    path: Annotated[Path, typer.Argument(help="the dataset on disk: MUSDB18(-HQ) root, MixParams root or parquet file, "
                                              "MixologyDB final-track-data.json")],
    out: Annotated[Path, typer.Option(help="test-set directory to write")],
    gains: Annotated[Path | None, typer.Option(help="musdb: consensus-gains CSV (track,stem,gain_db)")] = None,
    stem_map: Annotated[Path | None, typer.Option(help="track -> stem mapping (CSV track,stem or JSON/YAML); wins over "
                                                       "instrument types and name rules")] = None,
    audio_root: Annotated[Path | None, typer.Option(help="folder the dataset's audio paths are relative to, when not the dataset's own")] = None,
    resample: Annotated[bool, typer.Option(help="musdb: resample stems whose rate differs (MixologyDB and MixParams tracks "
                                                "are always brought to their song's majority rate)")] = False,
    excerpt: Annotated[float | None, typer.Option(help="keep this many seconds of each song (the loudest window unless --excerpt-start)")] = None,
    excerpt_start: Annotated[float | None, typer.Option(help="start of the excerpt in seconds")] = None,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="seed for disturbances of balanced songs")] = 0,
    problems: Annotated[int, typer.Option(min=1, max=50, help="problem items per song")] = 3,
    force: Annotated[bool, typer.Option(help="replace the test set already in --out (runs that point to it break)")] = False,
) -> None:
    """Turn MUSDB18(-HQ), MixParams or Mix Evaluation (MixologyDB) data on disk into a test set."""
    from evalkit.data.loaders import import_dataset
    from evalkit.outputs import staged_dir

    with staged_dir(out, "test set", force=force, inputs=[path, gains, stem_map, audio_root]) as tmp:
        n = import_dataset(source, path, tmp, gains_csv=gains, seed=seed, problems_per_song=problems, stem_map=stem_map,
                           audio_root=audio_root, resample=resample, excerpt=excerpt, excerpt_start=excerpt_start)
    typer.echo(f"wrote {n} items to {out}")
    songs = json.loads((out / "manifest.json").read_text())["songs"]
    moved = [(s["id"], s["meta"]) for s in songs if s.get("meta", {}).get("resampled_from_hz")]
    for song_id, meta in moved:
        typer.echo(f"note: {song_id}: resampled {len(meta['resampled_from_hz'])} track(s) to the song's majority rate "
                   f"{meta['resampled_to_hz']} Hz ({', '.join(f'{t} from {r}' for t, r in list(meta['resampled_from_hz'].items())[:3])})")
    if source == "mixeval":  # the truth of this set is the engineers' consensus: check it against the data's listeners
        from evalkit.data.stem_map import read_stem_map
        from evalkit.report.truth_check import check_truth, write_truth_check

        try:
            doc = check_truth(path / "final-track-data.json" if path.is_dir() else path, read_stem_map(stem_map))
        except EvalkitInputError as exc:  # the test set stands; only the check has nothing to work on
            typer.echo(f"truth check skipped: {exc}")
            return
        write_truth_check(doc, out / "truth_check")
        typer.echo(f"truth check ({out / 'truth_check'}): {doc['verdict']}")


@data_app.command("check-truth")
def data_check_truth(
    path: Annotated[Path, typer.Argument(help="a MixologyDB-layout JSON file (final-track-data.json); no audio needed")],
    out: Annotated[Path, typer.Option(help="folder for truth_check.json, truth_check.md and the figures")],
    stem_map: Annotated[Path | None, typer.Option(help="track -> stem mapping (CSV track,stem or JSON/YAML)")] = None,
) -> None:
    """Check the engineers' consensus (the truth of imported sets) against real listeners' ratings and comments."""
    from evalkit.data.stem_map import read_stem_map
    from evalkit.report.truth_check import check_truth, write_truth_check

    doc = check_truth(path, read_stem_map(stem_map))
    paths = write_truth_check(doc, out)
    typer.echo(doc["verdict"])
    typer.echo(f"wrote {paths['json']}, {paths['markdown']} and figures to {out}")


@data_app.command("describe")
def data_describe(
    testset: Annotated[Path, typer.Argument(help="test-set directory")],
    figure: Annotated[Path | None, typer.Option(help="write a histogram of offsets to this PNG")] = None,
) -> None:
    """Songs, items, splits, offsets and loudness per stem."""
    from evalkit.data.describe import describe, describe_figure
    from evalkit.data.testset import load_testset

    if figure is not None and figure.suffix.lower() not in (".png", ".pdf", ".svg", ".jpg", ".jpeg"):
        raise EvalkitInputError(f"--figure {figure}: unknown image type {figure.suffix or '(none)'!r}; end it in .png, .pdf or .svg")
    ts = load_testset(testset)
    for name, df in describe(ts).items():
        _echo_table(df, name)
    if figure:
        typer.echo(f"figure: {describe_figure(ts, figure)}")


def _conditions_option(text: str) -> list[str]:
    from evalkit.records import Condition

    conds = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in conds if c not in {x.value for x in Condition}]
    if bad or not conds:
        raise EvalkitInputError(f"--conditions {text!r}: {', '.join(bad) or 'empty'} is not a condition; choose from "
                                f"{', '.join(x.value for x in Condition)}")
    if len(set(conds)) != len(conds):
        raise EvalkitInputError(f"--conditions {text!r}: a condition is named twice")
    return conds


def _layout_option(layout: str) -> str:
    from evalkit.systems.base import FEATURE_LAYOUTS

    if layout not in FEATURE_LAYOUTS:
        raise EvalkitInputError(f"--layout {layout!r}: choose {', '.join(FEATURE_LAYOUTS)}")
    return layout


@data_app.command("export-sft")
def data_export_sft(
    testset: Annotated[Path, typer.Argument(help="test-set directory")],
    out: Annotated[Path, typer.Option(help="JSONL file to write")],
    split: Annotated[str, typer.Option(help="train | val (the test split is never exported for training)")] = "train",
    conditions: Annotated[str, typer.Option(help="comma-separated conditions whose prompts to export")] = "mix,stems,stems+reference",
    layout: Annotated[str, typer.Option(help="how stems sit beside a reference: side-by-side | difference | interleaved")] = "side-by-side",
    force: Annotated[bool, typer.Option(help="replace a file at --out that evalkit did not write")] = False,
) -> None:
    """Problem/solution pairs as chat-format JSONL for fine-tuning: the evaluation's prompts, advice from the truth."""
    from evalkit.data.describe import export_sft, is_sft_export
    from evalkit.data.testset import load_testset
    from evalkit.outputs import guard_file
    from evalkit.training.examples import refuse_test_split

    refuse_test_split(split, "data export-sft")
    conds = _conditions_option(conditions)
    _layout_option(layout)
    guard_file(out, "SFT export", force=force, inputs=[testset], ours=is_sft_export)
    n = export_sft(load_testset(testset), split, out, conds, layout)
    typer.echo(f"wrote {n} examples to {out}")


@app.command("finetune")
def finetune_cmd(
    testset: Annotated[Path, typer.Option(help="test-set directory (its train split is trained on)")],
    out: Annotated[Path, typer.Option(help="adapter folder to write (checkpoint-N/ subfolders inside)")],
    base: Annotated[str, typer.Option(help='"smollm2" (the bundled model) or a local transformers checkpoint')] = "smollm2",
    conditions: Annotated[str, typer.Option(help="comma-separated conditions trained at once (one model for all)")] = "mix,stems,stems+reference",
    layout: Annotated[str, typer.Option(help="how stems sit beside a reference: difference (compact) | side-by-side | interleaved")] = "difference",
    steps: Annotated[int, typer.Option(help="optimizer steps")] = 60,
    batch_size: Annotated[int, typer.Option(help="examples per step")] = 8,
    lora_r: Annotated[int, typer.Option(help="LoRA rank (alpha = 2 × rank)")] = 8,
    lr: Annotated[float, typer.Option(help="peak learning rate (warm-up, then cosine)")] = 2e-4,
    seed: Annotated[int, typer.Option(min=0, help="batch order and dropout")] = 0,
    full: Annotated[bool, typer.Option(help="full fine-tuning instead of LoRA (tiny models)")] = False,
    checkpoint_every: Annotated[int, typer.Option(help="save a checkpoint (and the val loss) every N steps")] = 20,
    max_length: Annotated[int, typer.Option(help="longest prompt + advice in tokens")] = 512,
    split: Annotated[str, typer.Option(help="train (the test split is refused; val is used for the val loss)")] = "train",
    force: Annotated[bool, typer.Option(help="replace an adapter at --out trained with other settings")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Fine-tune an advisor on the train split's prompts (as the evaluation shows them) with advice from the truth.
    Resumes from the last checkpoint after a kill; use the adapter as a system with `adapter:` or `checkpoints:`."""
    from evalkit.training.examples import refuse_test_split

    refuse_test_split(split, "finetune")
    conds = _conditions_option(conditions)
    _layout_option(layout)
    from evalkit.data.testset import load_testset
    from evalkit.training.loop import TrainSettings, finetune

    settings = TrainSettings(base=base, conditions=tuple(conds), layout=layout, steps=steps, batch_size=batch_size,
                             lora_r=lora_r, lr=lr, seed=seed, full=full, checkpoint_every=checkpoint_every,
                             max_length=max_length, split=split)
    settings.check()
    rec = finetune(load_testset(testset), settings, out, progress=not quiet, force=force)
    curve = rec["loss_curve"]
    typer.echo(f"adapter: {out} ({rec['examples']} examples from {rec['items']} train items, {rec['steps']} steps; "
               f"loss {curve[0][1]:.3f} -> {curve[-1][1]:.3f}"
               + (f"; val loss {rec['val_loss_curve'][-1][1]:.3f}" if rec["val_loss_curve"] else "") + ")")
    typer.echo(f"checkpoints: {', '.join(map(str, rec['checkpoints']))} (as a system: backend.adapter: {out}, "
               f"or checkpoints: [{out}] for a learning curve)")


@app.command("release")
def release_cmd(
    testset: Annotated[Path, typer.Argument(help="test-set directory (its test split is released)")],
    out: Annotated[Path, typer.Option(help="release folder to write")],
    conditions: Annotated[str, typer.Option(help="comma-separated conditions whose prompts are released")] = "mix,stems,stems+reference",
    layout: Annotated[str, typer.Option(help="how stems sit beside a reference in the prompts")] = "side-by-side",
    seed: Annotated[int, typer.Option(min=0, help="the reference-track choice (as a system's seed)")] = 0,
    force: Annotated[bool, typer.Option(help="replace an earlier release at --out")] = False,
) -> None:
    """Freeze the test split as a benchmark release: inputs as advisors see them, truth, checksums, datasheet, schema."""
    from evalkit.benchmark.release import make_release

    rel = make_release(testset, out, conditions=_conditions_option(conditions), layout=_layout_option(layout), seed=seed,
                       force=force)
    typer.echo(f"release {rel['release_id']}: {rel['n_items']} items from {rel['n_songs']} songs under "
               f"{', '.join(rel['conditions'])} -> {out} (DATASHEET.md, submission.schema.json)")


@app.command("export-submission")
def export_submission_cmd(
    run: Annotated[str, typer.Argument(help="run directory or database URL")],
    system: Annotated[str, typer.Option(help="the system whose advice is submitted")],
    out: Annotated[Path, typer.Option(help="submission JSONL to write")],
    force: Annotated[bool, typer.Option(help="replace a file at --out that evalkit did not write")] = False,
) -> None:
    """A run's advice from one system as a benchmark submission (one line per test item and condition)."""
    from evalkit.benchmark.submission import export_submission, is_submission
    from evalkit.outputs import guard_file
    from evalkit.store import Store

    guard_file(out, "submission", force=force, inputs=[run], ours=is_submission)
    n = export_submission(Store(run, create=False), system, out)
    typer.echo(f"wrote {n} lines to {out}")


@app.command("score")
def score_cmd(
    submission: Annotated[Path, typer.Argument(help="submission JSONL (see the release's submission.schema.json)")],
    release: Annotated[Path, typer.Option(help="release folder from `evalkit release`")],
    out: Annotated[Path, typer.Option(help="folder for the leaderboard row, scores and the scoring run")],
    name: Annotated[str | None, typer.Option(help="the entry's name (default: the submission's model name or file name)")] = None,
    judge: Annotated[list[str] | None, typer.Option(help="an LLM judge preset to score with as well (repeatable)")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="bootstrap rounds for rank-based intervals")] = 1000,
    force: Annotated[bool, typer.Option(help="replace an earlier score at --out")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Verify the release, check the submission, score it with the reference judge (and any LLM judges)."""
    from evalkit.benchmark.score import score_submission

    row = score_submission(submission, release, out, name=name, judges=judge, bootstrap=bootstrap, force=force,
                           show_progress=not quiet)
    for cond, m in row["conditions"].items():
        bi = m["balance_improvement_db"]
        ci = f" (95% CI {bi['ci_low']:+.2f} to {bi['ci_high']:+.2f})" if bi["ci_low"] is not None else ""
        typer.echo(f"{row['entry']} / {cond}: balance improvement {bi['mean']:+.2f} dB{ci}, n = {bi['n']}")
    typer.echo(f"row: {out / 'row.json'}")


@app.command("leaderboard")
def leaderboard_cmd(
    scored: Annotated[list[Path], typer.Argument(help="folders written by `evalkit score`")],
    out: Annotated[Path, typer.Option(help="folder for leaderboard.md/.html/.csv and pairwise.csv")],
) -> None:
    """Merge scored submissions of one release into a leaderboard with CIs and pairwise tests."""
    from evalkit.benchmark.leaderboard import write_leaderboard

    typer.echo(f"leaderboard: {write_leaderboard(scored, out)}")


@app.command("view")
def view_cmd(
    run: Annotated[str, typer.Argument(help="run directory or database URL")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8600,
    address: Annotated[str, typer.Option(help="bind address (default: this machine only)")] = "127.0.0.1",
) -> None:
    """Browse a run item by item (Streamlit, read-only): prompt, advice, claims against the truth, verdicts, audio."""
    from evalkit.store import Store
    from evalkit.streamlit_server import check_can_listen, serve

    store = Store(run, create=False)  # refuse a missing or foreign store before starting a server
    if not store.count("advice"):
        raise EvalkitInputError(f"{run}: the run has no advice yet; run `evalkit generate` first")
    check_can_listen(address, port)
    where = run if "://" in run else str(Path(run).resolve())
    typer.echo(f"evalkit view: http://{address}:{port}", err=True)
    raise SystemExit(serve(Path(__file__).parent / "report" / "view_app.py", port, address, {"EVALKIT_VIEW_RUN": where}))


@app.command("generate")
def generate_cmd(
    testset: Annotated[Path, typer.Option(help="test-set directory")],
    systems: Annotated[Path, typer.Option(help="systems YAML")],
    out: Annotated[str, typer.Option(help="run directory or a database URL (postgresql://…)")],
    split: Annotated[str, typer.Option(help="train | val | test | all")] = "test",
    force: Annotated[list[str] | None, typer.Option(help="make this system's advice again (repeatable); its judgments are removed")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
    workers: WorkersOpt = 1,
    lease_s: LeaseOpt = None,
) -> None:
    """Advice from every system for every item of a split, into the run store (resumable; a changed config is refused).
    Work is claimed before each model call: run this on several machines against one postgresql:// run to scale out."""
    from evalkit.systems import load_systems

    configs = load_systems(systems)  # a bad systems file is refused before the store is imported
    from evalkit.generate import generate

    counts = generate(testset, configs, out, split=split, show_progress=not quiet, force=set(force or []),
                      workers=workers, **({"lease_s": lease_s} if lease_s else {}))
    typer.echo(f"advice: {counts['ok']} new, {counts['skipped']} already there, {counts['failed']} failed -> {mask_url(out)}"
               + _worker_note(counts))


@app.command("judge")
def judge_cmd(
    run: Annotated[str, typer.Option(help="run directory or a database URL (postgresql://…)")],
    judge: Annotated[Path, typer.Option(help="judge preset YAML (judges/*.yaml)")],
    pairs: Annotated[str, typer.Option(help="all | vs:SYSTEM")] = "all",
    max_pairs: Annotated[int | None, typer.Option(min=1, help="judge at most this many (item, pair)s")] = None,
    force: Annotated[bool, typer.Option(help="judge again after a change to this judge or its rubrics (its old judgments are removed)")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
    workers: WorkersOpt = 1,
    lease_s: LeaseOpt = None,
) -> None:
    """Score a run's advice with a judge (resumable; every call logged; a changed judge is refused until --force).
    Judgments are claimed before each call: several processes or machines may judge one run."""
    from evalkit.judging.rubrics import load_judge

    preset = load_judge(judge)  # a bad preset is refused before the store and the statistics are imported
    from evalkit.judging.diagnostics import judge_diagnostics
    from evalkit.judging.stage import judge_run
    from evalkit.store import Store

    if max_pairs:
        preset.max_pairs = max_pairs
    store = Store(run, create=False)
    counts = judge_run(store, preset, pairs=pairs, show_progress=not quiet, force=force, workers=workers, **({"lease_s": lease_s} if lease_s else {}))
    typer.echo(f"{preset.name}: {counts['scored']} scored, {counts['unscored']} unscored, {counts['skipped']} already there"
               + (f", {counts['failed_calls']} failed calls (retried on the next run)" if counts["failed_calls"] else "")
               + _worker_note(counts))
    _echo_table(judge_diagnostics(store), "judge diagnostics")


@advice_app.command("parse")
def advice_parse(text: Annotated[str, typer.Argument(help="advice text")]) -> None:
    """Print the claims in an advice text as JSON (the reference judge's parser)."""
    from evalkit.judging.advice_parser import parse_advice
    from evalkit.records import MAX_ADVICE_CHARS

    if len(text) > MAX_ADVICE_CHARS:
        raise EvalkitInputError(f"advice text has {len(text)} characters, over {MAX_ADVICE_CHARS}; pass a shorter text")
    typer.echo(json.dumps(parse_advice(text).as_dict(), indent=2))


@advice_app.command("validate")
def advice_validate(
    labelled: Annotated[Path, typer.Argument(help='JSONL: {"text", "claims": [{"stem", "direction", "db"}], "style"} per line')],
    reader: Annotated[str, typer.Option(help="rules (the reference judge's reader) or a judge preset YAML (an LLM reader)")] = "rules",
    out: Annotated[Path | None, typer.Option(help="folder for validation.json, the tables and (LLM reader) the call log")] = None,
) -> None:
    """Precision, recall and F1 of an advice reader on your labelled texts, per stem and direction and per style."""
    from evalkit.judging.readers import read_labelled, read_with_llm, reader_agreement, rules_reader, validate

    rows = read_labelled(labelled)
    texts = [r.text for r in rows]
    rules = rules_reader(texts)
    agreement = None
    if reader == "rules":
        readings = rules
    else:
        from evalkit.store import Store

        out = out or Path("results") / "validate"
        readings, _ = read_with_llm(texts, Path(reader), Store(out))
        agreement = reader_agreement(readings, rules)
    tables = validate(rows, readings)
    _echo_table(tables["by_style"], f"reader {reader}: per style")
    _echo_table(tables["by_claim"], "per stem and direction")
    if agreement:
        typer.echo(f"agreement with the rules reader: {agreement['identical']:.0%} of {agreement['texts']} texts read identically, "
                   f"claim F1 {agreement['claim_f1']:.3f}")
    if out:
        out.mkdir(parents=True, exist_ok=True)
        doc = {"reader": reader, "labelled": str(labelled), "agreement_with_rules": agreement,
               **{k: v.to_dict("records") for k, v in tables.items()}}
        (out / "validation.json").write_text(json.dumps(doc, indent=1, default=float) + "\n")
        typer.echo(f"wrote {out / 'validation.json'}")


# -- pipeline -----------------------------------------------------------------------------------
@app.command("run")
def run_cmd(
    config: Annotated[Path, typer.Argument(help="experiment YAML (experiments/*.yaml)")],
    out: Annotated[Path, typer.Option(help="output directory (resumes if it exists)")] = Path("results/run"),
    force: Annotated[list[str] | None, typer.Option(help="make this system's advice, or this judge's judgments, again (repeatable); `testset` replaces a synthesized test set whose settings changed")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress output")] = False,
    workers: WorkersOpt = 1,
) -> None:
    """Every stage from one config: test set, advice, judges, study, stats, report (resumable; a changed system is refused)."""
    from evalkit.pipeline import load_experiment, run_experiment

    cfg = load_experiment(config)
    res = run_experiment(cfg, out, config_dir=config.parent, quiet=quiet, force=frozenset(force or []), workers=workers)
    typer.echo(f"report: {res['report']}")


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option(help="output directory")] = Path("results/demo"),
    quiet: Annotated[bool, typer.Option(help="no progress output")] = False,
) -> None:
    """Run experiments/default.yaml end to end on the embedded defaults and print where the report is."""
    import time

    from evalkit.paths import shipped_dir
    from evalkit.pipeline import load_experiment, run_experiment

    t = time.perf_counter()
    experiments = shipped_dir("experiments")
    res = run_experiment(load_experiment(experiments / "default.yaml"), out, config_dir=experiments, quiet=quiet)
    for note in res["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(f"demo finished in {time.perf_counter() - t:.0f} s")
    typer.echo(f"report: {res['report']}  (also {Path(out) / 'report' / 'report.md'}, tables/, figures/)")


@app.command("report")
def report_cmd(
    run: Annotated[str, typer.Argument(help="run directory or a database URL (postgresql://…)")],
    out: Annotated[Path, typer.Option(help="where report/, tables/ and figures/ go")],
    answers: Annotated[Path | None, typer.Option(help="human answers CSV (evalkit study export)")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, max=100000, help="bootstrap rounds (0: no CIs)")] = 1000,
    include_simulated: Annotated[bool, typer.Option(help="report SIMULATED raters' answers (labelled as such)")] = False,
    human_spread_db: Annotated[float | None, typer.Option(min=0.01, max=20, help="a cited engineers' spread in dB for the "
                                                                                 "gain-error figure (with --human-spread-source)")] = None,
    human_spread_source: Annotated[str | None, typer.Option(help="the citation for --human-spread-db")] = None,
) -> None:
    """Markdown + HTML report, LaTeX tables, CSVs and figures for a run."""
    if (human_spread_db is None) != (not human_spread_source):
        raise EvalkitInputError("--human-spread-db and --human-spread-source go together: a number needs its source")
    from evalkit.report.build import write_report
    from evalkit.stats.preference import analysis_rows
    from evalkit.store import Store

    human = _read_csv(answers, "answers") if answers else None
    if human is not None:
        analysis_rows(human, str(answers), include_simulated=include_simulated)  # refuse unusable answers before any work
    spread = (human_spread_db, human_spread_source) if human_spread_db is not None else None
    typer.echo(f"report: {write_report(Store(run, create=False), out, human, bootstrap=bootstrap, include_simulated=include_simulated, human_spread=spread)}")


# -- stats ----------------------------------------------------------------------------------------
def _read_csv(path: Path, what: str):
    from evalkit.csv_io import read_user_csv

    return read_user_csv(path, what)


@stats_app.command("preferences")
def stats_preferences(
    prefs: Annotated[Path, typer.Argument(help="CSV: participant_id,item_id,system_a,system_b,choice")],
    out: Annotated[Path, typer.Option(help="output directory")],
    ties: Annotated[str, typer.Option(help="half | drop | davidson (Bradley–Terry)")] = "half",
    bootstrap: Annotated[int, typer.Option(min=0, max=100000, help="bootstrap rounds (by participant)")] = 1000,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="bootstrap seed")] = 0,
    criterion: Annotated[str, typer.Option(help="which study question: helpfulness | specificity")] = "helpfulness",
    include_excluded: Annotated[bool, typer.Option(help="keep participants the study excluded")] = False,
    include_simulated: Annotated[bool, typer.Option(help="keep SIMULATED raters")] = False,
    include_withdrawn: Annotated[bool, typer.Option(help="keep participants who withdrew (they took their consent back: "
                                                         "only with their agreement)")] = False,
) -> None:
    """Bradley–Terry scores with CIs and pairwise tests (Holm) from preference votes: a logistic mixed model with
    participant and item intercepts (and song, from an optional song_id column), the participant sign test beside it."""
    from evalkit.stats.preference import analysis_rows, pairwise_tests, win_rates
    from evalkit.stats.ranking import bradley_terry

    if ties not in ("half", "drop", "davidson"):
        raise EvalkitInputError(f"--ties {ties!r}: use half, drop or davidson")
    df = analysis_rows(_read_csv(prefs, "preferences"), str(prefs), criterion=criterion, include_excluded=include_excluded,
                       include_simulated=include_simulated, include_withdrawn=include_withdrawn)
    out.mkdir(parents=True, exist_ok=True)
    bt = bradley_terry(df, ties=ties, bootstrap=bootstrap, seed=seed)
    bt[["system", "score", "ci_low", "ci_high"]].to_csv(out / "bradley_terry.csv", index=False)
    song_of = (df.dropna(subset=["song_id"]).drop_duplicates("item_id").set_index("item_id")["song_id"].astype(str).to_dict()
               if "song_id" in df else None)
    tests = pairwise_tests(df, song_of=song_of)
    tests.to_csv(out / "pairwise_tests.csv", index=False)  # p_value: the test named in primary_test
    win_rates(df).to_csv(out / "win_rates.csv", index=False)
    _echo_table(bt, "Bradley–Terry")
    _echo_table(tests[["system_a", "system_b", "wins_a", "wins_b", "ties", "n_participants", "primary_test", "mm_p_win",
                       "p_value", "p_holm", "p_sign", "p_value_votes"]],
                "pairwise tests (p_value: primary_test; mm_p_win: mixed-model P(a wins); p_sign: participant sign test; "
                "p_value_votes: votes as independent)")


@stats_app.command("scores")
def stats_scores(
    scores: Annotated[Path, typer.Argument(help="CSV: item_id,system,score")],
    out: Annotated[Path, typer.Option(help="output directory")],
) -> None:
    """Per-system means with bootstrap CIs, paired Wilcoxon tests (Holm) and Friedman."""
    from evalkit.stats.scores import friedman, paired_tests, system_means, validate_scores

    df = validate_scores(_read_csv(scores, "scores"), str(scores))
    out.mkdir(parents=True, exist_ok=True)
    for name, t in (("system_means", system_means(df)), ("paired_tests", paired_tests(df)), ("friedman", friedman(df))):
        t.to_csv(out / f"{name}.csv", index=False)
        _echo_table(t, name)


@stats_app.command("agreement")
def stats_agreement(
    judge: Annotated[Path, typer.Argument(help="judge votes CSV (preferences format)")],
    human: Annotated[Path, typer.Argument(help="human votes CSV (preferences format)")],
    out: Annotated[Path, typer.Option(help="output directory")],
    criterion: Annotated[str, typer.Option(help="which study question the judge is compared with")] = "helpfulness",
    include_excluded: Annotated[bool, typer.Option(help="keep participants the study excluded")] = False,
    include_simulated: Annotated[bool, typer.Option(help="keep SIMULATED raters")] = False,
) -> None:
    """Judge vs human agreement (MT-Bench definitions, Cohen's κ), human ceiling, ranking correlation."""
    from evalkit.stats.agreement import human_agreement, ranking_correlation_ci, vote_agreement
    from evalkit.stats.preference import analysis_rows, validate_preferences

    j = validate_preferences(_read_csv(judge, "judge votes"), str(judge))
    h = analysis_rows(_read_csv(human, "human votes"), str(human), criterion=criterion, include_excluded=include_excluded,
                      include_simulated=include_simulated)
    shared = set(j.item_id) & set(h.item_id)
    if not shared:
        raise EvalkitInputError(f"{judge} and {human}: no item in common (judge items e.g. {', '.join(sorted(set(j.item_id))[:2])}; "
                                f"human items e.g. {', '.join(sorted(set(h.item_id))[:2])}); are both from the same run?")
    out.mkdir(parents=True, exist_ok=True)
    for name, t in (("vote_agreement", vote_agreement(j, h)), ("human_agreement", human_agreement(h)),
                    ("ranking_correlation", ranking_correlation_ci(j, h))):
        t.to_csv(out / f"{name}.csv", index=False)
        _echo_table(t, name)


@stats_app.command("power")
def stats_power(
    rate: Annotated[float, typer.Option(help="true preference rate to detect")] = 0.6,
    votes_per_participant: Annotated[int, typer.Option(min=1, max=10000, help="votes each participant gives")] = 20,
    icc: Annotated[float, typer.Option(min=0, max=0.99, help="intra-participant correlation of votes")] = 0.05,
    power: Annotated[float, typer.Option(min=0.5, max=0.999, help="target power")] = 0.8,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5, help="test size")] = 0.05,
    pilot: Annotated[Path | None, typer.Option(help="pilot preferences CSV; with --system, estimates rate and ICC")] = None,
    system: Annotated[str | None, typer.Option(help="the system whose win rate the pilot estimates")] = None,
    versus: Annotated[str | None, typer.Option(help="--design with --pilot: the other arm of the contrast")] = None,
    criterion: Annotated[str, typer.Option(help="pilot: which study question (helpfulness | specificity)")] = "helpfulness",
    include_excluded: Annotated[bool, typer.Option(help="pilot: keep participants the study excluded")] = False,
    include_simulated: Annotated[bool, typer.Option(help="pilot: keep SIMULATED raters")] = False,
    design: Annotated[Path | None, typer.Option(help="YAML with a `power:` section: simulate that design over its grid")] = None,
    pilot_run: Annotated[str | None, typer.Option(help="--design: a run whose primary contrast gives the judge-score effect")] = None,
    contrast: Annotated[str | None, typer.Option(help="--pilot-run: which primary contrast (default: the first)")] = None,
    out: Annotated[Path | None, typer.Option(help="--design: where power_grid.csv and power.png go")] = None,
) -> None:
    """Participants needed for a binomial preference test, with the design effect of repeated votes, or (--design)
    the simulated power of the primary analyses over a grid of songs × items × participants × votes. The binomial
    test is symmetric: detecting a rate p needs as many votes as 1 − p. A pilot is read per question, without
    simulated or excluded raters unless asked for."""
    from evalkit.stats.power import participants_needed, power_from_pilot
    from evalkit.stats.preference import analysis_rows

    pilot_votes = None
    if pilot:
        if not system:
            raise EvalkitInputError("--pilot needs --system (whose wins to count)")
        pilot_votes = analysis_rows(_read_csv(pilot, "pilot"), str(pilot), criterion=criterion,
                                    include_excluded=include_excluded, include_simulated=include_simulated)
    if design:
        _power_by_design(design, out, pilot_votes, system, versus, pilot_run, contrast)
    elif pilot_votes is not None:
        df = pilot_votes[((pilot_votes.system_a == system) | (pilot_votes.system_b == system)) & (pilot_votes.choice != "tie")]
        if df.empty:
            raise EvalkitInputError(f"{pilot}: no decisive votes involving {system!r}")
        wins = df.assign(win=((df.system_a == system) & (df.choice == "a")) | ((df.system_b == system) & (df.choice == "b")))
        _echo_table(power_from_pilot(wins.assign(win=wins.win.astype(float)), power, alpha), "from pilot")
    else:
        _echo_table(participants_needed(rate, votes_per_participant, icc, power, alpha), "participants needed")


def _power_by_design(design_path: Path, out: Path | None, pilot_votes, system: str | None, versus: str | None,
                     pilot_run: str | None, contrast: str | None) -> None:
    """`stats power --design`: effects from the YAML, or from pilots; the grid simulated with a progress bar."""
    from evalkit.generate import progress_bar
    from evalkit.report.analysis import primary_differences
    from evalkit.stats.power_design import (
        grid_cells,
        load_design,
        plot_power,
        power_grid,
        score_effect_from_pilot,
        smallest_designs,
        vote_effect_from_pilot,
    )
    from evalkit.store import Store

    if out is None:
        raise EvalkitInputError("--design needs --out DIR (power_grid.csv and power.png are written there)")
    d = load_design(design_path)
    sources = []
    if pilot_votes is not None:
        if not versus:
            raise EvalkitInputError("--design with --pilot needs --system and --versus (the two arms of the contrast)")
        d.human_votes = vote_effect_from_pilot(pilot_votes, system, versus)
        sources.append(f"human votes from the pilot {system} vs {versus}")
    if pilot_run:
        diffs = primary_differences(Store(pilot_run, create=False))
        if diffs.empty:
            raise EvalkitInputError(f"{pilot_run}: no primary contrast with reference-judge scores; run `evalkit judge` first")
        pick = contrast or diffs.contrast.iloc[0]
        if pick not in set(diffs.contrast):
            raise EvalkitInputError(f"--contrast {pick!r}: not a primary contrast of {pilot_run} "
                                    f"(have {', '.join(sorted(set(diffs.contrast)))})")
        d.judge_scores = score_effect_from_pilot(diffs[diffs.contrast == pick])
        sources.append(f"judge scores from {pick} in {pilot_run}")
    typer.echo("effects: " + "; ".join(
        [f"judge scores {d.judge_scores.model_dump()}" if d.judge_scores else "judge scores: not simulated",
         f"human votes {d.human_votes.model_dump()}" if d.human_votes else "human votes: not simulated"])
        + (f" (estimated: {', '.join(sources)})" if sources else " (as given)"))
    with progress_bar() as bar:
        task = bar.add_task("simulating the design grid", total=grid_cells(d))
        grid = power_grid(d, progress=lambda n: bar.advance(task, n))
    out.mkdir(parents=True, exist_ok=True)
    grid.to_csv(out / "power_grid.csv", index=False)
    plot_power(grid, d, out / "power.png")
    _echo_table(grid.drop(columns=["reaches_target"]), f"power by design ({d.simulations} simulations per cell, α = {d.alpha})")
    best = smallest_designs(grid)
    for a in grid.analysis.unique():
        row = best[best.analysis == a]
        typer.echo(f"{a}: " + (f"{d.target:.0%} power first reached with {int(row.songs.iloc[0])} songs × "
                               f"{int(row.items_per_song.iloc[0])} items" + (
                                   f", {int(row.participants.iloc[0])} participants × {int(row.votes_per_participant.iloc[0])} votes"
                                   if row.participants.notna().iloc[0] else "")
                               if len(row) else f"{d.target:.0%} power not reached on this grid; widen it"))
    typer.echo(f"wrote {out / 'power_grid.csv'} and {out / 'power.png'}")


# -- study ----------------------------------------------------------------------------------------
@study_app.command("create")
def study_create(
    run: Annotated[str, typer.Option(help="run directory or database URL with advice")],
    out: Annotated[Path, typer.Option(help="study directory")],
    systems: Annotated[str | None, typer.Option(help="comma-separated systems (default: all)")] = None,
    ratings: Annotated[int, typer.Option(help="ratings per (item, pair)")] = 4,
    trials: Annotated[int, typer.Option(help="trials per participant")] = 12,
    gold: Annotated[int, typer.Option(help="gold (attention) trials per participant, at random positions")] = 2,
    max_items: Annotated[int | None, typer.Option(min=1, help="at most this many items")] = None,
    after_audio: Annotated[bool, typer.Option(help="render each advice's 'after' audio")] = False,
    stems_audio: Annotated[bool, typer.Option(help="offer the problem stems too")] = False,
    store_url: Annotated[str | None, typer.Option(help="PostgreSQL URL when several app processes share the study")] = None,
    completion_code: Annotated[str | None, typer.Option(help="fixed completion code (e.g. Prolific's)")] = None,
    completion_url: Annotated[str | None, typer.Option(help="redirect after completion (e.g. Prolific's)")] = None,
    no_headphone_check: Annotated[bool, typer.Option(help="skip the headphone screening")] = False,
    consent: Annotated[Path | None, typer.Option(help="Markdown consent text: researcher, ethics reference, contact, withdrawal")] = None,
    screenout_code: Annotated[str | None, typer.Option(help="Prolific code for people screened out")] = None,
    screenout_url: Annotated[str | None, typer.Option(help="where screened-out people return (Prolific's link)")] = None,
    listen_min: Annotated[float, typer.Option(help="seconds each clip must play before answers unlock (0: off)", min=0)] = 3.0,
    slot_timeout: Annotated[float, typer.Option(help="minutes without an answer before a slot goes to someone else",
                                                min=1, max=60 * 24 * 30)] = 60.0,
    prolific_study_id: Annotated[str | None, typer.Option(help="refuse links whose STUDY_ID differs")] = None,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="design seed")] = 0,
    force: Annotated[bool, typer.Option(help="replace the study already in --out (its answers are lost)")] = False,
) -> None:
    """A pairwise study from a run: many pairs per participant, sides balanced, gold trials, loudness-matched stimuli."""
    from evalkit.outputs import staged_dir
    from evalkit.study.design import create_study

    for flag, url in (("--completion-url", completion_url), ("--screenout-url", screenout_url)):
        _require_web_url(flag, url)
    if store_url is not None and not store_url.startswith(("postgresql://", "postgresql+psycopg://")):
        raise EvalkitInputError(f"--store-url {store_url[:40]!r}: not a PostgreSQL URL; give postgresql://user@host:5432/db "
                                "(without it the study keeps its answers in its own folder)")
    with staged_dir(out, "study", force=force, inputs=[run, consent]) as tmp:
        cfg = create_study(run, tmp, systems=systems.split(",") if systems else None, ratings=ratings, trials_per_participant=trials,
                           gold_per_participant=gold, max_items=max_items, after_audio=after_audio, stems_audio=stems_audio,
                           store_url=store_url, completion_code=completion_code, completion_url=completion_url,
                           headphone_check=not no_headphone_check, consent=consent, screenout_code=screenout_code,
                           screenout_url=screenout_url, listen_min_s=listen_min or None, slot_timeout_min=slot_timeout,
                           prolific_study_id=prolific_study_id, seed=seed)
    typer.echo(f"study {cfg.study_id}: {len(cfg.items)} items, {cfg.n_slots} participant slots -> {out}")
    if cfg.consent_is_example:
        typer.echo("warning: the consent page shows the bundled EXAMPLE text; pass --consent your.md for a real study", err=True)


@study_app.command("serve")
def study_serve(
    study: Annotated[Path, typer.Argument(help="study directory")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8501,
    address: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
) -> None:
    """Serve the listening study (Streamlit)."""
    from evalkit.paths import shipped_dir
    from evalkit.streamlit_server import serve
    from evalkit.study.study_store import StudyStore

    StudyStore(study)  # refuse a bad study directory before starting a server
    raise SystemExit(serve(shipped_dir("study_app") / "app.py", port, address, {"EVALKIT_STUDY_DIR": str(Path(study).resolve())}))


@study_app.command("export")
def study_export(
    study: Annotated[Path, typer.Argument(help="study directory")],
    out: Annotated[Path, typer.Option(help="CSV to write (evalkit stats preferences format), or .json for JSON records")],
    include_gold: Annotated[bool, typer.Option(help="include gold trials")] = False,
    force: Annotated[bool, typer.Option(help="replace a file at --out that evalkit did not write")] = False,
) -> None:
    """Answers as CSV for `evalkit stats preferences`: one row per trial and question, with timings, plays and exclusions."""
    from evalkit.csv_io import write_safe_csv
    from evalkit.outputs import atomic_file, guard_file
    from evalkit.study.outcomes import export_answers, is_answers_export
    from evalkit.study.study_store import StudyStore

    guard_file(out, "answers export", force=force, inputs=[study], ours=is_answers_export)
    df = export_answers(StudyStore(study), include_gold=include_gold)
    with atomic_file(out) as tmp:
        if out.suffix.lower() == ".json":  # records as JSON: nothing a spreadsheet would run
            tmp.write_text(df.to_json(orient="records", indent=1, date_format="iso"), encoding="utf-8")
        else:
            write_safe_csv(df, tmp, "study export")
    typer.echo(f"wrote {len(df)} answers from {df.participant_id.nunique()} participants to {out}")


@study_app.command("release")
def study_release(
    study: Annotated[Path, typer.Argument(help="study directory")],
    participant: Annotated[str, typer.Argument(help="the participant's ID (e.g. one Prolific reports as returned)")],
) -> None:
    """Mark a participant as withdrawn (e.g. they returned the study on Prolific): their slot goes to the next person."""
    from evalkit.study.study_store import StudyStore

    s = StudyStore(study)
    if s.participant(participant) is None:
        raise EvalkitInputError(f"{participant}: no such participant in study {s.study_id}; check the ID (evalkit study export lists them)")
    s.withdraw(participant)
    typer.echo(f"{participant}: withdrawn; their answers are kept and flagged, their slot is free")


@study_app.command("simulate")
def study_simulate(
    study: Annotated[Path, typer.Argument(help="study directory")],
    participants: Annotated[int, typer.Option(min=1, max=100000, help="simulated raters")] = 20,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="seed")] = 0,
    inattentive: Annotated[float, typer.Option(min=0, max=1, help="share of random raters")] = 0.1,
) -> None:
    """Fill a study with simulated raters (marked simulated everywhere) for dry runs and power planning."""
    from evalkit.study.simulate import simulate

    n = simulate(study, participants=participants, seed=seed, inattentive=inattentive)
    typer.echo(f"{n} simulated trials answered")


def _click_exception_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Usage-error and exit classes of click and of the click that typer ≥ 0.29 vendors (typer._click):
    typer raises the latter, which a plain ``click`` isinstance check misses."""
    import importlib

    usage: list[type] = []
    exits: list[type] = [typer.Exit]
    for name in ("click.exceptions", "typer._click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        usage.append(mod.ClickException)
        if hasattr(mod, "Exit"):
            exits.append(mod.Exit)
    return tuple(usage), tuple(exits)


def _robust_streams() -> None:
    """A terminal or pipe that cannot encode a character (LANG=C, PYTHONIOENCODING=ascii) gets an escape for it, not a
    UnicodeEncodeError halfway through a table."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass


def _argv_with_text_argument(argv: list[str]) -> list[str]:
    """`evalkit advice parse "-3 dB on the bass"`: advice text that starts with a dash is text, not an option."""
    if argv[:2] == ["advice", "parse"] and len(argv) == 3 and argv[2].startswith("-") and argv[2] not in ("--help", "-h"):
        return [*argv[:2], "--", argv[2]]
    return argv


def main() -> None:
    """Entry point: bad input is one line on stderr and exit 2; anything else is exit 1."""
    _robust_streams()
    try:
        rv = app(args=_argv_with_text_argument(sys.argv[1:]), standalone_mode=False, prog_name="evalkit")
        if isinstance(rv, int) and rv:
            sys.exit(rv)
    except EvalkitInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        if exc.filename is None:
            _internal_error(exc)
        # A path the user gave that cannot be written or read: an --out that is a file, a folder under a file,
        # a read-only folder, a full disk. Bad input, not a crash; what was saved before stays saved.
        typer.echo(f"error: {exc.filename}: {exc.strerror}; give an --out (or input path) that is a writable folder", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except RecursionError:  # a pathological input nested past Python's limit (JSON, YAML, a template)
        typer.echo("error: an input is nested too deeply to read (recursion limit); check the files given", err=True)
        sys.exit(2)
    except Exception as exc:
        if type(exc).__name__ == "OperationalError" and "locked" in str(exc):  # SQLite: another process holds the lock
            typer.echo(f"error: the store is locked by another process (waited {_lock_wait():.0f} s); wait for it to finish "
                       "or raise EVALKIT_LOCK_TIMEOUT_S", err=True)
            sys.exit(2)
        usage, exits = _click_exception_types()
        if isinstance(exc, usage):  # a usage error (unknown option, value out of range): exit 2, as bad input
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" or ctx is None:
                exc.show()  # a bare command prints its help
            else:
                typer.echo(f"error: {exc.format_message()}; see `{ctx.command_path} --help`", err=True)
            sys.exit(2)
        if isinstance(exc, exits):
            sys.exit(exc.exit_code)
        _internal_error(exc)


def _require_web_url(flag: str, url: str | None) -> None:
    """A link shown to participants must be a web address: ``javascript:``, ``data:`` or ``file:`` would run or leak."""
    from urllib.parse import urlsplit

    if url is None:
        return
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise EvalkitInputError(f"{flag} {url[:60]!r}: not an http(s) address; give the full https://… link")


def _lock_wait() -> float:
    from evalkit.store.base import lock_timeout_s

    return lock_timeout_s()


def _internal_error(exc: BaseException) -> None:
    """A bug or an environment failure: one line and exit 1, the traceback with EVALKIT_DEBUG=1."""
    if os.environ.get("EVALKIT_DEBUG"):
        raise exc
    typer.echo(f"internal error: {type(exc).__name__}: {exc} (set EVALKIT_DEBUG=1 for a traceback)", err=True)
    sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
