"""Pairwise preferences: counts, win rates with Wilson intervals, sign tests, multiplicity corrections.

Input everywhere is a DataFrame with columns ``participant_id, item_id, system_a, system_b, choice``
(choice ∈ a, b, tie), the `evalkit stats preferences` CSV format.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.errors import EvalkitInputError
from evalkit.stats.clustered import preference_contrast
from evalkit.stats.intervals import wilson_interval

REQUIRED = ("participant_id", "item_id", "system_a", "system_b", "choice")
MAX_SYSTEMS = 200  # Bradley–Terry, a win matrix and pairwise tests over more arms than this are not a study


def validate_preferences(df: pd.DataFrame, source: str = "preferences") -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise EvalkitInputError(f"{source}: missing column(s) {', '.join(missing)}; expected {','.join(REQUIRED)}")
    df = df.copy()
    df["choice"] = df["choice"].astype(str).str.strip().str.lower()
    bad = sorted(set(df["choice"]) - {"a", "b", "tie"})
    if bad:
        raise EvalkitInputError(f"{source}: unknown choice value(s) {', '.join(bad[:5])}; use a, b or tie")
    if df.empty:
        raise EvalkitInputError(f"{source}: a header and no rows; add one row per vote")
    for c in ("participant_id", "item_id", "system_a", "system_b"):
        blank = df[c].isna() | (df[c].astype(str).str.strip() == "")
        if blank.any():
            raise EvalkitInputError(f"{source}: a row has no {c} (first at data row {int(blank.to_numpy().argmax()) + 1}); "
                                    "fill it in or drop the row")
        df[c] = df[c].astype(str).str.strip()
    n_systems = len(set(df.system_a) | set(df.system_b))
    if n_systems > MAX_SYSTEMS:
        raise EvalkitInputError(f"{source}: {n_systems} systems, over {MAX_SYSTEMS}; compare fewer at a time")
    if (df["system_a"] == df["system_b"]).any():
        raise EvalkitInputError(f"{source}: a row compares a system with itself")
    return df


def _flag(col: pd.Series) -> pd.Series:
    return col.map(lambda v: str(v).strip().lower() in ("true", "1", "yes") if not isinstance(v, bool) else v).astype(bool)


def analysis_rows(df: pd.DataFrame, source: str = "preferences", *, criterion: str = "helpfulness",
                  include_excluded: bool = False, include_simulated: bool = False,
                  include_withdrawn: bool = False) -> pd.DataFrame:
    """The rows an analysis uses: the answers to one question, without excluded or simulated participants
    unless asked. Withdrawn participants stay out even with ``include_excluded``: they took their consent back,
    so only ``include_withdrawn``, asked for by name, brings them in. Files without these columns (older exports,
    judge votes) pass through unchanged."""
    out = df
    if "exclusion_reason" in out.columns and not include_withdrawn:
        out = out[out.exclusion_reason.astype(str) != "withdrew"]
    if "criterion" in out.columns:
        have = sorted(out.criterion.dropna().astype(str).unique())
        out = out[out.criterion.astype(str) == criterion]
        if out.empty:
            raise EvalkitInputError(f"{source}: no answers to the {criterion!r} question (have {', '.join(have) or 'none'}); "
                                    "pass --criterion with one of those")
    if "excluded" in out.columns and not include_excluded:
        out = out[~_flag(out.excluded.fillna(False))]
        if out.empty:
            raise EvalkitInputError(f"{source}: every participant is excluded (see exclusion_reason); "
                                    "pass --include-excluded to analyse them anyway")
    if "simulated" in out.columns and not include_simulated:
        out = out[~_flag(out.simulated.fillna(False))]
        if out.empty:
            raise EvalkitInputError(f"{source}: every answer is from SIMULATED raters; pass --include-simulated to analyse them")
    return validate_preferences(out, source)


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Rows rewritten so system_a sorts before system_b (choice flipped accordingly)."""
    df = df.copy()
    swap = df["system_a"] > df["system_b"]
    df.loc[swap, ["system_a", "system_b"]] = df.loc[swap, ["system_b", "system_a"]].to_numpy()
    df.loc[swap, "choice"] = df.loc[swap, "choice"].map({"a": "b", "b": "a", "tie": "tie"})
    return df


def holm(p: np.ndarray | list[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (R: p.adjust(p, "holm")), by statsmodels, named explicitly
    (its default is Holm–Šidák)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, float)
    return multipletests(p, method="holm")[1] if len(p) else p


def benjamini_hochberg(p: np.ndarray | list[float]) -> np.ndarray:
    """Benjamini & Hochberg (1995) FDR-adjusted p-values (R: p.adjust(p, "BH")), by statsmodels."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, float)
    return multipletests(p, method="fdr_bh")[1] if len(p) else p


def pairwise_tests(df: pd.DataFrame, ties: str = "drop", song_of: dict[str, str] | None = None) -> pd.DataFrame:
    """Per system pair: wins, ties, a's win share with a CI clustered by participant, and tests.

    ``p_value`` is the primary test named in ``primary_test``: the logistic mixed model with crossed participant and
    item intercepts (``mm_*``) when participants voted more than once, else the participant-level sign test
    (``p_sign``, kept beside it as the robustness line). ``p_value_votes`` is the vote-level binomial test, which
    treats votes as independent, named as such. Holm and BH adjust ``p_value``. ``ties``: ``drop`` (win share over
    decisive votes) or ``half`` (a tie counts half to each side); the mixed model always uses decisive votes.
    """
    if ties not in ("drop", "half"):
        raise EvalkitInputError(f"ties={ties!r}: use drop or half (davidson is a Bradley–Terry option)")
    df = canonical(validate_preferences(df))
    rows = []
    for (a, b), g in df.groupby(["system_a", "system_b"], sort=True):
        r = preference_contrast(g if ties == "half" else g[g.choice != "tie"], a, b, song_of)
        r["ties"] = int((g.choice == "tie").sum())
        rows.append(r)
    out = pd.DataFrame(rows, columns=PAIRWISE_COLUMNS)
    out.insert(6, "p_holm", holm(out["p_value"]) if len(out) else [])  # the DESIGN contract's first seven columns
    out["p_bh"] = benjamini_hochberg(out["p_value"]) if len(out) else []
    return out


PAIRWISE_COLUMNS = ["system_a", "system_b", "wins_a", "wins_b", "ties", "p_value", "votes", "n_participants", "n_items",
                    "win_rate_a", "ci_low", "ci_high", "primary_test", "p_sign", "p_value_votes", "mm_log_odds", "mm_se",
                    "mm_ci_low", "mm_ci_high", "mm_p_win", "mm_p_win_ci_low", "mm_p_win_ci_high", "mm_p_value",
                    "participant_var", "item_var", "song_var", "mm_note"]


def win_rates(df: pd.DataFrame) -> pd.DataFrame:
    """Each system's overall win rate against all others (ties half), with Wilson CIs."""
    df = validate_preferences(df)
    rows = []
    for s in sorted(set(df.system_a) | set(df.system_b)):
        as_a, as_b = df[df.system_a == s], df[df.system_b == s]
        wins = (as_a.choice == "a").sum() + (as_b.choice == "b").sum()
        ties = (as_a.choice == "tie").sum() + (as_b.choice == "tie").sum()
        n = len(as_a) + len(as_b)
        lo, hi = wilson_interval(wins + 0.5 * ties, n)
        rows.append({"system": s, "n": n, "wins": int(wins), "ties": int(ties), "losses": int(n - wins - ties),
                     "win_rate": (wins + 0.5 * ties) / n, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def win_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """Share of decisive-or-tied votes row beat column (ties half): the figure's matrix."""
    df = validate_preferences(df)
    systems = sorted(set(df.system_a) | set(df.system_b))
    m = pd.DataFrame(np.nan, index=systems, columns=systems)
    for (a, b), g in canonical(df).groupby(["system_a", "system_b"]):
        r = ((g.choice == "a").sum() + 0.5 * (g.choice == "tie").sum()) / len(g)
        m.loc[a, b], m.loc[b, a] = r, 1 - r
    return m


__all__ = ["benjamini_hochberg", "canonical", "holm", "pairwise_tests", "validate_preferences",
           "wilson_interval", "win_matrix", "win_rates"]
