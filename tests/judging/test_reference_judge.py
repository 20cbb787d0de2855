import numpy as np
import pytest

from evalkit.generate import generate
from evalkit.judging.advice_parser import parse_advice
from evalkit.judging.reference import balance_error, judge_reference, reference_metrics
from evalkit.judging.rubrics import load_judge
from evalkit.judging.stage import judge_run
from evalkit.records import Advice, Item
from evalkit.runners.analytic import phrase_corrections
from evalkit.store import Store
from tests.test_generate import ANALYTIC

ITEM = Item(id="i", song_id="s", split="test", offsets_db={"drums": 0, "bass": -6, "other": 0, "vocals": 3},
            correction_db={"drums": 0.0, "bass": 6.0, "other": 0.0, "vocals": -3.0})


def test_metrics_by_hand():
    m = reference_metrics(parse_advice("Raise the bass by 4 dB. Lower the drums 2 dB."), ITEM)
    # disturbed: bass (+6), vocals (-3); bass right, vocals missed, drums is a wrong claim
    assert m["direction_accuracy"] == 0.5 and m["missed_stems"] == 1 and m["wrong_claims"] == 1
    assert m["db_error"] == pytest.approx((abs(4 - 6) + abs(-2 - 0)) / 2)
    # balance error: residual after gains = (drums +2, bass +2, other 0, vocals -3), demeaned RMS
    r = np.array([2.0, 2.0, 0.0, -3.0])
    assert m["balance_error_after_db"] == pytest.approx(np.sqrt(np.mean((r - r.mean()) ** 2)))
    assert m["balance_error_before_db"] == pytest.approx(balance_error(ITEM.correction_db))


def test_perfect_advice_removes_all_error_and_generic_none():
    perfect = reference_metrics(parse_advice("Raise the bass 6 dB and lower the vocals 3 dB."), ITEM)
    assert perfect["balance_error_after_db"] == pytest.approx(0) and perfect["direction_accuracy"] == 1
    generic = reference_metrics(parse_advice("Balance it by ear."), ITEM)
    assert generic["balance_improvement_db"] == 0 and generic["missed_stems"] == 2


def test_every_generated_phrasing_round_trips_through_the_parser():
    rng = np.random.default_rng(0)
    for _ in range(300):
        corr = {s: float(rng.choice([0, 0, rng.integers(-24, 25) / 2])) for s in ("drums", "bass", "other", "vocals")}
        corr = {s: (v if abs(v) >= 0.5 else 0.0) for s, v in corr.items()}
        text = phrase_corrections(corr, rng)
        parsed = parse_advice(text)
        assert {c.stem: c.signed_db() for c in parsed.claims} == {s: v for s, v in corr.items() if v}, text


def test_oracle_beats_generic_over_a_run(small_testset, tmp_path):
    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    counts = judge_run(store, load_judge("judges/reference.yaml"))
    assert counts["scored"] > 0
    scores: dict[str, list[float]] = {}
    advice = {a.id: a for a in store.advice()}
    for j in store.judgments("reference"):
        if j.protocol == "reference":
            scores.setdefault(advice[j.advice_id].arm, []).append(j.score)
    assert np.mean(scores["oracle/stems+own-reference"]) > np.mean(scores["generic/mix"]) == 0
    assert np.mean(scores["oracle/stems+own-reference"]) > np.mean(scores["analytic/mix"])
    assert judge_run(store, load_judge("judges/reference.yaml"))["scored"] == 0  # resumable: nothing twice


def test_judgment_records_version_and_claims():
    j = judge_reference(Advice(item_id="i", system="x", condition="mix", text="Raise the bass 6 dB."), ITEM)
    assert j.rubric_hash and j.metrics["claims"] == [{"stem": "bass", "direction": "up", "db": 6.0}]
