"""The headline follows the declared plan: position-biased judges are flagged and left out of judge–human
agreement (configurable), and verdict colours follow the adjusted tests."""

import pandas as pd
import pytest

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


def test_axis_contrasts_layout_and_model_and_a_refused_one(small_testset, tmp_path):
    """Issue #19: systems that differ in exactly one setting (the stems+reference layout; the model, as base vs a
    fine-tuned checkpoint) are compared under each shared condition, paired by item, in the primary family; two that
    differ in more than the declared setting are refused naming the settings."""
    import json

    from evalkit.analysis_plan import AnalysisPlan
    from evalkit.errors import ConfigError
    from evalkit.generate import generate
    from evalkit.judging.rubrics import load_judge
    from evalkit.judging.stage import judge_run
    from evalkit.manifest import declare_plan
    from evalkit.report.build import write_report
    from evalkit.store import Store
    from evalkit.systems import parse_systems
    from tests.fake_openai import FakeOpenAI, Reply

    def script(req, n):  # the tuned model and the difference layout answer differently from their counterparts
        prompt, model = req["messages"][-1]["content"], req["model"]
        amount = 1 + (len(prompt) + (7 if model == "tuned" else 0)) % 4
        return Reply(f"Raise the vocals {amount} dB and lower the drums {amount} dB.")

    with FakeOpenAI(script) as srv:
        def llm(name, model="base", layout="side-by-side", conditions=("stems+reference",), **kw):
            with_layout = {"layout": layout} if "stems+reference" in conditions else {}  # a layout needs a reference
            return {"name": name, "kind": "llm", "conditions": list(conditions), **with_layout, **kw,
                    "backend": {"name": "openai_compat", "model": model, "base_url": srv.base_url}}

        systems = parse_systems([llm("sbs"), llm("diff", layout="difference"), llm("base", conditions=["mix", "stems"]),
                                 llm("tuned", model="tuned", conditions=["mix", "stems"]),
                                 llm("diff-hot", layout="difference", temperature=0.7)], "t")
        store = Store(tmp_path / "run")
        plan = AnalysisPlan(contrasts=[], axis_contrasts=[{"system": "diff", "versus": "sbs", "axis": "layout"},
                                                          {"system": "tuned", "versus": "base", "axis": "backend.model"}])
        declare_plan(store, plan)
        generate(small_testset, systems, tmp_path / "run", store=store, show_progress=False)
    judge_run(store, load_judge("judges/reference.yaml"), show_progress=False)
    write_report(store, tmp_path / "run", bootstrap=50)
    pc = pd.read_csv(tmp_path / "run" / "tables" / "primary_contrasts.csv")
    assert set(pc.contrast) == {"diff − sbs under stems+reference (layout)", "tuned − base under mix (backend.model)",
                                "tuned − base under stems (backend.model)"}
    assert pc.p_adjusted.notna().all() and (pc.n_items == len(store.items("test"))).all()
    # paired by item, by hand from the stored judgments: mean over items of score(tuned) − score(base) under mix
    score = {j.advice_id: j.score for j in store.judgments("reference") if j.protocol == "reference"}
    by = {(a.system, a.condition.value, a.item_id): score[a.id] for a in store.advice()}
    items = [i.id for i in store.items("test")]
    expected = sum(by[("tuned", "mix", i)] - by[("base", "mix", i)] for i in items) / len(items)
    assert pc.set_index("contrast").loc["tuned − base under mix (backend.model)", "mean_difference"] == pytest.approx(expected)
    bad = AnalysisPlan(contrasts=[], axis_contrasts=[{"system": "diff-hot", "versus": "sbs", "axis": "layout"}])
    with pytest.raises(ConfigError, match="differ in layout, temperature"):
        bad.resolve_axes([json.loads(s.model_dump_json()) for s in systems])
