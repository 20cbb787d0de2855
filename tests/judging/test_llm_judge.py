"""LLM judging through the local test server with scripted verdicts, malformed ones included."""

import json
import re

import pytest
import yaml

from evalkit.errors import EvalkitInputError
from evalkit.generate import generate
from evalkit.judging.diagnostics import judge_diagnostics
from evalkit.judging.llm_judge import JudgeParseError, parse_judge_output
from evalkit.judging.rubrics import load_judge, load_rubric
from evalkit.judging.stage import judge_run
from evalkit.store import Store
from tests.conftest import ROOT, run_cli
from tests.fake_openai import FakeOpenAI, Reply
from tests.test_generate import ANALYTIC

PAIRWISE = load_rubric("pairwise")
SPEC = load_rubric("specificity")


@pytest.mark.parametrize("text,error", [
    ("", "empty"), ("I prefer A.", "no JSON"), ('{"verdict": "A"', "no JSON"), ('{"rationale": "x"}', "'verdict' is a required property"),
    ('{"rationale": "x", "verdict": "C"}', "not one of"), ('[1, 2]', "no JSON"),
])
def test_strict_parsing_refuses(text, error):
    with pytest.raises(JudgeParseError, match=error):
        parse_judge_output(text, PAIRWISE)


def test_strict_parsing_accepts_fenced_json_and_checks_ranges():
    assert parse_judge_output('```json\n{"rationale": "ok", "verdict": "tie"}\n```', PAIRWISE)["verdict"] == "tie"
    with pytest.raises(JudgeParseError, match="greater than the maximum of 5"):
        parse_judge_output('{"rationale": "r", "score": 7}', SPEC)
    with pytest.raises(JudgeParseError, match="not of type 'integer'"):
        parse_judge_output('{"rationale": "r", "score": 3.5}', SPEC)


def test_rubric_versions_and_unknown_fields(tmp_path):
    assert SPEC.hash != load_rubric("helpfulness").hash
    bad = tmp_path / "r.yaml"
    bad.write_text(yaml.safe_dump({**json.loads(SPEC.model_dump_json()), "colour": "red"}))
    from evalkit.errors import ConfigError

    with pytest.raises(ConfigError, match="colour"):
        load_rubric(bad)


def _preset(tmp_path, url, **kw):
    doc = {"name": "api-judge", "backend": {"name": "openai_compat", "model": "fake", "base_url": url, "max_attempts": 1,
                                            "max_concurrency": 4},
           "rubrics": ["pairwise", "specificity"], "protocol": "both", "both_orders": True, "samples": 1, "parse_retries": 1, **kw}
    path = tmp_path / "judge.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _advice_text(prompt: str, label: str) -> str:
    return re.search(rf'{label}:\n"""(.*?)"""', prompt, re.S).group(1)


def test_pairwise_both_orders_unscored_kept_and_counted(small_testset, tmp_path):
    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)

    def script(req, n):
        prompt = req["messages"][0]["content"]
        if "Advice A:" in prompt:
            a, b = _advice_text(prompt, "Advice A"), _advice_text(prompt, "Advice B")
            if "by ear" in a + b and "Lower" in a + b:
                return Reply("I cannot decide, both are fine")  # malformed, every time
            # position-consistent: prefers the longer advice; equal lengths are a tie in either order
            verdict = "tie" if len(a) == len(b) else ("A" if len(a) > len(b) else "B")
            return Reply(json.dumps({"rationale": "more specific", "verdict": verdict}))
        return Reply(json.dumps({"rationale": "ok", "score": 4}) if n % 7 else "score: four")

    with FakeOpenAI(script) as srv:
        preset = load_judge(_preset(tmp_path, srv.base_url))
        store = Store(tmp_path / "run")
        counts = judge_run(store, preset, pairs="all")
        n_calls = len(srv.requests)
    js = store.judgments("api-judge")
    pair = [j for j in js if j.protocol == "pairwise"]
    unscored = [j for j in js if not j.parsed]
    assert counts["unscored"] == len(unscored) > 0 and counts["scored"] == len(js) - len(unscored)
    assert all(j.raw_output and j.score is None and j.verdict is None and j.error.startswith("unparsed") for j in unscored)
    assert {j.order for j in pair} == {"ab", "ba"}
    # every call logged, parse retries included (more calls than judgments)
    assert len(store.calls_frame()) == n_calls > len(js)
    diag = judge_diagnostics(store).set_index("judge").loc["api-judge"]
    assert diag.unscored == len(unscored) and diag.parse_failure_rate == pytest.approx(len(unscored) / len(js))
    assert diag.swap_consistency == pytest.approx(1.0)  # the scripted judge is position-consistent
    # resumable: a second pass sends nothing
    with FakeOpenAI(script) as srv:
        preset = load_judge(_preset(tmp_path, srv.base_url))
        again = judge_run(store, preset, pairs="all")
        assert len(srv.requests) == 0 and again["scored"] == 0


def test_failed_calls_are_not_unscored_and_are_retried(small_testset, tmp_path):
    """A judge run against an endpoint that fails every other call, then rerun against a healthy one: the
    failures are counted apart from parse failures, and the rerun leaves every judgment scored."""
    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    verdict = '{"rationale": "x", "verdict": "A"}'
    with FakeOpenAI(lambda r, n: Reply(status=500) if n % 2 else Reply(verdict)) as srv:
        preset = load_judge(_preset(tmp_path, srv.base_url, rubrics=["pairwise"], protocol="pairwise", max_pairs=6))
        first = judge_run(store, preset, show_progress=False)
    assert first["failed_calls"] > 0 and first["unscored"] == 0
    d = judge_diagnostics(store).set_index("judge").loc["api-judge"]
    assert d.failed_calls == first["failed_calls"] and d.parse_failure_rate == 0.0 and d.api_failure_rate > 0
    with FakeOpenAI(lambda r, n: Reply(verdict)) as srv:
        preset = load_judge(_preset(tmp_path, srv.base_url, rubrics=["pairwise"], protocol="pairwise", max_pairs=6))
        second = judge_run(store, preset, show_progress=False)
        assert len(srv.requests) == first["failed_calls"]  # only the failed calls are sent again
    assert second["scored"] == first["failed_calls"] and second["failed_calls"] == 0
    js = store.judgments("api-judge")
    assert len(js) == 12 and all(j.parsed and j.failure is None for j in js)
    d = judge_diagnostics(store).set_index("judge").loc["api-judge"]
    assert d.failed_calls == 0 and d.unscored == 0


def test_position_biased_judge_shows_in_diagnostics(small_testset, tmp_path):
    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    with FakeOpenAI(lambda r, n: Reply('{"rationale": "first is best", "verdict": "A"}')) as srv:
        judge_run(Store(tmp_path / "run"), load_judge(_preset(tmp_path, srv.base_url, rubrics=["pairwise"], protocol="pairwise")),
                  pairs="vs:oracle")
    d = judge_diagnostics(Store(tmp_path / "run")).set_index("judge").loc["api-judge"]
    assert d.first_position_rate == 1.0 and d.swap_consistency == 0.0


def test_judge_cli_prints_diagnostics(small_testset, tmp_path):
    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    with FakeOpenAI(lambda r, n: Reply('{"rationale": "x", "verdict": "tie"}' if "Advice A" in r["messages"][0]["content"]
                                       else '{"rationale": "x", "score": 3}')) as srv:
        out = run_cli("judge", "--run", tmp_path / "run", "--judge", _preset(tmp_path, srv.base_url), "--max-pairs", "3", "--quiet")
    assert out.returncode == 0, out.stderr
    assert "judge diagnostics" in out.stdout and "parse_failure_rate" in out.stdout
    out = run_cli("judge", "--run", tmp_path / "run", "--judge", "judges/reference.yaml", "--quiet", check=True)
    assert "reference:" in out.stdout


@pytest.mark.slow
def test_smollm2_judge_constrained_and_unconstrained(small_testset, tmp_path):
    pytest.importorskip("gguf")
    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    for name in ("smollm2-local", "smollm2-unconstrained"):
        preset = load_judge(f"judges/{name}.yaml")
        preset.max_pairs = 2
        preset.parse_retries = 0
        counts = judge_run(store, preset, show_progress=False)
        assert counts["scored"] + counts["unscored"] == 4  # 2 pairs × 2 orders: each ends scored or unscored
    diag = judge_diagnostics(store).set_index("judge")
    assert diag.loc["smollm2-local", "parse_failure_rate"] == 0.0  # schema-guided decoding always parses
    unconstrained = [j for j in store.judgments("smollm2-unconstrained")]
    assert all(j.parsed or (j.raw_output and j.verdict is None) for j in unconstrained)


def test_a_changed_judge_is_refused_then_forced_and_a_changed_rubric_counts(small_testset, tmp_path):
    """Judgments made under another version of a judge are never mixed with new ones: a changed model (or a
    changed rubric text) is refused with the fix; --force removes the old judgments and judges again."""
    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    run = tmp_path / "run"
    verdict = '{"rationale": "x", "verdict": "A"}'
    with FakeOpenAI(lambda r, n: Reply(verdict)) as srv:
        judge = _preset(tmp_path, srv.base_url, rubrics=["pairwise"], protocol="pairwise", max_pairs=2)
        run_cli("judge", "--run", run, "--judge", judge, "--quiet", check=True)
        same = run_cli("judge", "--run", run, "--judge", judge, "--quiet", check=True)  # unchanged: resumes
        assert "0 scored" in same.stdout and "4 already there" in same.stdout
        doc = yaml.safe_load(judge.read_text())
        doc["backend"]["model"] = "fake-v2"
        doc["backend"]["base_url"] = srv.base_url.replace("127.0.0.1", "localhost")  # where it lives is not what it is
        judge.write_text(yaml.safe_dump(doc))
        refused = run_cli("judge", "--run", run, "--judge", judge, "--quiet")
        assert refused.returncode == 2 and "judge 'api-judge'" in refused.stderr and "--force" in refused.stderr
        assert len(Store(run).judgments("api-judge")) == 4  # nothing lost
        forced = run_cli("judge", "--run", run, "--judge", judge, "--quiet", "--force", check=True)
        assert "4 scored" in forced.stdout
    js = Store(run).judgments("api-judge")
    assert len(js) == 4 and {j.judge_config_hash for j in js} == {load_judge(judge).config_hash}
    # a rubric edited in place is a changed judge too
    rubric = yaml.safe_load((ROOT / "rubrics" / "pairwise.yaml").read_text())
    rubric["name"] = "pairwise"
    rubric["prompt"] = rubric["prompt"] + "\nAnswer carefully."
    (tmp_path / "pairwise.yaml").write_text(yaml.safe_dump(rubric))
    doc["rubrics"] = [str(tmp_path / "pairwise.yaml")]
    judge.write_text(yaml.safe_dump(doc))
    with pytest.raises(EvalkitInputError, match="changed since"):
        judge_run(Store(run), load_judge(judge), show_progress=False)


def _user_text(request) -> str:
    content = request["messages"][0]["content"]
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content if p.get("type") == "text")


def test_grounded_judges_see_what_the_advisors_saw_and_only_reference_guided_ones_the_truth(small_testset, tmp_path):
    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    verdict = '{"rationale": "x", "verdict": "A"}'
    with FakeOpenAI(lambda r, n: Reply(verdict)) as srv:
        preset = load_judge(_preset(tmp_path, srv.base_url, name="grounded", rubrics=["pairwise"], protocol="pairwise", grounding="features"))
        judge_run(store, preset, pairs="vs:analytic", show_progress=False)
        texts = [_user_text(r) for r in srv.requests]
    assert texts and all("loudness (LUFS)" in t and "| vocals |" in t and "| mix |" in t for t in texts)
    assert any('Reference track "' in t for t in texts)  # a stems+reference advice: its reference track's table too
    assert not any("true correction" in t for t in texts)  # grounding never shows the answer
    with FakeOpenAI(lambda r, n: Reply(verdict)) as srv:
        guided = load_judge(_preset(tmp_path, srv.base_url, name="guided", rubrics=["pairwise"], protocol="pairwise",
                                    reference_guided=True, max_pairs=1))
        judge_run(store, guided, show_progress=False)
        assert all("The true correction, per stem in dB, is:" in _user_text(r) for r in srv.requests)
    with FakeOpenAI(lambda r, n: Reply(verdict)) as srv:
        heard = load_judge(_preset(tmp_path, srv.base_url, name="heard", rubrics=["pairwise"], protocol="pairwise",
                                   grounding="audio", max_pairs=1))
        judge_run(store, heard, show_progress=False)
        parts = [p for r in srv.requests for p in r["messages"][0]["content"] if isinstance(p, dict)]
        assert any(p.get("type") == "input_audio" for p in parts)  # the problem mix as a clip
    assert len({j.judge_config_hash for j in store.judgments() if j.judge in ("grounded", "guided", "heard")}) == 3
