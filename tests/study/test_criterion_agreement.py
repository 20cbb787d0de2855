"""Judges against the human answers of the matching study question (specificity vs helpfulness)."""

import pandas as pd
import pytest

from evalkit.records import Judgment
from evalkit.report.analysis import advice_frame, criterion_agreement
from evalkit.store import Store


@pytest.fixture
def scored_run(analytic_run, tmp_path):
    """A copy of the analytic run where an absolute 'specificity' judge gives analytic/stems 5 and every other arm 1."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(analytic_run, run)
    store = Store(run)
    judgments = [Judgment(advice_id=a.id, judge="toy", rubric="specificity", rubric_hash="h", protocol="absolute",
                          score=5.0 if a.arm == "analytic/stems" else 1.0) for a in store.advice()]
    store.put_judgments(judgments)
    return store


def test_rubric_scores_become_votes_on_the_pairs_people_judged(scored_run):
    advice = advice_frame(scored_run)
    item = sorted(advice.item_id)[0]
    # Hand-made answers to the specificity question on one item: two where analytic/stems is in the pair and
    # the person picked it (the judge agrees: 5 > 1), one between two arms the judge scored equally (judge: tie,
    # person: a), and one the other way round (person picked generic over analytic/stems: disagree).
    spec = pd.DataFrame([
        ("p1", item, "analytic/stems", "generic/mix", "a"),
        ("p2", item, "analytic/mix", "analytic/stems", "b"),
        ("p3", item, "analytic/mix", "generic/mix", "a"),
        ("p4", item, "generic/mix", "analytic/stems", "a"),
    ], columns=["participant_id", "item_id", "system_a", "system_b", "choice"])
    table = criterion_agreement(scored_run, advice, {}, {"specificity": spec, "helpfulness": spec.assign(choice="tie")})
    row = table.set_index(["judge", "rubric"]).loc[("toy", "specificity")]
    assert row.study_question == "specificity" and row.n == 4
    assert row.agreement_with_tie == pytest.approx(2 / 4)  # p1 and p2 agree; p3 (judge tie) and p4 do not
    assert row.n_without_tie == 3 and row.agreement_without_tie == pytest.approx(2 / 3)


def test_pairwise_verdicts_are_compared_with_the_follow_question_only(scored_run):
    advice = advice_frame(scored_run)
    item = sorted(advice.item_id)[0]
    votes = pd.DataFrame([("judge", item, "analytic/mix", "generic/mix", "a")],
                         columns=["participant_id", "item_id", "system_a", "system_b", "choice"])
    human = pd.DataFrame([("p1", item, "analytic/mix", "generic/mix", "a")],
                         columns=["participant_id", "item_id", "system_a", "system_b", "choice"])
    table = criterion_agreement(scored_run, advice, {"pw": votes}, {"helpfulness": human, "specificity": human.assign(choice="b")})
    pw = table[table.judge == "pw"].iloc[0]
    assert pw.study_question == "helpfulness" and pw.agreement_with_tie == 1.0
