"""The headline follows the declared plan: position-biased judges are flagged and left out of judge–human
agreement (configurable), and verdict colours follow the adjusted tests."""

import pandas as pd

from evalkit.analysis_plan import AnalysisPlan
from evalkit.report.analysis import Analysis, _flag_position_bias
from evalkit.report.build import _headline


def _analysis(plan: AnalysisPlan) -> Analysis:
    an = Analysis(provenance={}, plan=plan)
    an.tables["judge_diagnostics"] = pd.DataFrame({"judge": ["fair", "first-wins", "reference"],
                                                   "swap_consistency": [0.9, 0.1, float("nan")]})
    an.tables["judge_human_agreement"] = pd.DataFrame({"judge": ["fair", "first-wins", "reference"], "n": [40, 40, 40],
                                                       "agreement_with_tie": [0.7, 0.5, 0.8],
                                                       "agreement_without_tie": [0.8, 0.5, 0.9], "cohen_kappa": [0.5, 0.0, 0.6]})
    _flag_position_bias(an)
    return an


def test_position_biased_judge_is_left_out_of_headline_agreement():
    an = _analysis(AnalysisPlan())
    lines = {h["metric"]: h["text"] for h in _headline(an)}
    assert "judge fair vs humans" in lines and "judge reference vs humans" in lines  # NaN (no order shown) is not bias
    assert "judge first-wins: left out of judge–human agreement" in lines
    assert "0.10 is below the declared floor 0.50" in lines["judge first-wins: left out of judge–human agreement"]
    assert list(an.tables["judge_human_agreement"].position_biased) == [False, True, False]


def test_floor_and_exclusion_are_settings():
    kept = {h["metric"]: h["text"] for h in _headline(_analysis(AnalysisPlan(exclude_position_biased_judges=False)))}
    assert "position-biased" in kept["judge first-wins vs humans"]
    strict = {h["metric"] for h in _headline(_analysis(AnalysisPlan(swap_consistency_floor=0.95)))}
    assert "judge fair: left out of judge–human agreement" in strict


def test_reports_of_val_and_all_splits(small_testset, tmp_path):
    """Issue #19: a --split val run reports its primary contrasts (the systems were read from systems/test only); a
    --split all run says in the headline that it holds train items and uses only its test items."""
    from evalkit.generate import generate
    from evalkit.judging.rubrics import load_judge
    from evalkit.judging.stage import judge_run
    from evalkit.report.build import write_report
    from evalkit.store import Store
    from tests.test_generate import ANALYTIC

    for split in ("val", "all"):
        run = tmp_path / split
        generate(small_testset, ANALYTIC, run, split=split, show_progress=False)
        store = Store(run)
        judge_run(store, load_judge("judges/reference.yaml"), show_progress=False)
        write_report(store, run, bootstrap=20)
        md = (run / "report" / "report.md").read_text()
        assert "no primary contrast" not in md.lower(), split
        pc = pd.read_csv(run / "tables" / "primary_contrasts.csv")
        held = {i.id for i in store.items("val" if split == "val" else "test")}
        assert len(pc) and pc.n_items.max() == len(held), split
        if split == "all":
            head = md.split("## Primary contrasts")[0]
            assert "--split all" in head and f"only its {len(held)} test items" in head
