"""The benchmark: a frozen release, submissions checked in full, scores equal to the report's, a leaderboard."""

import json
import shutil

import pandas as pd
import pytest

from evalkit.data.synth import synthesize
from evalkit.generate import generate
from evalkit.judging.rubrics import load_judge
from evalkit.judging.stage import judge_run
from evalkit.paths import find_shipped
from evalkit.report.analysis import analyze
from evalkit.store import Store
from evalkit.systems import parse_systems
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """16 songs (5 test songs, so intervals exist), an analytic and a generic system judged by the reference judge,
    a release, and both systems exported as submissions."""
    d = tmp_path_factory.mktemp("bench")
    synthesize(d / "ts", songs=16, seed=4, seconds=3.0, sample_rate=16000, progress=False)
    systems = parse_systems([{"name": "analytic", "kind": "analytic", "conditions": ["mix", "stems", "stems+reference"]},
                             {"name": "generic", "kind": "generic", "conditions": ["mix", "stems", "stems+reference"]}], "t")
    generate(d / "ts", systems, d / "run", show_progress=False)
    store = Store(d / "run")
    judge_run(store, load_judge(find_shipped("judges/reference.yaml")), show_progress=False)
    report = analyze(store, bootstrap=0).tables["reference_scores"]
    run_cli("release", d / "ts", "--out", d / "rel", check=True)
    for s in ("analytic", "generic"):
        run_cli("export-submission", d / "run", "--system", s, "--out", d / f"{s}.jsonl", check=True)
    return d, report


def test_the_same_test_set_released_twice_has_the_same_id(bench, tmp_path):
    d, _ = bench
    run_cli("release", d / "ts", "--out", tmp_path / "again", check=True)
    a, b = (json.loads((p / "release.json").read_text()) for p in (d / "rel", tmp_path / "again"))
    assert a["release_id"] == b["release_id"] and len(a["release_id"]) == 16
    assert (d / "rel" / "DATASHEET.md").read_text() == (tmp_path / "again" / "DATASHEET.md").read_text()
    sheet = (d / "rel" / "DATASHEET.md").read_text()
    assert a["release_id"] in sheet and "negated offset" in sheet and "CC0" in sheet
    prompts = [json.loads(x) for x in (d / "rel" / "inputs" / "prompts.jsonl").read_text().splitlines()]
    test_songs = {json.loads(x)["song_id"] for x in (d / "rel" / "truth.jsonl").read_text().splitlines()}
    assert len(prompts) == 3 * a["n_items"] and a["n_songs"] == len(test_songs) >= 5
    assert all(p["reference_song_id"] not in test_songs for p in prompts if p["reference_song_id"])
    assert not any("correction" in json.dumps(p) for p in prompts)  # what advisors see holds no answer


@pytest.mark.slow
def test_scores_and_leaderboard_equal_the_report(bench, tmp_path):
    d, report = bench
    for s in ("analytic", "generic"):
        r = run_cli("score", d / f"{s}.jsonl", "--release", d / "rel", "--out", tmp_path / s, "--quiet")
        assert r.returncode == 0, r.stderr
    r = run_cli("leaderboard", tmp_path / "analytic", tmp_path / "generic", "--out", tmp_path / "board")
    assert r.returncode == 0, r.stderr
    board = pd.read_csv(tmp_path / "board" / "leaderboard.csv")
    ref = report[report.metric == "balance_improvement_db"]
    for row in board.itertuples():
        want = ref[(ref.system == row.entry) & (ref.condition == row.condition)].iloc[0]
        assert row.balance_improvement_db == pytest.approx(want["mean"], abs=1e-9)
        assert row.ci_low == pytest.approx(want.ci_low, abs=1e-9) and row.ci_high == pytest.approx(want.ci_high, abs=1e-9)
        assert row.n == want.n and row.n_songs == want.n_songs >= 5
    assert set(board.entry) == {"analytic", "generic"} and len(board) == 6
    pairs = pd.read_csv(tmp_path / "board" / "pairwise.csv")
    assert len(pairs) == 3 and pairs.p_holm.notna().all()
    items = pd.read_csv(tmp_path / "analytic" / "item_scores.csv").merge(
        pd.read_csv(tmp_path / "generic" / "item_scores.csv"), on=["item_id", "song_id", "condition"])
    mix = items[items.condition == "mix"]
    want = (mix.balance_improvement_db_x - mix.balance_improvement_db_y).mean()  # hand computation: the paired mean
    got = pairs[pairs.condition == "mix"].iloc[0]
    assert got.mean_difference_db == pytest.approx(want if got.entry_a == "analytic" else -want)
    # a row from another release is refused
    shutil.copytree(tmp_path / "generic", tmp_path / "other")
    row = json.loads((tmp_path / "other" / "row.json").read_text())
    row.update(release_id="0" * 16, entry="other")
    (tmp_path / "other" / "row.json").write_text(json.dumps(row))
    r = run_cli("leaderboard", tmp_path / "analytic", tmp_path / "other", "--out", tmp_path / "board2")
    assert r.returncode == 2 and "another release" in r.stderr


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _write(path, lines):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


BAD = [(lambda ls: ls[1:], "missing"),
       (lambda ls: ls + [ls[0]], "answered twice"),
       (lambda ls: ls + [{**ls[0], "item_id": "no-such-item"}], "not in the release"),
       (lambda ls: ls + [{**ls[0], "condition": "stems+own-reference"}], "not in the release"),
       (lambda ls: [{**ls[0], "advice": None}] + ls[1:], "must be a string"),
       (lambda ls: [{**ls[0], "extra": 1}] + ls[1:], "unknown field")]


def test_an_incomplete_or_wrong_submission_is_refused_listing_lines(bench, tmp_path):
    from evalkit.benchmark.submission import read_submission
    from evalkit.errors import EvalkitInputError

    d, _ = bench
    release = json.loads((d / "rel" / "release.json").read_text())
    item_ids = [json.loads(x)["item_id"] for x in (d / "rel" / "truth.jsonl").read_text().splitlines()]
    good = _lines(d / "analytic.jsonl")
    assert len(read_submission(d / "analytic.jsonl", item_ids, release["conditions"]).lines) == len(good)
    for change, message in BAD:
        sub = _write(tmp_path / "bad.jsonl", change(good))
        with pytest.raises(EvalkitInputError, match=message):
            read_submission(sub, item_ids, release["conditions"])
    # from the command line: exit 2, the first missing lines listed, nothing written
    r = run_cli("score", _write(tmp_path / "bad.jsonl", good[3:]), "--release", d / "rel", "--out", tmp_path / "s", "--quiet")
    assert r.returncode == 2 and "3 item/condition pair(s) missing" in r.stderr and good[0]["item_id"] in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "s").exists()


def test_an_empty_advice_is_scored_as_empty_not_dropped(bench, tmp_path):
    d, _ = bench
    lines = _lines(d / "analytic.jsonl")
    lines[0]["advice"] = ""
    sub = _write(tmp_path / "empty.jsonl", lines)
    r = run_cli("score", sub, "--release", d / "rel", "--out", tmp_path / "s", "--quiet")
    assert r.returncode == 0, r.stderr
    row = json.loads((tmp_path / "s" / "row.json").read_text())
    cond = lines[0]["condition"]
    assert row["empty_advice"] == 1 and row["conditions"][cond]["balance_improvement_db"]["n"] == sum(
        x["condition"] == cond for x in lines)
    items = pd.read_csv(tmp_path / "s" / "item_scores.csv")
    assert items[(items.item_id == lines[0]["item_id"]) & (items.condition == cond)].balance_improvement_db.iloc[0] == 0


def test_a_tampered_release_is_refused_naming_the_file(bench, tmp_path):
    from evalkit.benchmark.release import verify_release
    from evalkit.errors import EvalkitInputError

    d, _ = bench
    for target in ("truth.jsonl", "inputs/prompts.jsonl", "DATASHEET.md", "testset/items.jsonl"):
        rel = tmp_path / target.replace("/", "_")
        shutil.copytree(d / "rel", rel)
        with open(rel / target, "a") as f:
            f.write(" ")
        with pytest.raises(EvalkitInputError, match=f"{target} has changed"):
            verify_release(rel)
    (rel / "extra.txt").write_text("x")
    r = run_cli("score", d / "analytic.jsonl", "--release", rel, "--out", tmp_path / "s", "--quiet")
    assert r.returncode == 2 and "changed" in r.stderr and "Traceback" not in r.stderr, r.stderr
