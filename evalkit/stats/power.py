"""How many participants a preference study needs.

Exact two-sided binomial test of H0: p = 0.5 against a true preference rate ``p``. Several votes per
participant are correlated; the design effect 1 + (m − 1)·ICC (Kish 1965) inflates the number of
independent votes needed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import binom

from evalkit.errors import EvalkitInputError


def binomial_power(n: int, p: float, alpha: float = 0.05) -> float:
    """Power of the exact two-sided binomial test at size ``alpha`` with n votes and true rate p."""
    k = np.arange(n + 1)
    null = binom.pmf(k, n, 0.5)
    # two-sided p-value of each outcome: the null mass of outcomes no more likely than it (R's binom.test rule,
    # with its relative tolerance 1 + 1e-7), so k and n − k, equally likely under H0, are rejected together and the
    # power at p equals the power at 1 − p
    order = np.sort(null)
    pvalue = np.cumsum(order)[np.searchsorted(order, null * (1 + 1e-7), side="right") - 1]
    reject = pvalue <= alpha
    return float(binom.pmf(k, n, p)[reject].sum())


def votes_needed(p: float, power: float = 0.8, alpha: float = 0.05, max_n: int = 100000) -> int:
    """Smallest n whose exact test reaches ``power`` (power is not monotone in n for exact tests;
    this returns the first n that reaches it and stays there for the next 10)."""
    if not 0 < p < 1 or p == 0.5:
        raise EvalkitInputError("preference rate must be in (0, 1) and not 0.5")
    from scipy.stats import norm

    # normal approximation first: a rate too close to 0.5 is refused at once instead of searched for
    approx = ((norm.ppf(1 - alpha / 2) * 0.5 + norm.ppf(power) * np.sqrt(p * (1 - p))) / (p - 0.5)) ** 2
    if approx > max_n:
        raise EvalkitInputError(f"a preference rate of {p} needs about {approx:,.0f} votes: too close to 0.5 to detect with a "
                                "study of any practical size; plan for the smallest effect that matters (e.g. --rate 0.6)")
    n = 5
    while n < max_n:
        if all(binomial_power(m, p, alpha) >= power for m in range(n, n + 10)):
            return n
        n += 1 if n < 200 else max(1, n // 100)
    raise EvalkitInputError(f"a preference rate of {p} needs more than {max_n} votes: too close to 0.5 to detect with a study "
                            "of any practical size; plan for the smallest effect that matters (e.g. --rate 0.6)")


def participants_needed(p: float, votes_per_participant: int, icc: float = 0.0, power: float = 0.8,
                        alpha: float = 0.05) -> pd.DataFrame:
    n = votes_needed(p, power, alpha)
    deff = 1 + (votes_per_participant - 1) * icc
    total = math.ceil(n * deff)
    return pd.DataFrame([{"preference_rate": p, "power": power, "alpha": alpha, "votes_independent": n,
                          "votes_per_participant": votes_per_participant, "icc": icc, "design_effect": deff,
                          "votes_total": total, "participants": math.ceil(total / votes_per_participant)}])


def pilot_icc(wins: pd.DataFrame) -> tuple[float, float, int]:
    """(preference rate, ICC of votes within participants, votes per participant) from pilot data.

    ``wins``: columns participant_id and win (1 if the system of interest won). ICC by the ANOVA
    estimator for binary outcomes (Fleiss 1981), floored at 0.
    """
    g = wins.groupby("participant_id")["win"]
    k = g.size()
    m0 = (k.sum() - (k**2).sum() / k.sum()) / (len(k) - 1) if len(k) > 1 else 1.0
    p = wins["win"].mean()
    msb = (k * (g.mean() - p) ** 2).sum() / max(len(k) - 1, 1)
    msw = (k * g.mean() * (1 - g.mean())).sum() / max(k.sum() - len(k), 1)
    icc = (msb - msw) / (msb + (m0 - 1) * msw) if (msb + (m0 - 1) * msw) > 0 else 0.0
    return float(p), max(0.0, float(icc)), int(round(k.mean()))


def power_from_pilot(wins: pd.DataFrame, power: float = 0.8, alpha: float = 0.05) -> pd.DataFrame:
    p, icc, m = pilot_icc(wins)
    return participants_needed(p, m, icc, power, alpha)


__all__ = ["binomial_power", "participants_needed", "pilot_icc", "power_from_pilot", "votes_needed"]
