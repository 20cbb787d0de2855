"""Clustered contrasts against independent computations: statsmodels' cluster-robust OLS, a plain jackknife loop, pingouin's
rank-biserial, hand calculations, and exact binomial tests over participants."""

import numpy as np
import pandas as pd
import pytest

from evalkit.stats.clustered import (
    cluster_robust_mean,
    clustered_share,
    paired_contrast,
    preference_contrast,
    rank_biserial,
    rank_biserial_ci,
)
from evalkit.stats.preference import pairwise_tests


def test_cluster_robust_mean_by_hand():
    # y = 1, 2 (song s1) and 3, 6 (song s2): mean 3; without s1 4.5, without s2 1.5,
    # V = (G-1)/G * (1.5² + 1.5²) = 2.25 -> SE 1.5, t = 2 on 1 df, p = 2 * (1 - F_t1(2)) = 0.2952
    r = cluster_robust_mean([1.0, 2.0, 3.0, 6.0], ["s1", "s1", "s2", "s2"])
    assert r["mean"] == 3.0 and r["se"] == pytest.approx(1.5) and r["df"] == 1
    assert r["p_value"] == pytest.approx(0.29516723, abs=1e-7)  # 1 - 2*atan(2)/pi, the Cauchy (t1) tail
    # two songs: no interval is drawn (issue #19: none from fewer than 5 clusters), the estimate stands with the reason
    assert np.isnan(r["ci_low"]) and np.isnan(r["ci_high"]) and r["ci_note"] == "too few songs for an interval (k = 2)"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_robust_mean_equals_statsmodels_cr1_when_songs_are_equal_sized(seed):
    """CV3 with equal cluster sizes is algebraically CR1 (and the t-test on song means): statsmodels is the reference."""
    import statsmodels.api as sm

    rng = np.random.default_rng(seed)
    songs = np.repeat(np.arange(8), 5)
    y = rng.normal(0.4, 1.0, 40) + rng.normal(0, 1.0, 8)[songs]  # items share their song's offset
    ours = cluster_robust_mean(y, songs)
    fit = sm.OLS(y, np.ones(len(y))).fit(cov_type="cluster", cov_kwds={"groups": songs}, use_t=True)
    assert ours["mean"] == pytest.approx(fit.params[0])
    assert ours["se"] == pytest.approx(fit.bse[0], rel=1e-8)
    assert ours["p_value"] == pytest.approx(fit.pvalues[0], rel=1e-6)
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx(tuple(fit.conf_int()[0]), rel=1e-8)
    # clustering matters: the naive SE (items as independent) is smaller here
    assert ours["se"] > y.std(ddof=1) / np.sqrt(len(y))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_robust_mean_is_the_leave_one_song_out_jackknife_and_wider_than_cr1(seed):
    """Unequal song sizes: CV3 = (G−1)/G Σ_g (mean without song g − mean)², computed here by a plain loop (MacKinnon,
    Nielsen & Webb 2023, §3.3); CR1 from statsmodels is smaller, which is why CV3 is used with few songs."""
    import statsmodels.api as sm

    rng = np.random.default_rng(seed)
    songs = np.repeat(np.arange(6), [2, 3, 4, 8, 10, 13])
    y = rng.normal(0.4, 1.0, len(songs)) + rng.normal(0, 1.0, 6)[songs] * (songs == 5)
    full = y.mean()
    jack = np.array([y[songs != g].mean() for g in range(6)])
    expected = np.sqrt(5 / 6 * np.sum((jack - full) ** 2))
    ours = cluster_robust_mean(y, songs)
    assert ours["se"] == pytest.approx(expected, rel=1e-8)
    cr1 = sm.OLS(y, np.ones(len(y))).fit(cov_type="cluster", cov_kwds={"groups": songs}, use_t=True).bse[0]
    assert ours["se"] > cr1


def test_one_cluster_gives_no_interval_rather_than_a_false_one():
    r = cluster_robust_mean([1.0, 2.0, 3.0], ["s", "s", "s"])
    assert r["mean"] == 2.0 and np.isnan(r["se"]) and np.isnan(r["ci_low"]) and np.isnan(r["p_value"])


def test_rank_biserial_by_hand_and_against_pingouin():
    # Kerby (2014): differences 1, 2, -3, 4 have ranks 1..4; r = (1 + 2 + 4 - 3) / 10
    assert rank_biserial([1.0, 2.0, -3.0, 4.0]) == pytest.approx(0.4)
    pg = pytest.importorskip("pingouin")
    d = np.random.default_rng(5).normal(0.3, 1.0, 17)
    assert rank_biserial(d) == pytest.approx(pg.wilcoxon(d)["RBC"].iloc[0])


def test_intervals_always_contain_their_estimate():
    rng = np.random.default_rng(3)
    for k in range(30):
        n = int(rng.integers(3, 25))
        d = rng.normal(rng.normal(0, 1), 1, n)
        if k % 3 == 0:
            d = np.abs(d) + 0.1  # every difference positive: r = 1
        songs = rng.integers(0, int(rng.integers(2, 6)), n)
        r = paired_contrast(d, songs, bootstrap=100, seed=k)
        if np.isfinite(r["ci_low"]):
            assert r["ci_low"] <= r["mean_difference"] <= r["ci_high"]
        lo, hi = rank_biserial_ci(d, songs, bootstrap=100, seed=k)
        if np.isfinite(lo):
            assert lo <= r["rank_biserial"] <= hi and -1 <= lo and hi <= 1
    # r = 1 in every song: every resample gives 1, the interval is the point (no variation), never one from n alone
    assert rank_biserial_ci(np.ones(12), np.repeat(np.arange(6), 2), bootstrap=100) == (1.0, 1.0)
    assert all(np.isnan(rank_biserial_ci(np.ones(8), np.repeat(np.arange(4), 2), bootstrap=100)))  # 4 songs: none
    # the interval follows the data: the same n, more spread between songs, a wider interval
    calm = rank_biserial_ci(np.r_[np.ones(10), -np.ones(2)], np.repeat(np.arange(6), 2), bootstrap=400)
    wild = rank_biserial_ci(np.r_[np.ones(6), -np.ones(6)], np.repeat(np.arange(6), 2), bootstrap=400)
    assert wild[1] - wild[0] > calm[1] - calm[0]


def test_clustered_share_stays_in_unit_interval_and_widens_with_clustering():
    # 6 participants, each always votes the same way: 4 always for a, 2 always for b (12 votes each)
    score = np.repeat([1.0, 1.0, 1.0, 1.0, 0.0, 0.0], 12)
    who = np.repeat([f"p{k}" for k in range(6)], 12)
    s = clustered_share(score, who)
    from statsmodels.stats.proportion import proportion_confint

    naive = proportion_confint(48, 72, method="wilson")
    assert 0 <= s["ci_low"] <= s["mean"] <= s["ci_high"] <= 1
    assert s["ci_high"] - s["ci_low"] > naive[1] - naive[0]
    all_a = clustered_share(np.ones(25), np.repeat([f"p{k}" for k in range(5)], 5))
    # n_eff = 5 participants, not 25 votes: Wilson for 5 of 5, R: prop.test(5, 5, correct = FALSE)$conf.int[1] = 0.5655
    assert all_a["ci_high"] == pytest.approx(1.0) and all_a["ci_low"] == pytest.approx(0.5655, abs=1e-4)
    three = clustered_share(np.repeat([1.0, 1.0, 0.0], 12), np.repeat(["p1", "p2", "p3"], 12))
    assert np.isnan(three["ci_low"]) and three["ci_note"] == "too few participants for an interval (k = 3)"


def test_participant_level_test_counts_people_not_votes():
    # 5 participants each vote a over b 6 times: votes say 30-0 (p = 2 / 2^30), people say 5-0
    rows = [(f"p{k}", f"i{j}", "a-sys", "b-sys", "a") for k in range(5) for j in range(6)]
    votes = pd.DataFrame(rows, columns=["participant_id", "item_id", "system_a", "system_b", "choice"])
    r = preference_contrast(votes, "a-sys", "b-sys")
    assert r["p_value"] == pytest.approx(2 / 2**5)  # exact two-sided sign test over 5 people: 0.0625
    assert r["p_value_votes"] == pytest.approx(2 / 2**30)
    assert r["n_participants"] == 5 and r["wins_a"] == 30
    t = pairwise_tests(votes).iloc[0]
    assert t.p_value == pytest.approx(0.0625) and t.p_value_votes == pytest.approx(2 / 2**30)


def test_system_means_cluster_by_song():
    from evalkit.stats.scores import system_means

    # songs s1 (1, 2) and s2 (3, 6): below 5 songs no interval is drawn (a song bootstrap would give [1.5, 4.5],
    # the range of the two song means)
    df = pd.DataFrame({"system": "a", "score": [1.0, 2.0, 3.0, 6.0], "song_id": ["s1", "s1", "s2", "s2"]})
    r = system_means(df, bootstrap=4000, cluster="song_id").iloc[0]
    assert r["mean"] == 3.0 and r.n_clusters == 2 and np.isnan(r.ci_low) and np.isnan(r.ci_high)
    # six songs of two items, song means 0.5, 2.5, …, 10.5: equal sizes, so the interval is the t-test's on the song
    # means, R: t.test(c(0.5, 2.5, 4.5, 6.5, 8.5, 10.5))$conf.int = 1.573371 9.426629
    df = pd.DataFrame({"system": "a", "score": np.arange(12.0), "song_id": np.repeat([f"s{k}" for k in range(6)], 2)})
    r = system_means(df, bootstrap=4000, cluster="song_id").iloc[0]
    assert (r.ci_low, r.ci_high) == pytest.approx((1.573371, 9.426629), abs=1e-6)


def test_identical_differences_give_an_exact_sign_flip_p_never_zero():
    """Issue #19: with every difference the same the SE is 0 and t undefined; p is the exact sign-flip p of the
    G cluster means, 2 · 2^−G (3 songs: 0.25), never 0."""
    from evalkit.stats.clustered import cluster_robust_mean

    r = cluster_robust_mean([2.0] * 6, ["a", "a", "b", "b", "c", "c"])
    assert r["p_value"] == 0.25 and r["p_method"].startswith("cluster sign-flip")
    assert cluster_robust_mean([0.0] * 4, ["a", "a", "b", "b"])["p_value"] == 1.0
    assert cluster_robust_mean([1.0] * 40, [f"s{k // 2}" for k in range(40)])["p_value"] == 2.0 ** -19 > 0
