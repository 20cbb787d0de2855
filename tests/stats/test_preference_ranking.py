import numpy as np
import pandas as pd
import pytest

from evalkit.errors import EvalkitInputError
from evalkit.stats.preference import (
    benjamini_hochberg,
    holm,
    pairwise_tests,
    validate_preferences,
    wilson_interval,
)
from evalkit.stats.ranking import bradley_terry, fit_bt_mm, fit_davidson


def test_holm_and_bh_vectors():
    p = [0.01, 0.02, 0.03, 0.04, 0.05]
    # R: p.adjust(p, "holm") = 0.05 0.08 0.09 0.09 0.09 ; p.adjust(p, "BH") = 0.05 0.05 0.05 0.05 0.05 (hand-checked)
    np.testing.assert_allclose(holm(p), [0.05, 0.08, 0.09, 0.09, 0.09])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.05] * 5)
    # by hand, unsorted with a tie: p = (0.04, 0.001, 0.04, 0.3)
    # Holm: sorted 0.001·4 = 0.004, 0.04·3 = 0.12, 0.04·2 = 0.08 -> running max 0.12, 0.3·1 -> 0.3
    # BH: 0.3·4/4 = 0.3, 0.04·4/3 = 0.0533 (both tied values take rank 3's), 0.001·4/1 = 0.004
    q = [0.04, 0.001, 0.04, 0.3]
    np.testing.assert_allclose(holm(q), [0.12, 0.004, 0.12, 0.3])
    np.testing.assert_allclose(benjamini_hochberg(q), [0.04 * 4 / 3, 0.004, 0.04 * 4 / 3, 0.3])


def test_wilson_interval_by_hand():
    # 8 of 10 at 95% (z = 1.959964): centre (0.8 + z²/20) / (1 + z²/10) = 0.992073 / 1.384146 = 0.716740,
    # half-width z·sqrt(0.8·0.2/10 + z²/400) / 1.384146 = 0.226577 -> (0.49016, 0.94332)
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=5e-4)
    # 0 of 15: lower bound 0, upper z²/(n + z²) = 3.8415 / 18.8415 = 0.2039
    assert wilson_interval(0, 15) == pytest.approx((0.0, 0.2039), abs=5e-4)
    assert np.isnan(wilson_interval(0, 0)[0])


def _votes(rows):
    return pd.DataFrame(rows, columns=["participant_id", "item_id", "system_a", "system_b", "choice"])


def test_sign_test_drops_ties_by_hand():
    rows = [(f"p{k}", "i", "x", "y", c) for k, c in enumerate(["a"] * 8 + ["b"] * 2 + ["tie"] * 3)]
    t = pairwise_tests(_votes(rows)).iloc[0]
    # two-sided exact binomial, 8 of 10: 2 * (C(10,8) + C(10,9) + C(10,10)) / 2^10 = 112 / 1024
    assert (t.wins_a, t.wins_b, t.ties) == (8, 2, 3)
    assert t.p_value == pytest.approx(112 / 1024)


def test_rows_are_canonicalised_before_counting():
    rows = [("p1", "i", "x", "y", "a"), ("p2", "i", "y", "x", "b"), ("p3", "i", "y", "x", "a")]
    t = pairwise_tests(_votes(rows)).iloc[0]
    assert (t.system_a, t.system_b, t.wins_a, t.wins_b) == ("x", "y", 2, 1)


def test_bad_preferences_are_refused():
    with pytest.raises(EvalkitInputError, match="missing column"):
        validate_preferences(pd.DataFrame({"participant_id": [1]}))
    with pytest.raises(EvalkitInputError, match="unknown choice"):
        validate_preferences(_votes([("p", "i", "x", "y", "maybe")]))


AL_EAST = ["Milwaukee", "Detroit", "Toronto", "NewYork", "Boston", "Cleveland", "Baltimore"]
AL_WINS = np.array([[0, 7, 9, 7, 7, 9, 11], [6, 0, 7, 5, 11, 9, 9], [4, 6, 0, 7, 7, 8, 12], [6, 8, 6, 0, 6, 7, 10],
                    [6, 2, 6, 7, 0, 7, 12], [4, 4, 5, 6, 6, 0, 6], [2, 4, 1, 3, 1, 7, 0]], float)


def test_bradley_terry_agresti_baseball():
    # Agresti (2002), Categorical Data Analysis §10.6, 1987 AL East: log-strengths relative to Baltimore
    published = [1.58, 1.44, 1.29, 1.25, 1.11, 0.68, 0.00]
    s = fit_bt_mm(AL_WINS)
    np.testing.assert_allclose(s - s[-1], published, atol=0.01)


def test_bradley_terry_from_votes_and_bootstrap_by_participant():
    rows = []
    for i, a in enumerate(AL_EAST):
        for j, b in enumerate(AL_EAST):
            rows += [(f"fan{k % 9}", f"g{i}{j}{k}", a, b, "a") for k in range(int(AL_WINS[i, j]))]
    df = _votes(rows)
    bt = bradley_terry(df, bootstrap=300, seed=1).set_index("system")
    ref = fit_bt_mm(AL_WINS)
    assert bt.loc["Milwaukee", "score"] == pytest.approx(ref[0], abs=1e-6)
    assert (bt.ci_low <= bt.score).all() and (bt.score <= bt.ci_high).all()
    assert bt.loc["Milwaukee", "ci_low"] > bt.loc["Baltimore", "ci_high"]
    # fewer participants carrying the same votes -> wider intervals (the bootstrap resamples people)
    few = df.assign(participant_id=df.participant_id.map(lambda p: "fanA" if p < "fan4" else "fanB"))
    bt_few = bradley_terry(few, bootstrap=300, seed=1).set_index("system")
    assert (bt_few.ci_high - bt_few.ci_low).mean() > (bt.ci_high - bt.ci_low).mean()


def test_davidson_reduces_to_bt_without_ties_and_ties_half():
    s_bt = fit_bt_mm(AL_WINS)
    s_dav, nu = fit_davidson(AL_WINS, np.zeros_like(AL_WINS))
    np.testing.assert_allclose(s_dav, s_bt, atol=1e-3)
    assert nu < 1e-3
    rows = [("p1", "i", "x", "y", "tie"), ("p2", "i", "x", "y", "tie"), ("p3", "i", "x", "y", "a")]
    half = bradley_terry(_votes(rows), bootstrap=0).set_index("system")
    # ties half: x has 2 "wins" of 3 -> log-odds ln 2 between x and y
    assert half.loc["x", "score"] - half.loc["y", "score"] == pytest.approx(np.log(2), abs=1e-6)
