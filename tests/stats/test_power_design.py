"""`stats power --design`: simulated power of the analyses the report runs, against closed forms where they exist."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.stats.power_design import (
    PowerDesign,
    ScoreEffect,
    VoteEffect,
    power_grid,
    score_effect_from_pilot,
    score_power,
    vote_effect_from_pilot,
    vote_power,
)
from tests.conftest import run_cli


@pytest.mark.parametrize(("songs", "expected"), [(8, 0.2923475), (16, 0.5793732)])
def test_judge_score_power_matches_the_t_test_on_song_means(songs, expected):
    """Equal items per song: CV3 is the one-sample t-test on song means, whose SD is √(song_sd² + item_sd²/m).
    R: power.t.test(n = 8 | 16, delta = 0.5, sd = sqrt(0.25 + 1/2), type = "one.sample")$power."""
    n_sim = 400
    got = score_power(ScoreEffect(effect=0.5, song_sd=0.5, item_sd=1.0), songs, 2, alpha=0.05, simulations=n_sim,
                      rng=np.random.default_rng(1))
    assert abs(got - expected) <= 3.5 * np.sqrt(expected * (1 - expected) / n_sim)


@pytest.mark.slow
def test_mixed_model_test_holds_its_size_and_gains_power_with_people():
    """No effect: the mixed model's Wald test rejects about alpha of the time (not the 20–30% a vote-level test
    gives with this much participant variance); with an effect, more participants give more power."""
    null = VoteEffect(effect_log_odds=0.0, participant_sd=1.0, item_sd=0.5)
    size = vote_power(null, 8, 2, 24, 8, alpha=0.05, simulations=120, rng=np.random.default_rng(2))
    assert size <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 120)
    effect = VoteEffect(effect_log_odds=0.6, participant_sd=0.5, item_sd=0.3)
    few = vote_power(effect, 8, 2, 12, 8, alpha=0.05, simulations=60, rng=np.random.default_rng(3))
    many = vote_power(effect, 8, 2, 60, 8, alpha=0.05, simulations=60, rng=np.random.default_rng(3))
    assert many > few and many > 0.8


def test_pilot_variance_components_by_hand():
    # songs a: 1, 3 (mean 2); b: 4, 6 (mean 5); c: 7, 9 (mean 8). Grand mean 5.
    # MSW = (1+1+1+1+1+1)/(6−3) = 2; MSB = 2·(9 + 0 + 9)/2 = 18; n0 = 2; song variance (18 − 2)/2 = 8.
    d = pd.DataFrame({"song_id": list("aabbcc"), "difference": [1.0, 3, 4, 6, 7, 9]})
    e = score_effect_from_pilot(d)
    assert e.effect == 5.0 and e.item_sd == pytest.approx(np.sqrt(2)) and e.song_sd == pytest.approx(np.sqrt(8))


def test_pilot_votes_give_the_mixed_models_components():
    from pathlib import Path

    w = pd.read_csv(Path(__file__).parent / "data" / "glmm_votes.csv")
    votes = pd.DataFrame({"participant_id": w.participant_id, "item_id": w.item_id, "system_a": "x", "system_b": "y",
                          "choice": np.where(w.win == 1, "a", "b")})
    e = vote_effect_from_pilot(votes, "x", "y")
    # glmer on the same votes (tests/stats/test_mixed_lme4.py): 0.3537, participant var 0.8989, item var 0.4504
    assert e.effect_log_odds == pytest.approx(0.3537, abs=0.01)
    assert e.participant_sd == pytest.approx(np.sqrt(0.8989), rel=0.03)


def test_cli_design_writes_grid_and_figure_and_refuses_bad_yaml(tmp_path):
    design = tmp_path / "d.yaml"
    design.write_text("power:\n  simulations: 10\n  grid: {songs: [5, 10], items_per_song: [2], participants: [10], "
                      "votes_per_participant: [4]}\n  judge_scores: {effect: 2.0, song_sd: 0.1, item_sd: 0.5}\n")
    r = CliRunner().invoke(app, ["stats", "power", "--design", str(design), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    grid = pd.read_csv(tmp_path / "out" / "power_grid.csv")
    assert set(grid.analysis) == {"judge scores (CV3, songs as clusters)", "human votes (mixed model)"}
    assert len(grid) == 4 and (tmp_path / "out" / "power.png").stat().st_size > 5000
    assert "80% power first reached with 5 songs" in r.output  # effect 2 dB against SD ~0.37 per song: certain
    for text, named in (("power:\n  grid: {songs: [0]}\n", "grid.songs"), ("power:\n  alpah: 0.1\n", "alpah"),
                        ("- 1\n", "power:")):
        design.write_text(text)
        bad = run_cli("stats", "power", "--design", design, "--out", tmp_path / "o2")
        assert bad.returncode == 2 and named in bad.stderr and "Traceback" not in bad.stderr


def test_grid_covers_every_cell_once():
    d = PowerDesign(simulations=10, grid={"songs": [5, 6], "items_per_song": [1, 2], "participants": [6],
                                          "votes_per_participant": [3, 4]}, human_votes=None)
    g = power_grid(d)
    assert len(g) == 4 and g.participants.isna().all()
