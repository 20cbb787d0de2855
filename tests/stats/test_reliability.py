import numpy as np
import pytest

from evalkit.stats.reliability import cohen_kappa, fleiss_kappa, icc, krippendorff_alpha

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: 4 coders, 12 units, missing values.
K2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
])


def test_krippendorff_2011_worked_example():
    assert krippendorff_alpha(K2011, "nominal") == pytest.approx(0.743, abs=0.001)  # Krippendorff (2011): α nominal = 0.743
    assert krippendorff_alpha(K2011, "interval") == pytest.approx(0.849, abs=0.001)  # Krippendorff (2011): α interval = 0.849
    assert krippendorff_alpha(K2011, "ordinal") == pytest.approx(0.815, abs=0.001)  # Krippendorff (2011): α ordinal = 0.815


def test_krippendorff_matches_the_krippendorff_package():
    kr = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(1)
    data = rng.integers(1, 6, size=(3, 40)).astype(float)
    data[rng.random(data.shape) < 0.1] = np.nan
    for level in ("nominal", "ordinal", "interval"):
        assert krippendorff_alpha(data, level) == pytest.approx(kr.alpha(reliability_data=data, level_of_measurement=level), abs=1e-9)


def test_fleiss_kappa_wikipedia_example():
    # Wikipedia "Fleiss' kappa" worked example (10 subjects, 14 raters, 5 categories): κ = 0.210
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=0.001)


def test_cohen_kappa_two_by_two_table():
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15 -> po = .70, pe = .50, κ = 0.40 (hand calculation)
    a = ["y"] * 20 + ["y"] * 5 + ["n"] * 10 + ["n"] * 15
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_icc_shrout_fleiss_1979_table_2():
    # Shrout & Fleiss (1979), Table 2 (6 targets × 4 judges): ICC(2,1) = .29, ICC(3,1) = .71
    x = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    got = icc(x).set_index("type")["icc"]
    assert got["ICC2"] == pytest.approx(0.29, abs=0.005) and got["ICC3"] == pytest.approx(0.71, abs=0.005)
