"""Property-based: every reader of a user's file, fed random bytes and random JSON/YAML/CSV shapes, either reads it or
raises EvalkitInputError (exit 2 at the CLI); never another exception (exit 1), never a hang (hypothesis' deadline).
A last property runs the real entry point on random files and checks the exit code itself."""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.errors import EvalkitInputError
from tests.conftest import run_cli

FAST = settings(max_examples=60, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow], derandomize=True)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=20))
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                           st.dictionaries(st.text(max_size=12), kids, max_size=5)),
                           max_leaves=30)
# Shapes near the real ones: the right keys with random values, so the readers get past their first check.
mixology_like = st.fixed_dictionaries({"mixes": st.lists(st.fixed_dictionaries({
    "mix-name": scalars, "song-name": scalars,
    "tracks": st.one_of(json_values, st.lists(st.fixed_dictionaries({
        "track-name": scalars, "track-type": scalars, "track-instrument-type": scalars,
        "parameters": st.one_of(json_values, st.fixed_dictionaries({"gain": scalars})),
        "track-audio-features": st.one_of(json_values, st.fixed_dictionaries({"track-audio-lufs": scalars}))}), max_size=4)),
    "mix-evaluation": st.one_of(json_values, st.lists(st.fixed_dictionaries({"track-num-eval": scalars,
                                                                             "track-semantic-eval": scalars}), max_size=3))}),
    max_size=4)})
cells = st.one_of(st.text(alphabet=string.printable, max_size=8), st.sampled_from(["", "nan", "inf", "-inf", "a", "b", "tie",
                                                                                   "1e400", "=1+1"]))


def _csv(columns: list[str]):
    return st.lists(st.lists(cells, min_size=len(columns), max_size=len(columns)), max_size=6).map(
        lambda rows: pd.DataFrame(rows, columns=columns))


def _only_input_errors(fn, *args) -> None:
    try:
        fn(*args)
    except EvalkitInputError:
        pass


@FAST
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)))
def test_yaml_reader_on_random_bytes(tmp_path_factory, data):
    from evalkit.config_io import load_yaml

    p = tmp_path_factory.mktemp("y") / "x.yaml"
    p.write_bytes(data)
    _only_input_errors(load_yaml, p)


@FAST
@given(json_values)
def test_yaml_configs_of_any_shape(tmp_path_factory, doc):
    from evalkit.judging.rubrics import load_judge, load_rubric
    from evalkit.pipeline import load_experiment
    from evalkit.stats.power_design import load_design
    from evalkit.systems.base import load_systems

    d = tmp_path_factory.mktemp("c")
    p = d / "x.yaml"
    p.write_text(yaml.safe_dump(doc))
    for reader in (load_systems, load_experiment, load_judge, load_rubric, load_design):
        _only_input_errors(reader, p)


@FAST
@given(st.one_of(json_values, mixology_like))
def test_mixologydb_readers_of_any_shape(tmp_path_factory, doc):
    from evalkit.data.mix_tables import mixology_rows
    from evalkit.report.truth_check import check_truth

    p = tmp_path_factory.mktemp("m") / "final-track-data.json"
    p.write_text(json.dumps(doc))
    _only_input_errors(mixology_rows, p)
    _only_input_errors(check_truth, p)


@FAST
@given(st.one_of(json_values, st.fixed_dictionaries({"songs": json_values, "checksums": json_values})), st.binary(max_size=200))
def test_testset_manifest_and_items_of_any_shape(small_testset, tmp_path_factory, manifest, items):
    from evalkit.data.testset import load_testset

    d = tmp_path_factory.mktemp("ts")
    (d / "manifest.json").write_text(json.dumps(manifest))
    (d / "items.jsonl").write_bytes(items)
    _only_input_errors(load_testset, d)


@FAST
@given(_csv(["participant_id", "item_id", "system_a", "system_b", "choice"]))
def test_preference_tables(prefs):
    from evalkit.stats.preference import pairwise_tests, validate_preferences

    try:
        pairwise_tests(validate_preferences(prefs))
    except EvalkitInputError:
        pass


@FAST
@given(_csv(["item_id", "system", "score"]))
def test_score_tables(scores):
    from evalkit.stats.scores import friedman, paired_tests, system_means, validate_scores

    try:
        df = validate_scores(scores)
    except EvalkitInputError:
        return
    system_means(df, bootstrap=20), paired_tests(df), friedman(df)


@FAST
@given(st.one_of(json_values, st.binary(max_size=200)))
def test_study_json_of_any_shape(tmp_path_factory, doc):
    from evalkit.study.study_store import StudyStore

    d = tmp_path_factory.mktemp("s")
    (d / "study.json").write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    _only_input_errors(StudyStore, d)


@FAST
@given(st.binary(max_size=300))
def test_precomputed_advice_of_random_bytes(tmp_path_factory, data):
    from evalkit.systems.precomputed import read_advice_file

    d = tmp_path_factory.mktemp("a")
    for name in ("a.csv", "a.jsonl"):
        (d / name).write_bytes(data)
        _only_input_errors(read_advice_file, d / name)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)
@given(st.binary(max_size=200), st.sampled_from(["prefs", "scores", "systems", "mixeval", "store"]))
def test_entry_point_exit_code_is_0_or_2(tmp_path_factory, small_testset, data, kind):
    d = tmp_path_factory.mktemp("e")
    f = d / {"prefs": "p.csv", "scores": "s.csv", "systems": "s.yaml", "mixeval": "m.json", "store": "run/store.sqlite"}[kind]
    f.parent.mkdir(exist_ok=True)
    f.write_bytes(data)
    args = {"prefs": ["stats", "preferences", f, "--out", d / "o", "--bootstrap", "10"],
            "scores": ["stats", "scores", f, "--out", d / "o"],
            "systems": ["generate", "--testset", small_testset, "--systems", f, "--out", d / "r"],
            "mixeval": ["data", "check-truth", f, "--out", d / "o"],
            "store": ["report", f.parent, "--out", d / "o", "--bootstrap", "10"]}[kind]
    proc = run_cli(*args, timeout=120)
    assert proc.returncode in (0, 2), proc.stderr[-800:]
    assert "Traceback" not in proc.stderr
    shutil.rmtree(d, ignore_errors=True)


def test_the_fuzzers_reach_past_the_first_check(tmp_path):
    """A near-real MixologyDB shape reads (not every generated file is refused at the top level)."""
    from evalkit.data.mix_tables import mixology_rows

    p = tmp_path / "m.json"
    p.write_text(json.dumps({"mixes": [{"mix-name": "m", "song-name": "s", "tracks": [{"track-name": "k", "parameters": {}}]}]}))
    assert len(mixology_rows(p)) == 1
    assert pytest.importorskip("hypothesis")
    assert Path(__file__).exists()
