import numpy as np
import pytest

from evalkit.generate import generate
from evalkit.judging.advice_parser import parse_advice
from evalkit.judging.reference import ReferenceOptions, balance_error, judge_reference, reference_metrics
from evalkit.judging.rubrics import load_judge
from evalkit.judging.stage import judge_run
from evalkit.records import Advice, Item
from evalkit.store import Store
from evalkit.systems.analytic import phrase_corrections
from tests.test_generate import ANALYTIC

ITEM = Item(id="i", song_id="s", split="test", offsets_db={"drums": 0, "bass": -6, "other": 0, "vocals": 3},
            correction_db={"drums": 0.0, "bass": 6.0, "other": 0.0, "vocals": -3.0})


def test_metrics_by_hand():
    m = reference_metrics(parse_advice("Raise the bass by 4 dB. Lower the drums 2 dB."), ITEM)
    # disturbed: bass (+6), vocals (-3); bass right, vocals missed, drums is a wrong claim
    assert m["direction_accuracy"] == 0.5 and m["missed_stems"] == 1 and m["wrong_claims"] == 1
    assert m["db_error"] == pytest.approx((abs(4 - 6) + abs(-2 - 0)) / 2)
    # balance error: residual after gains = (drums +2, bass +2, other 0, vocals -3), minus its median (1): (1, 1, -1, -4)
    assert m["balance_error_after_db"] == pytest.approx(np.sqrt((1 + 1 + 1 + 16) / 4))
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


VOCALS_UP = Item(id="v", song_id="s", split="test", offsets_db={"drums": 0, "bass": 0, "other": 0, "vocals": -4},
                 correction_db={"drums": 0.0, "bass": 0.0, "other": 0.0, "vocals": 4.0})


def test_one_frame_for_every_metric_relative_by_default_absolute_on_request():
    """'Lower drums, bass and other 4 dB' when the vocals need +4 dB: relative to the advice's common level shift
    (the median gain, -4 dB) it is 'vocals +4 dB', right on every metric; in the absolute frame it is wrong on every one."""
    parsed = parse_advice("Lower the drums, the bass and the other stem by 4 dB.")
    assert parsed.gains() == {"drums": -4.0, "bass": -4.0, "other": -4.0}
    rel = reference_metrics(parsed, VOCALS_UP)
    # by hand: t~ = (0, 0, 0, 4), g~ = g - median(g) = (0, 0, 0, 4); before = RMS of t~ minus its median (0) = 2
    assert rel["direction_accuracy"] == 1 and rel["wrong_claims"] == 0 and rel["missed_stems"] == 0
    assert rel["balance_error_before_db"] == pytest.approx(2) and rel["balance_error_after_db"] == pytest.approx(0)
    absolute = reference_metrics(parsed, VOCALS_UP, ReferenceOptions(frame="absolute"))
    # by hand: D = {vocals}, M = {drums, bass, other}: nothing right, three wrong, one missed;
    # before = RMS(0, 0, 0, 4) = 2, after = RMS(4, 4, 4, 4) = 4
    assert absolute["direction_accuracy"] == 0 and absolute["wrong_claims"] == 3 and absolute["missed_stems"] == 1
    assert absolute["balance_error_before_db"] == pytest.approx(2) and absolute["balance_improvement_db"] == pytest.approx(-2)


def test_the_assumed_amount_of_an_unquantified_claim_is_a_setting():
    item = Item(id="b", song_id="s", split="test", offsets_db={"drums": 0, "bass": -6, "other": 0, "vocals": 0},
                correction_db={"drums": 0.0, "bass": 6.0, "other": 0.0, "vocals": 0.0})
    parsed = parse_advice("Raise the bass.")
    # nominal 3 dB: residual (0, 3, 0, 0), minus its median (0): RMS sqrt(9 / 4) = 1.5
    assert reference_metrics(parsed, item)["balance_error_after_db"] == pytest.approx(1.5)
    assert reference_metrics(parsed, item, ReferenceOptions(nominal_db=6))["balance_error_after_db"] == pytest.approx(0)
    assert ReferenceOptions(nominal_db=6).version != ReferenceOptions().version


def test_changing_the_reference_settings_redoes_its_judgments(small_testset, tmp_path):
    import yaml

    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    first = judge_run(store, load_judge("judges/reference.yaml"), show_progress=False)
    preset = tmp_path / "ref-absolute.yaml"
    preset.write_text(yaml.safe_dump({"name": "reference", "protocol": "reference", "reference": {"frame": "absolute", "nominal_db": 4}}))
    second = judge_run(store, load_judge(preset), show_progress=False)
    assert second["replaced"] == first["scored"] and second["scored"] == first["scored"]  # the free judge is redone, not mixed
    assert {j.judge_config_hash for j in store.judgments("reference")} == {ReferenceOptions(frame="absolute", nominal_db=4).version}


def test_moves_below_the_audible_minimum_are_no_moves_and_flags_are_not_scored():
    """Issue #20: 'lower the drums by 0.1 dB' moves nothing a listener hears; a hedge or a contradiction is not a
    move either way; a level shift of every stem changes no balance and has no specificity."""
    drums = Item(id="d", song_id="s", split="test", offsets_db={"drums": 3, "bass": 0, "other": 0, "vocals": 0},
                 correction_db={"drums": -3.0, "bass": 0.0, "other": 0.0, "vocals": 0.0})
    tiny = reference_metrics(parse_advice("Lower the drums by 0.1 dB."), drums)
    assert tiny["direction_accuracy"] == 0 and tiny["missed_stems"] == 1 and tiny["balance_improvement_db"] == 0
    assert reference_metrics(parse_advice("Lower the drums by 0.1 dB."), drums, ReferenceOptions(min_move_db=0))["direction_accuracy"] == 1
    for text in ("Lower the drums by 3 dB, or raise the drums by 3 dB.", "The drums could go up or down 3 dB."):
        m = reference_metrics(parse_advice(text), drums)
        assert m["direction_accuracy"] == 0 and m["specificity"] == 0 and m["n_flagged"] == 1
    shift = reference_metrics(parse_advice("Increase the gain of each stem by 10 dB."), drums)
    assert shift["specificity"] == 0 and shift["balance_improvement_db"] == pytest.approx(0)
