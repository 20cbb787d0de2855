"""`evalkit run` on a small config (resume included) and `evalkit demo` exactly as the README runs it."""

import json

import pandas as pd
import pytest
import yaml

from evalkit.store import Store
from tests.conftest import ROOT, run_cli


def _config(tmp_path, **over):
    cfg = {"name": "small", "testset": {"synth": {"songs": 4, "seed": 3, "seconds": 3, "sample_rate": 16000}},
           "systems": str(ROOT / "experiments" / "systems.yaml"), "judges": [{"preset": "judges/reference.yaml"}],
           "study": {"ratings": 2, "trials_per_participant": 6, "simulate": {"participants": 8, "seed": 2}},
           "report": {"bootstrap": 50}}
    cfg.update(over)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_run_writes_the_report_and_resumes(tmp_path):
    out = run_cli("run", _config(tmp_path), "--out", tmp_path / "out", "--quiet", check=True)
    assert "report:" in out.stdout
    for rel in ("report/report.html", "report/report.md", "tables/reference_scores.csv", "tables/human_bradley_terry.csv",
                "tables/provenance.json", "figures/scores_balance_improvement_db.png", "figures/win_matrix.pdf"):
        assert (tmp_path / "out" / rel).exists(), rel
    html = (tmp_path / "out" / "report" / "report.html").read_text()
    assert "SIMULATED" in html and "stems+reference" in html
    bt = pd.read_csv(tmp_path / "out" / "tables" / "human_bradley_terry.csv")
    assert bt.simulated_raters.all() and bt.testset_checksum.notna().all()
    n_before = Store(tmp_path / "out").count("judgments")
    again = run_cli("run", _config(tmp_path), "--out", tmp_path / "out", check=True)
    assert "0 new" in again.stdout and "0 scored" in again.stdout
    assert Store(tmp_path / "out").count("judgments") == n_before


def test_one_llm_under_three_conditions_end_to_end(tmp_path):
    """An LLM advisor (over HTTP) under mix, stems and stems+reference with reference: pool: its prompts never
    hold the item's own balanced song, and the headline compares that system with itself, song-clustered, Holm."""
    from tests.fake_openai import FakeOpenAI, Reply

    def advise(req, n):
        prompt = req["messages"][-1]["content"]
        stem = "vocals" if "Reference track" in prompt else ("bass" if "| stem |" in prompt else "drums")
        return Reply(f"Raise the {stem} by {1 + n % 4} dB.")

    with FakeOpenAI(advise) as srv:
        systems = [{"name": "api-llm", "kind": "llm", "conditions": ["mix", "stems", "stems+reference"], "reference": "pool",
                    "backend": {"name": "openai_compat", "model": "fake", "base_url": srv.base_url, "max_attempts": 1}},
                   {"name": "oracle", "kind": "oracle", "condition": "stems+own-reference"}]
        six = {"synth": {"songs": 6, "seed": 3, "seconds": 3, "sample_rate": 16000}}  # 2 test songs: clusters to count
        run_cli("run", _config(tmp_path, systems=systems, testset=six, study={"enabled": False}), "--out", tmp_path / "out", "--quiet",
                check=True, env={"OPENAI_API_KEY": "test"})
        prompts = [r["messages"][-1]["content"] for r in srv.requests]
    store = Store(tmp_path / "out")
    assert sum("Reference track" in p for p in prompts) == len(store.items("test"))
    assert not any("same song" in p for p in prompts)
    refs = {a.item_id: a.reference_song_id for a in store.advice() if a.condition == "stems+reference"}
    song_of = {i.id: i.song_id for i in store.items()}
    assert refs and all(r and r != song_of[i] for i, r in refs.items())
    primary = pd.read_csv(tmp_path / "out" / "tables" / "primary_contrasts.csv")
    assert list(primary.contrast) == ["api-llm: stems − mix", "api-llm: stems+reference − mix"]  # bounds never enter
    assert (primary.n_songs >= 2).all() and primary.p_adjusted.notna().all()
    # an interval holds its estimate, or (fewer than 5 songs) there is none and the table says why
    drawn = primary.ci_low.notna()
    assert (primary[drawn].ci_low <= primary[drawn].mean_difference).all() and (primary[drawn].mean_difference <= primary[drawn].ci_high).all()
    assert (primary[~drawn].n_songs < 5).all() and primary[~drawn].ci_note.str.startswith("too few songs").all()
    md = (tmp_path / "out" / "report" / "report.md").read_text()
    assert "api-llm: stems − mix" in md and "holm-adjusted" in md and "songs as clusters" in md and "items from" in md
    from evalkit.manifest import read_manifest

    plan = read_manifest(store).plan
    assert plan.declared_at and plan.advice_existed is False  # declared before any advice


def test_report_command_and_provenance(tmp_path):
    run_cli("run", _config(tmp_path, study={"enabled": False}), "--out", tmp_path / "out", "--quiet", check=True)
    run_cli("report", tmp_path / "out", "--out", tmp_path / "rep", "--bootstrap", "20", check=True)
    prov = json.loads((tmp_path / "rep" / "tables" / "provenance.json").read_text())
    assert prov["testset_checksum"] and prov["hash"]
    tex = (tmp_path / "rep" / "tables" / "reference_scores.tex").read_text()
    assert "\\toprule" in tex and prov["hash"] in tex


def test_config_typos_are_clear_errors(tmp_path):
    bad = _config(tmp_path, judgez=[])
    out = run_cli("run", bad, "--out", tmp_path / "out")
    assert out.returncode == 2 and "judgez" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_demo_as_the_readme_runs_it(tmp_path):
    out = run_cli("demo", "--out", tmp_path / "demo", check=True, timeout=900)
    assert "report:" in out.stdout
    d = tmp_path / "demo"
    assert (d / "report" / "report.html").stat().st_size > 50_000  # figures embedded
    assert list((d / "tables").glob("*.csv")) and list((d / "figures").glob("*.png"))
    diag = pd.read_csv(d / "tables" / "judge_diagnostics.csv").set_index("judge")
    assert "reference" in diag.index
    # SmolLM2 advises under all three conditions (same items) and judges a subset of pairs in both orders
    import yaml as _yaml

    cfg = _yaml.safe_load((ROOT / "experiments" / "default.yaml").read_text())
    max_pairs = next(j["max_pairs"] for j in cfg["judges"] if "smollm2" in j["preset"])
    counts = pd.read_csv(d / "tables" / "advice_counts.csv")
    smol = counts[counts.system == "smollm2"].set_index("condition").n
    assert set(smol.index) == {"mix", "stems", "stems+reference"} and (smol >= 6).all() and smol.nunique() == 1
    assert diag.loc["smollm2-local", "judgments"] == 2 * max_pairs
    primary = pd.read_csv(d / "tables" / "primary_contrasts.csv")
    assert set(primary.system) == {"analytic", "smollm2"} and len(primary) == 4
    md = (d / "report" / "report.md").read_text()
    assert "smollm2: stems+reference − mix" in md and "oracle" not in set(primary.system)
