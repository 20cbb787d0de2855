"""The `evalkit` command line. Each command imports what it needs, so start-up stays fast.

Exit codes (DESIGN.md): 0 success, 2 bad input with a one-line reason, 1 internal failure.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from evalkit.errors import EvalkitInputError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Evaluation harness for AI mixing assistants.")
data_app = typer.Typer(no_args_is_help=True, help="Build, load and describe test sets.")
advice_app = typer.Typer(no_args_is_help=True, help="Tools for advice text.")
study_app = typer.Typer(no_args_is_help=True, help="The listening study: create, serve, export, simulate.")
stats_app = typer.Typer(no_args_is_help=True, help="Statistics over preferences, scores and agreement.")
app.add_typer(data_app, name="data")
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
    Console().print(table)


# -- data ---------------------------------------------------------------------------------------
@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="directory for manifest.json, items.jsonl and songs/")],
    songs: Annotated[int, typer.Option(help="number of songs")] = 8,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives byte-identical files")] = 0,
    seconds: Annotated[float, typer.Option(help="length of each song in seconds")] = 12.0,
    sample_rate: Annotated[int, typer.Option(help="sample rate in Hz")] = 44100,
    problems: Annotated[int, typer.Option(help="problem items per song")] = 3,
    controls: Annotated[int, typer.Option(help="already-balanced control items per song")] = 1,
    renderer: Annotated[str, typer.Option(help="builtin (no system packages) or fluidsynth")] = "builtin",
) -> None:
    """Generate the synthetic held-out test set."""
    from evalkit.data.synth import synthesize

    path = synthesize(out, songs=songs, seed=seed, seconds=seconds, sample_rate=sample_rate,
                      problems_per_song=problems, controls_per_song=controls, renderer=renderer)
    manifest = json.loads((path / "manifest.json").read_text())
    typer.echo(f"wrote {len(manifest['songs'])} songs to {path} (manifest.json, items.jsonl)")


@data_app.command("import")
def data_import(
    source: Annotated[str, typer.Argument(help="musdb | mixparams | mixeval")],
    path: Annotated[Path, typer.Argument(help="the dataset on disk (directory or file)")],
    out: Annotated[Path, typer.Option(help="test-set directory to write")],
    gains: Annotated[Path | None, typer.Option(help="musdb: consensus-gains CSV (track,stem,gain_db)")] = None,
    seed: Annotated[int, typer.Option(help="seed for disturbances of balanced songs")] = 0,
    problems: Annotated[int, typer.Option(help="problem items per song")] = 3,
) -> None:
    """Turn MUSDB18(-HQ), MixParams or Mix Evaluation (MixologyDB) data on disk into a test set."""
    from evalkit.data.loaders import import_dataset

    n = import_dataset(source, path, out, gains_csv=gains, seed=seed, problems_per_song=problems)
    typer.echo(f"wrote {n} items to {out}")


@data_app.command("describe")
def data_describe(
    testset: Annotated[Path, typer.Argument(help="test-set directory")],
    figure: Annotated[Path | None, typer.Option(help="write a histogram of offsets to this PNG")] = None,
) -> None:
    """Songs, items, splits, offsets and loudness per stem."""
    from evalkit.data.describe import describe, describe_figure
    from evalkit.data.testset import load_testset

    ts = load_testset(testset)
    for name, df in describe(ts).items():
        _echo_table(df, name)
    if figure:
        typer.echo(f"figure: {describe_figure(ts, figure)}")


@data_app.command("export-sft")
def data_export_sft(
    testset: Annotated[Path, typer.Argument(help="test-set directory")],
    out: Annotated[Path, typer.Option(help="JSONL file to write")],
    split: Annotated[str, typer.Option(help="train | val | test")] = "train",
) -> None:
    """Problem/solution pairs as chat-format JSONL for fine-tuning."""
    from evalkit.data.describe import export_sft
    from evalkit.data.testset import load_testset

    if split not in ("train", "val", "test"):
        raise EvalkitInputError(f"--split {split!r}: choose train, val or test")
    n = export_sft(load_testset(testset), split, out)
    typer.echo(f"wrote {n} examples to {out}")


@app.command("generate")
def generate_cmd(
    testset: Annotated[Path, typer.Option(help="test-set directory")],
    systems: Annotated[Path, typer.Option(help="systems YAML")],
    out: Annotated[Path, typer.Option(help="run directory (or a database URL)")],
    split: Annotated[str, typer.Option(help="train | val | test | all")] = "test",
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Advice from every system for every item of a split, into the run store (resumable)."""
    from evalkit.generate import generate
    from evalkit.runners import load_systems

    counts = generate(testset, load_systems(systems), out, split=split, show_progress=not quiet)
    typer.echo(f"advice: {counts['ok']} new, {counts['skipped']} already there, {counts['failed']} failed -> {out}")


@app.command("judge")
def judge_cmd(
    run: Annotated[Path, typer.Option(help="run directory (or database URL)")],
    judge: Annotated[Path, typer.Option(help="judge preset YAML (judges/*.yaml)")],
    pairs: Annotated[str, typer.Option(help="all | vs:SYSTEM")] = "all",
    max_pairs: Annotated[int | None, typer.Option(help="judge at most this many (item, pair)s")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Score a run's advice with a judge (resumable; every call logged); prints the diagnostics."""
    from evalkit.judging.diagnostics import judge_diagnostics
    from evalkit.judging.rubrics import load_judge
    from evalkit.judging.stage import judge_run
    from evalkit.store import Store

    preset = load_judge(judge)
    if max_pairs:
        preset.max_pairs = max_pairs
    store = Store(run, create=False)
    counts = judge_run(store, preset, pairs=pairs, show_progress=not quiet)
    typer.echo(f"{preset.name}: {counts['scored']} scored, {counts['unscored']} unscored, {counts['skipped']} already there")
    _echo_table(judge_diagnostics(store), "judge diagnostics")


@advice_app.command("parse")
def advice_parse(text: Annotated[str, typer.Argument(help="advice text")]) -> None:
    """Print the claims in an advice text as JSON (the reference judge's parser)."""
    from evalkit.judging.advice_parser import parse_advice

    typer.echo(json.dumps(parse_advice(text).as_dict(), indent=2))


def main() -> None:
    """Entry point: bad input is one line on stderr and exit 2; anything else is exit 1."""
    try:
        rv = app(standalone_mode=False)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
    except EvalkitInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if os.environ.get("EVALKIT_DEBUG"):
            raise
        typer.echo(f"internal error: {type(exc).__name__}: {exc} (set EVALKIT_DEBUG=1 for a traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
