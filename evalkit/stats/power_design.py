"""Power of a declared design, by simulation: how many songs and participants a study needs.

A closed formula does not fit the analyses this harness runs. Judge-score contrasts are tested with the CV3
cluster-robust t on G − 1 df (few songs), and human votes with a logistic mixed model over crossed participants and
items: their power depends on songs, items per song, participants and votes per participant together. So the design is
simulated with the effect and variance components given (or estimated from a pilot), and each simulated data set is
analysed by the very functions the report uses (``cluster_robust_mean``, ``preference_glmm``). Power is the share of
simulations whose two-sided p is at most alpha; its Monte Carlo SE is √(p(1 − p)/n_sim), reported beside it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from evalkit.config_io import load_yaml, validate
from evalkit.errors import ConfigError
from evalkit.stats.clustered import cluster_robust_mean
from evalkit.stats.mixed import preference_glmm


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Grid(_Strict):
    """The design sizes to try; every combination is simulated."""

    songs: list[int] = Field(default=[4, 8, 16], min_length=1, description="test songs (the clusters of judge "
                                                                           "scores)")
    items_per_song: list[int] = Field(default=[2], min_length=1, description="items (gain problems) per song")
    participants: list[int] = Field(default=[12, 24, 48], min_length=1, description="study participants")
    votes_per_participant: list[int] = Field(default=[8], min_length=1,
                                             description="votes each participant gives on one contrast")

    @field_validator("songs", "items_per_song", "participants", "votes_per_participant")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        if any(x < 1 or x > 2000 for x in v):
            raise ValueError("sizes must be between 1 and 2000")
        return sorted(set(v))


class ScoreEffect(_Strict):
    """Per-item paired difference of the primary metric (e.g. balance improvement, dB): effect + song + item noise."""

    effect: float = Field(0.5, description="mean paired difference to detect")
    song_sd: float = Field(0.5, ge=0, description="SD of the difference between songs")
    item_sd: float = Field(1.0, ge=0, description="SD between items of one song")


class VoteEffect(_Strict):
    """Votes for one arm of a contrast: logit P(win) = effect + participant + item intercepts (the mixed model's terms)."""

    effect_log_odds: float = Field(0.4, description="log-odds that the arm wins for a typical participant and item")
    participant_sd: float = Field(0.8, ge=0, description="SD of participants' intercepts (taste)")
    item_sd: float = Field(0.5, ge=0, description="SD of items' intercepts (how clear the better advice is)")


class PowerDesign(_Strict):
    """A design to simulate: its grid and the effects of the two primary analyses (null: not simulated)."""

    alpha: float = Field(0.05, gt=0, lt=0.5, description="two-sided test size")
    target: float = Field(0.8, gt=0, lt=1, description="power the smallest design must reach")
    simulations: int = Field(200, ge=10, le=100000, description="simulated studies per grid cell")
    seed: int = Field(0, ge=0, description="random seed")
    grid: Grid = Field(Grid(), description="the sample sizes to simulate (songs, items per song, participants)")
    judge_scores: ScoreEffect | None = Field(ScoreEffect(), description="the effect and variance components for "
                                                                        "judge-score contrasts")
    human_votes: VoteEffect | None = Field(VoteEffect(), description="the effect and variance components for human "
                                                                     "preference votes")


def load_design(path: Path) -> PowerDesign:
    """The ``power:`` section of an experiment YAML (or a file that is only that section)."""
    raw = load_yaml(path)
    if isinstance(raw, dict) and "power" in raw:
        raw = raw["power"]
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with a `power:` section (alpha, grid, judge_scores, human_votes)")
    return validate(PowerDesign, raw, f"{path} (power)")


def score_power(e: ScoreEffect, songs: int, items_per_song: int, *, alpha: float, simulations: int,
                rng: np.random.Generator) -> float:
    """Share of simulated studies whose song-clustered CV3 t-test of the mean difference rejects at ``alpha``."""
    clusters = np.repeat(np.arange(songs), items_per_song)
    hits = 0
    for _ in range(simulations):
        d = e.effect + rng.normal(0, e.song_sd, songs)[clusters] + rng.normal(0, e.item_sd, len(clusters))
        p = cluster_robust_mean(d, clusters)["p_value"]
        hits += bool(np.isfinite(p) and p <= alpha)
    return hits / simulations


def simulate_votes(e: VoteEffect, songs: int, items_per_song: int, participants: int, votes_per_participant: int,
                   rng: np.random.Generator) -> pd.DataFrame:
    """One simulated study's votes on one contrast: each participant judges distinct items drawn at random (with
    replacement across people), sides balanced as the study app balances them."""
    n_items = songs * items_per_song
    item_effect = rng.normal(0, e.item_sd, n_items)
    rows = []
    for p in range(participants):
        u = rng.normal(0, e.participant_sd)
        items = rng.choice(n_items, size=votes_per_participant, replace=votes_per_participant > n_items)
        win = rng.random(votes_per_participant) < 1 / (1 + np.exp(-(e.effect_log_odds + u + item_effect[items])))
        for k, (i, w) in enumerate(zip(items, win, strict=True)):
            a_left = (p + k) % 2 == 0
            rows.append((f"p{p}", f"i{i}", "x" if a_left else "y", "y" if a_left else "x", "a" if w == a_left else "b"))
    return pd.DataFrame(rows, columns=["participant_id", "item_id", "system_a", "system_b", "choice"])


def vote_power(e: VoteEffect, songs: int, items_per_song: int, participants: int, votes_per_participant: int, *,
               alpha: float, simulations: int, rng: np.random.Generator) -> float:
    """Share of simulated studies whose mixed-model Wald test rejects at ``alpha`` (a fit that fails counts as no)."""
    song_of = {f"i{i}": f"s{i // items_per_song}" for i in range(songs * items_per_song)}
    hits = 0
    for _ in range(simulations):
        v = simulate_votes(e, songs, items_per_song, participants, votes_per_participant, rng)
        p = preference_glmm(v, "x", "y", song_of)["mm_p_value"]
        hits += bool(np.isfinite(p) and p <= alpha)
    return hits / simulations


def power_grid(design: PowerDesign, progress=None) -> pd.DataFrame:
    """Power of each primary analysis over the design grid. ``progress(step)`` is called once per cell."""
    rng = np.random.default_rng(design.seed)
    g, rows = design.grid, []
    if design.judge_scores:
        for s, m in itertools.product(g.songs, g.items_per_song):
            pw = score_power(design.judge_scores, s, m, alpha=design.alpha, simulations=design.simulations, rng=rng)
            rows.append({"analysis": "judge scores (CV3, songs as clusters)", "songs": s, "items_per_song": m,
                         "participants": np.nan, "votes_per_participant": np.nan, "power": pw})
            if progress:
                progress(1)
    if design.human_votes:
        for s, m, p, v in itertools.product(g.songs, g.items_per_song, g.participants, g.votes_per_participant):
            pw = vote_power(design.human_votes, s, m, p, v, alpha=design.alpha, simulations=design.simulations, rng=rng)
            rows.append({"analysis": "human votes (mixed model)", "songs": s, "items_per_song": m, "participants": p,
                         "votes_per_participant": v, "power": pw})
            if progress:
                progress(1)
    out = pd.DataFrame(rows)
    out["mc_se"] = np.sqrt(out.power * (1 - out.power) / design.simulations)
    out["reaches_target"] = out.power >= design.target
    return out


def grid_cells(design: PowerDesign) -> int:
    g = design.grid
    n = len(g.songs) * len(g.items_per_song)
    return (n if design.judge_scores else 0) + (n * len(g.participants) * len(g.votes_per_participant) if design.human_votes else 0)


def smallest_designs(grid: pd.DataFrame) -> pd.DataFrame:
    """Per analysis, the cheapest design that reaches the target: fewest songs, then fewest participants and votes."""
    ok = grid[grid.reaches_target].sort_values(["analysis", "songs", "participants", "votes_per_participant", "items_per_song"])
    return ok.groupby("analysis", sort=False).head(1)


def score_effect_from_pilot(differences: pd.DataFrame) -> ScoreEffect:
    """Effect and variance components of per-item differences (columns ``difference``, ``song_id``) by the one-way
    random-effects ANOVA estimator (between-song variance floored at 0)."""
    d = differences.dropna(subset=["difference"])
    groups = d.groupby("song_id")["difference"]
    k, n = groups.ngroups, len(d)
    if k < 2 or n <= k:
        raise ConfigError("pilot: need at least 2 songs and more items than songs to estimate variance components")
    msw = float(((d.difference - groups.transform("mean")) ** 2).sum() / (n - k))
    msb = float((groups.size() * (groups.mean() - d.difference.mean()) ** 2).sum() / (k - 1))
    n0 = (n - float((groups.size() ** 2).sum()) / n) / (k - 1)
    song_var = max(0.0, (msb - msw) / n0)
    return ScoreEffect(effect=float(d.difference.mean()), song_sd=float(np.sqrt(song_var)), item_sd=float(np.sqrt(msw)))


def vote_effect_from_pilot(votes: pd.DataFrame, system: str, versus: str) -> VoteEffect:
    """Effect and variance components of a contrast's pilot votes, from the mixed model itself."""
    r = preference_glmm(votes, system, versus)
    if not np.isfinite(r["mm_log_odds"]):
        raise ConfigError(f"pilot votes {system} vs {versus}: the mixed model could not be fitted ({r['mm_note']})")
    return VoteEffect(effect_log_odds=r["mm_log_odds"], participant_sd=float(np.sqrt(r["participant_var"])),
                      item_sd=float(np.sqrt(r["item_var"])))


def plot_power(grid: pd.DataFrame, design: PowerDesign, path: Path) -> None:
    """Power against songs (judge scores, one line per items per song) and against participants (human votes, one line
    per number of songs), the target drawn across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [a for a in grid.analysis.unique()]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, name in zip(axes[0], panels, strict=True):
        g = grid[grid.analysis == name]
        if name.startswith("judge"):
            for m, h in g.groupby("items_per_song"):
                ax.errorbar(h.songs, h.power, yerr=1.96 * h.mc_se, marker="o", capsize=2, label=f"{m} items/song")
            ax.set_xlabel("songs")
        else:
            v = g.votes_per_participant.max()
            g = g[(g.votes_per_participant == v) & (g.items_per_song == g.items_per_song.max())]
            for s, h in g.groupby("songs"):
                ax.errorbar(h.participants, h.power, yerr=1.96 * h.mc_se, marker="o", capsize=2, label=f"{s} songs")
            ax.set_xlabel(f"participants ({int(v)} votes each)")
        ax.axhline(design.target, color="grey", ls="--", lw=1)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("power")
        ax.set_title(f"{name}\n{design.simulations} simulations per point, α = {design.alpha}; bars ±1.96 Monte Carlo SE",
                     fontsize=9)
        ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


__all__ = ["PowerDesign", "ScoreEffect", "VoteEffect", "grid_cells", "load_design", "plot_power", "power_grid",
           "score_effect_from_pilot", "smallest_designs", "vote_effect_from_pilot"]
