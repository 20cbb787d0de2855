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
