import numpy as np
import pandas as pd
import pytest

from evalkit.stats.agreement import human_agreement, ranking_correlation, vote_agreement
from evalkit.stats.power import binomial_power, participants_needed, pilot_icc, votes_needed
from evalkit.stats.scores import friedman, paired_tests, system_means


def test_wilcoxon_scipy_docs_example():
    # SciPy wilcoxon docs (Darwin's Zea mays differences): statistic 24.0, p = 0.041259765625
    d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
    df = pd.DataFrame({"item_id": list(range(15)) * 2, "system": ["a"] * 15 + ["b"] * 15, "score": d + [0] * 15})
    t = paired_tests(df).iloc[0]
    assert t.statistic == 24.0 and t.p_value == pytest.approx(0.041259765625)
    # matched-pairs rank-biserial by hand: ranks of |d| are 1..15; the negatives (-48, -67) rank 10 and 14, so
    # T- = 24 (the statistic above), T+ = 120 - 24 = 96, r = (T+ - T-) / 120 = 72 / 120
    assert t.rank_biserial == pytest.approx(72 / 120)


def test_friedman_matches_scipy_and_kendalls_w():
    from scipy.stats import friedmanchisquare

    rng = np.random.default_rng(2)
    x = rng.normal(size=(10, 3)) + [0, 0.5, 1.0]
    df = pd.DataFrame([{"item_id": i, "system": s, "score": x[i, k]} for i in range(10) for k, s in enumerate("abc")])
    f = friedman(df).iloc[0]
    ref = friedmanchisquare(x[:, 0], x[:, 1], x[:, 2])
    assert f.statistic == pytest.approx(ref.statistic) and f.kendall_w == pytest.approx(ref.statistic / (10 * 2))


def test_system_means_cover_the_mean():
    df = pd.DataFrame({"system": ["a"] * 50, "score": np.random.default_rng(0).normal(3, 1, 50)})
    r = system_means(df).iloc[0]
    assert r.ci_low < r["mean"] < r.ci_high and r.n == 50


def test_power_normal_approximation_and_design_effect():
    n = votes_needed(0.65)
    # normal approximation: ((1.96·0.5 + 0.8416·sqrt(.65·.35)) / 0.15)^2 = 84.8; the exact test needs a little more
    assert 80 <= n <= 100 and binomial_power(n, 0.65) >= 0.8
    r = participants_needed(0.65, votes_per_participant=20, icc=0.1).iloc[0]
    assert r.design_effect == pytest.approx(1 + 19 * 0.1)  # Kish: 1 + (m − 1)·ICC
    assert r.participants == int(np.ceil(np.ceil(n * 2.9) / 20))


def test_exact_binomial_power_by_hand():
    # n = 10, two-sided α = .05 rejects X ∈ {0, 1, 9, 10} (P0 = 22/1024 = .0215); power at p = .9 = P(X ≥ 9) + P(X ≤ 1)
    p = 0.9
    expected = p**10 + 10 * p**9 * (1 - p) + (1 - p) ** 10 + 10 * (1 - p) ** 9 * p
    assert binomial_power(10, 0.9) == pytest.approx(expected)


def test_pilot_icc_is_zero_for_independent_votes():
    rng = np.random.default_rng(0)
    wins = pd.DataFrame({"participant_id": np.repeat(range(200), 10), "win": (rng.random(2000) < 0.6).astype(float)})
    p, icc, m = pilot_icc(wins)
    assert p == pytest.approx(0.6, abs=0.03) and icc < 0.03 and m == 10


def _v(rows):
    return pd.DataFrame(rows, columns=["participant_id", "item_id", "system_a", "system_b", "choice"])


def test_mt_bench_agreement_definitions_by_hand():
    judge = _v([("j", "i1", "x", "y", "a"), ("j", "i2", "x", "y", "tie"), ("j", "i3", "x", "y", "b")])
    human = _v([("h1", "i1", "x", "y", "a"), ("h2", "i1", "y", "x", "a"), ("h1", "i2", "x", "y", "tie"), ("h1", "i3", "x", "y", "a")])
    r = vote_agreement(judge, human).iloc[0]
    # 4 human votes: i1 a (agree), i1 flipped -> b (disagree), i2 tie (agree), i3 a vs b (disagree): 2/4 with ties;
    # without ties: i1 a, i1 b, i3 a -> 1/3
    assert r.n == 4 and r.agreement_with_tie == 0.5 and r.agreement_without_tie == pytest.approx(1 / 3)
    h = human_agreement(human).iloc[0]
    assert h.n_pairs == 1 and h.agreement_with_tie == 0.0


def test_ranking_correlation():
    a = pd.Series([3.0, 2.0, 1.0, 0.0], index=list("wxyz"))
    r = ranking_correlation(a, a * 2 + 1).iloc[0]
    assert ranking_correlation(a, -a).iloc[0].kendall_tau == pytest.approx(-1.0)
    assert r.kendall_tau == pytest.approx(1.0) and r.spearman_rho == pytest.approx(1.0)


def test_power_is_symmetric_and_matches_scipys_exact_test():
    """Detecting 0.3 needs as many votes as 0.7 (the old rejection region split tied outcomes, 54 vs 49). Independent
    reference: scipy's binomtest (two-sided 'minlike', R's rule) p-value for every outcome, rejected at α."""
    from scipy.stats import binom, binomtest

    assert votes_needed(0.7) == votes_needed(0.3) and votes_needed(0.62) == votes_needed(0.38)
    for n, p in ((25, 0.7), (54, 0.3), (97, 0.65)):
        reference = sum(binom.pmf(k, n, p) for k in range(n + 1) if binomtest(k, n).pvalue <= 0.05)
        assert binomial_power(n, p) == pytest.approx(reference, abs=1e-12)
        assert binomial_power(n, p) == pytest.approx(binomial_power(n, 1 - p), abs=1e-12)


def test_pilot_is_read_per_question_without_simulated_or_excluded_raters(tmp_path):
    """A pilot where simulated raters and the specificity question would pull the rate toward 0.5: only real, included
    helpfulness answers count (24 of 30 wins = 0.8), unless asked."""
    from tests.conftest import run_cli

    rows = []
    for pid in range(6):
        for k in range(5):
            rows.append({"participant_id": f"p{pid}", "item_id": f"i{k}", "system_a": "x", "system_b": "y", "criterion": "helpfulness",
                         "choice": "a" if (pid * 5 + k) % 5 else "b", "excluded": False, "simulated": False})
            rows.append({**rows[-1], "criterion": "specificity", "choice": "b" if k else "a"})
            rows.append({**rows[-2], "participant_id": f"sim{pid}", "choice": "b", "simulated": True})
    path = tmp_path / "pilot.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    import re

    def rate(*extra) -> str:  # the first cell of the table's row: preference_rate
        out = run_cli("stats", "power", "--pilot", path, "--system", "x", *extra, check=True)
        return re.search(r"│\s*([\d.]+)\s*│", out.stdout).group(1)

    assert rate() == "0.8"
    assert rate("--include-simulated") == "0.4"  # 24 wins of 60 votes with the simulated raters' 30 losses
    assert rate("--criterion", "specificity") == "0.2"  # the other question: 6 of 30
