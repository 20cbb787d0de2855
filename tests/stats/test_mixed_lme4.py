"""The mixed model of human votes against lme4's glmer, and where it must disagree with the vote-level test.

tests/stats/data/glmm_votes.csv: 24 participants × 32 items in 8 songs, every participant on every item, generated
with fixed log-odds 0.3 and SDs 1.2 (participant), 0.6 (item), 0.5 (song), seed 19. The recorded values below are
printed by ``Rscript tests/stats/data/glmer_reference.R tests/stats/data/glmm_votes.csv`` (R 4.2, lme4 1.1; glmer,
Laplace); CI installs R and lme4 and reruns the script live.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.stats.clustered import preference_contrast
from evalkit.stats.mixed import fit_glmm, preference_glmm

DATA = Path(__file__).parent / "data"
VOTES = DATA / "glmm_votes.csv"
# glmer: intercept, SE, then variance components, as the R script prints them
GLMER = {"crossed": (0.353705, 0.241876, {"participant": 0.898852, "item": 0.450368}),
         "with_song": (0.353880, 0.265597, {"participant": 0.905225, "item": 0.332355, "song": 0.123647})}
# Tolerances: both fits are Laplace, by different optimisers and with a finite-difference Hessian each, so they agree
# to optimiser precision, not to the digit.
FE_ABS, SE_REL, VAR_REL, VAR_ABS = 0.01, 0.03, 0.05, 0.01


def _fit(model: str) -> dict:
    d = pd.read_csv(VOTES)
    groups = {"participant": d.participant_id.to_numpy(), "item": d.item_id.to_numpy()}
    if model == "with_song":
        groups["song"] = d.song_id.to_numpy()
    return fit_glmm(d.win.to_numpy(), groups)


def _check(fit: dict, expected: tuple[float, float, dict[str, float]]) -> None:
    fe, se, variances = expected
    assert fit["estimate"] == pytest.approx(fe, abs=FE_ABS)
    assert fit["se"] == pytest.approx(se, rel=SE_REL)
    for name, v in variances.items():
        assert abs(fit[f"{name}_var"] - v) <= max(VAR_ABS, VAR_REL * v), name


@pytest.mark.parametrize("model", ["crossed", "with_song"])
def test_fixed_effect_and_variance_components_match_recorded_glmer(model):
    _check(_fit(model), GLMER[model])


def test_matches_glmer_run_live_on_the_same_votes():
    if not shutil.which("Rscript"):
        if os.environ.get("CI"):
            pytest.fail("CI must install r-base-core and r-cran-lme4 (.ci/run) so the lme4 comparison runs")
        pytest.skip("Rscript not installed (apt-get install r-base-core r-cran-lme4)")
    out = subprocess.run(["Rscript", str(DATA / "glmer_reference.R"), str(VOTES)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for line in out.stdout.strip().splitlines():
        name, fe, se, _p, *vc = line.split()
        variances = {k.removesuffix("_id"): float(v) for k, v in (x.split("=") for x in vc)}
        _check(_fit(name), (float(fe), float(se), variances))


def _votes_from(wins: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"participant_id": wins.participant_id, "item_id": wins.item_id, "system_a": "x", "system_b": "y",
                         "choice": np.where(wins.win == 1, "a", "b")})


def test_contrast_reports_the_mixed_model_as_primary_and_is_symmetric():
    votes = _votes_from(pd.read_csv(VOTES))
    r = preference_contrast(votes, "x", "y")
    assert r["primary_test"] == "mixed model" and r["p_value"] == r["mm_p_value"]
    # Wald z of the crossed fit: 2·(1 − Φ(0.3537 / 0.2419)) = 0.1436 by glmer
    assert r["mm_p_value"] == pytest.approx(0.143648, abs=0.01)
    assert r["mm_ci_low"] < r["mm_log_odds"] < r["mm_ci_high"]
    assert r["mm_p_win"] == pytest.approx(1 / (1 + np.exp(-r["mm_log_odds"])))
    flipped = preference_glmm(votes, "y", "x")
    assert flipped["mm_log_odds"] == pytest.approx(-r["mm_log_odds"], abs=1e-3)
    assert flipped["mm_se"] == pytest.approx(r["mm_se"], rel=1e-2)


def test_heterogeneous_participants_the_vote_test_is_fooled_and_the_mixed_model_is_not(tmp_path):
    """4 enthusiasts vote for x on 38 of 40 items; 16 others for x on 18 of 40. Votes: 440 of 800 for x, binomial
    p = 0.0052 (R: binom.test(440, 800)$p.value). The typical participant leans to y, so the model's estimate is
    near the participant median and its interval spans 0.5; the vote binomial calls x preferred."""
    rows = []
    for p in range(20):
        keen = p < 4
        for k in range(40):
            win = k < 38 if keen else k < 18
            rows.append({"participant_id": f"p{p}", "item_id": f"i{(k + p) % 40}", "song_id": f"s{((k + p) % 40) // 5}",
                         "system_a": "x", "system_b": "y", "choice": "a" if win else "b"})
    csv = tmp_path / "votes.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    result = CliRunner().invoke(app, ["stats", "preferences", str(csv), "--out", str(tmp_path / "out"), "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    t = pd.read_csv(tmp_path / "out" / "pairwise_tests.csv").iloc[0]
    assert t.p_value_votes == pytest.approx(0.005214, abs=5e-5)
    assert t.primary_test == "mixed model"
    assert t.p_value > 0.05 and t.mm_p_win_ci_low < 0.5 < t.mm_p_win_ci_high
    assert t.participant_var > 1.0  # the enthusiasts are found as participant variance
    assert "mixed model" in result.output


def test_no_model_where_it_cannot_be_fitted():
    one_way = pd.DataFrame({"participant_id": [f"p{i // 3}" for i in range(30)], "item_id": [f"i{i % 3}" for i in range(30)],
                            "system_a": "x", "system_b": "y", "choice": "a"})
    r = preference_contrast(one_way, "x", "y")
    assert r["primary_test"] == "participant sign test" and np.isnan(r["mm_p_value"])
    assert "one way" in r["mm_note"]
    # one vote per person: no participant variance to separate from vote noise, the sign test is the test
    single = pd.DataFrame({"participant_id": [f"p{i}" for i in range(12)], "item_id": [f"i{i % 4}" for i in range(12)],
                           "system_a": "x", "system_b": "y", "choice": ["a", "b", "a"] * 4})
    r = preference_contrast(single, "x", "y")
    assert r["primary_test"] == "participant sign test" and "one vote per participant" in r["mm_note"]
    few = one_way.assign(choice=["a", "b", "a"] * 10, participant_id=[f"p{i % 3}" for i in range(30)])
    assert "too few participants" in preference_contrast(few, "x", "y")["mm_note"]
