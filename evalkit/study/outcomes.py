"""What a study produced: each participant's status and exclusion, the participant flow table, the
coverage of every system pair, and the answers export that `evalkit stats` and the report read.

One rule decides exclusion, here, and every analysis uses its flag: a participant is included when
they completed, did not withdraw, and answered every gold trial correctly on the "follow" question
(the gold contradiction is as specific as the truth, so gold says nothing about specificity).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from evalkit.study.design import planned_pairs
from evalkit.study.questions import PRIMARY
from evalkit.study.study_store import StudyStore

FLOW_STEPS = ("opened the link", "consented", "passed screening", "completed", "passed gold trials", "included")
EXPORT_COLUMNS = ["participant_id", "item_id", "system_a", "system_b", "choice", "criterion", "confidence", "comment", "trial_id",
                  "gold", "started_at", "answered_at", "duration_s", "plays", "listened_s", "simulated", "gold_passed",
                  "excluded", "exclusion_reason"]


def is_answers_export(path: Path) -> bool:
    """Whether ``path`` is an earlier `study export` (its header is ours): only then may a new export replace it."""
    from evalkit.csv_io import BANNER

    try:
        if path.suffix.lower() == ".json":
            import json

            rows = json.loads(path.read_text(encoding="utf-8"))
            return isinstance(rows, list) and (not rows or (isinstance(rows[0], dict) and set(rows[0]) == set(EXPORT_COLUMNS)))
        with open(path, encoding="utf-8") as f:
            first = f.readline()
            header = f.readline() if first.startswith(BANNER) else first
        return header.strip() == ",".join(EXPORT_COLUMNS)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def participant_status(study: StudyStore) -> pd.DataFrame:
    """One row per participant: flow flags, gold score, and the exclusion decision with its reason."""
    parts = study.participants_frame()
    answers = study.answers_frame()
    gold = {t.trial_id: t.gold_answer for t in study.all_trials() if t.gold}
    follow = answers[(answers.criterion == PRIMARY) & answers.trial_id.isin(gold)]
    correct = follow.assign(ok=follow.choice == follow.trial_id.map(gold)).groupby("participant_id").ok.agg(["size", "sum"])
    parts["gold_total"] = parts.participant_id.map(correct["size"]).fillna(0).astype(int)
    parts["gold_correct"] = parts.participant_id.map(correct["sum"]).fillna(0).astype(int)
    parts["gold_passed"] = (parts.gold_correct == parts.gold_total).where(parts.gold_total > 0)
    headphones = study.config.headphone_check
    parts["consented"] = parts.consented_at.notna()
    parts["screened_in"] = parts.consented & (parts.headphone_passed.eq(True) if headphones else True)
    parts["completed"] = parts.completed_at.notna()
    reasons = []
    for p in parts.itertuples():
        reason = ("withdrew" if pd.notna(p.withdrawn_at) else "did not consent" if not p.consented
                  else "failed headphone screening" if not p.screened_in else "incomplete" if not p.completed
                  else "failed gold trials" if p.gold_passed == 0 else "")  # NaN (no gold trials) is not a failure
        reasons.append(reason)
    parts["exclusion_reason"] = reasons
    parts["excluded"] = parts.exclusion_reason != ""
    return parts


def flow_table(study: StudyStore, status: pd.DataFrame | None = None) -> pd.DataFrame:
    """Participants at each step (opened → … → included), real and simulated counted apart."""
    s = participant_status(study) if status is None else status
    steps = [pd.Series(True, index=s.index), s.consented, s.screened_in, s.screened_in & s.completed,
             s.screened_in & s.completed & s.gold_passed.ne(False), ~s.excluded]
    sim = s.simulated.astype(bool)
    return pd.DataFrame({"step": FLOW_STEPS, "participants": [int((m & ~sim).sum()) for m in steps],
                         "simulated": [int((m & sim).sum()) for m in steps]})


def coverage_table(study: StudyStore, status: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per system pair: planned ratings, ratings from included participants, and how many of them judged it."""
    s = participant_status(study) if status is None else status
    included = set(s.participant_id[~s.excluded])
    answers = study.answers_frame()
    answers = answers[(answers.criterion == PRIMARY) & answers.participant_id.isin(included)]
    planned: dict[tuple[str, str], int] = {}
    for t in study.all_trials():
        if not t.gold:
            pair = tuple(sorted((t.left["system"], t.right["system"])))
            planned[pair] = planned.get(pair, 0) + 1
    pair_of = pd.Series([tuple(sorted(ab)) for ab in zip(answers.system_a, answers.system_b, strict=True)], index=answers.index,
                        dtype=object)
    rows = []
    for pair in planned_pairs(study.config):
        got = answers[pair_of == pair]
        rows.append({"system_a": pair[0], "system_b": pair[1], "planned_ratings": planned.get(pair, 0), "ratings": len(got),
                     "participants": got.participant_id.nunique(), "share_of_included": got.participant_id.nunique() / max(1, len(included))})
    return pd.DataFrame(rows)


def _play_stats(study: StudyStore) -> pd.DataFrame:
    """Plays and seconds heard per answered trial; the seconds are the server's own count (seeks and forged events
    do not count: evalkit/study/listening.py), not the browser's claim."""
    from evalkit.study.listening import heard_seconds

    ev = study.events_frame()
    ev = ev[ev.trial_id.notna() & ev.kind.isin(["shown", "play", "pause", "ended", "listened"])]
    if ev.empty:
        return pd.DataFrame(columns=["participant_id", "trial_id", "plays", "listened_s"])
    rows = []
    for (pid, trial), g in ev.groupby(["participant_id", "trial_id"]):
        events = [{**json.loads(d or "{}"), "kind": k, "at": a} for k, d, a in zip(g["kind"], g["detail"], g["at"], strict=True)]
        shown = min((e["at"] for e in events if e["kind"] == "shown"), default=None)
        rows.append({"participant_id": pid, "trial_id": trial, "plays": int((g.kind == "play").sum()),
                     "listened_s": round(sum(heard_seconds(events, shown).values()), 2)})
    return pd.DataFrame(rows)


def export_answers(study: StudyStore, include_gold: bool = False, status: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every answer (one row per trial and criterion) with timings, plays and the exclusion flags."""
    answers = study.answers_frame()
    if answers.empty:
        return pd.DataFrame(columns=EXPORT_COLUMNS)
    status = (participant_status(study) if status is None else status).set_index("participant_id")
    gold = {t.trial_id for t in study.all_trials() if t.gold}
    df = answers.assign(gold=answers.trial_id.isin(gold))
    if not include_gold:
        df = df[~df.gold]
    df = df.merge(_play_stats(study), on=["participant_id", "trial_id"], how="left").fillna({"plays": 0, "listened_s": 0.0})
    start, end = pd.to_datetime(df.started_at, errors="coerce", utc=True), pd.to_datetime(df.answered_at, utc=True)
    df["duration_s"] = (end - start).dt.total_seconds()
    for col in ("gold_passed", "excluded", "exclusion_reason"):
        df[col] = df.participant_id.map(status[col])
    return df[EXPORT_COLUMNS].reset_index(drop=True)


__all__ = ["EXPORT_COLUMNS", "FLOW_STEPS", "coverage_table", "export_answers", "flow_table", "participant_status"]
