"""Bradley–Terry with 1,000 bootstrap rounds over 10,000 votes: evalkit vs fschat, in the same run.

evalkit resamples participants (votes are clustered by person) and fits all rounds at once with a
vectorised MM algorithm; fschat 0.2.36 (fastchat/serve/monitor/elo_analysis.py, `get_bootstrap_result`
with `compute_elo_mle_with_tie`, the function later releases call `compute_mle_elo`) resamples battles and
fits a scikit-learn logistic regression per round. Point estimates are compared on fschat's Elo scale.

    python -m benchmarks.bt_bootstrap [--record] [--fschat-rounds N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from evalkit.stats.ranking import bradley_terry


def make_votes(n_votes: int = 10_000, n_systems: int = 8, n_participants: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    strength = np.linspace(-1, 1, n_systems)
    a = rng.integers(0, n_systems, n_votes)
    b = (a + rng.integers(1, n_systems, n_votes)) % n_systems
    p_a = 1 / (1 + np.exp(-(strength[a] - strength[b])))
    r = rng.random(n_votes)
    choice = np.where(r < 0.1, "tie", np.where(rng.random(n_votes) < p_a, "a", "b"))
    return pd.DataFrame({"participant_id": rng.integers(0, n_participants, n_votes).astype(str), "item_id": "i",
                         "system_a": [f"s{k}" for k in a], "system_b": [f"s{k}" for k in b], "choice": choice})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--fschat-rounds", type=int, default=1000)
    args = ap.parse_args()
    votes = make_votes()
    t = time.perf_counter()
    ours = bradley_terry(votes, bootstrap=args.rounds, seed=0)
    t_ours = time.perf_counter() - t

    from fastchat.serve.monitor.elo_analysis import compute_elo_mle_with_tie, get_bootstrap_result

    battles = pd.DataFrame({"model_a": votes.system_a, "model_b": votes.system_b,
                            "winner": votes.choice.map({"a": "model_a", "b": "model_b", "tie": "tie"})})
    np.random.seed(0)
    t = time.perf_counter()
    boot = get_bootstrap_result(battles, compute_elo_mle_with_tie, num_round=args.fschat_rounds)
    t_fs = (time.perf_counter() - t) * args.rounds / args.fschat_rounds
    elo = boot.median()
    ours_elo = ours.set_index("system").score * 400 / np.log(10)
    rho = spearmanr(ours_elo[elo.index], elo).statistic
    gap = float(np.max(np.abs((ours_elo[elo.index] - ours_elo.mean()) - (elo - elo.mean()))))
    note = "" if args.fschat_rounds == args.rounds else f" (fschat timed on {args.fschat_rounds} rounds, scaled)"
    row = (f"| Bradley–Terry, 10,000 votes, {args.rounds} bootstrap rounds | fschat 0.2.36 {t_fs:.1f} s{note} | "
           f"evalkit {t_ours:.2f} s | {t_fs / t_ours:.0f}× (targets ≤ 2 s, ≥ 10×); ranking ρ = {rho:.3f}, "
           f"max Elo gap {gap:.1f} |")
    print(row)
    if args.record:
        from benchmarks.record import record

        record("bt_bootstrap", row)


if __name__ == "__main__":
    main()
