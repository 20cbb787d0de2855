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
