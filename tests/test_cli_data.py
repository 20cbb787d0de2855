"""The data commands through the real entry point: exit codes and one-line errors."""

import json

from tests.conftest import run_cli


def test_synth_twice_gives_identical_checksums(tmp_path):
    for d in ("A", "B"):
        run_cli("data", "synth", "--out", tmp_path / d, "--songs", "2", "--seed", "7", "--seconds", "3", check=True)
    a, b = (json.loads((tmp_path / d / "manifest.json").read_text())["checksums"] for d in ("A", "B"))
    assert a == b and len(a) == 2 * 4 + 1


def test_describe_and_export_sft(small_testset, tmp_path):
    out = run_cli("data", "describe", small_testset, "--figure", tmp_path / "fig.png", check=True)
    assert "offsets" in out.stdout and (tmp_path / "fig.png").stat().st_size > 1000
    run_cli("data", "export-sft", small_testset, "--split", "train", "--out", tmp_path / "sft.jsonl", check=True)
    rows = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert rows and all(r["split"] == "train" for r in rows)
    assert rows[0]["messages"][-1]["role"] == "assistant"


def test_synthetic_defaults_have_one_home():
    """Issue #26: the command line said 12 s at 44.1 kHz, an experiment's YAML 8 s at 22.05 kHz. Both now take
    evalkit/data/synth_options.py's values."""
    import inspect

    from evalkit.cli import data_synth
    from evalkit.data.synth import synthesize
    from evalkit.data.synth_options import SynthOptions
    from evalkit.pipeline import TestsetOptions

    yaml_side = TestsetOptions().synth
    cli = {k: p.default for k, p in inspect.signature(data_synth).parameters.items()}
    lib = {k: p.default for k, p in inspect.signature(synthesize).parameters.items()}
    for field, flag in (("songs", "songs"), ("seed", "seed"), ("seconds", "seconds"), ("sample_rate", "sample_rate"),
                        ("problems_per_song", "problems"), ("controls_per_song", "controls"), ("renderer", "renderer")):
        assert cli[flag] == lib[field] == getattr(yaml_side, field) == SynthOptions.model_fields[field].default, field
