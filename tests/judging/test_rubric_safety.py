"""Rubrics are data: their templates render in Jinja2's sandbox, and judge outputs are held to the rubric's
JSON schema (additionalProperties included) by jsonschema."""

import pytest
import yaml

from evalkit.judging.llm_judge import JudgeParseError, parse_judge_output
from evalkit.judging.rubrics import load_rubric
from tests.conftest import ROOT, run_cli

UNSAFE = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
]


@pytest.mark.parametrize("payload", UNSAFE)
def test_unsafe_rubric_is_refused_before_anything_runs(tmp_path, payload):
    doc = yaml.safe_load((ROOT / "rubrics" / "pairwise.yaml").read_text())
    doc["prompt"] = f"Advice A: {{{{ advice_a }}}}\n{payload}\nAdvice B: {{{{ advice_b }}}}"
    rubric = tmp_path / "evil.yaml"
    rubric.write_text(yaml.safe_dump(doc))
    preset = tmp_path / "judge.yaml"
    # the back end points nowhere reachable: if the rubric were accepted, the call would fail differently
    preset.write_text(yaml.safe_dump({"name": "evil", "protocol": "pairwise", "rubrics": [str(rubric)],
                                      "backend": {"name": "openai_compat", "model": "m", "base_url": "http://127.0.0.1:9/v1"}}))
    out = run_cli("judge", "--run", tmp_path / "run", "--judge", preset, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "unsafe" in out.stderr and "Traceback" not in out.stderr and str(rubric) in out.stderr
    assert not (tmp_path / "PWNED").exists()


def test_judge_output_held_to_the_schema():
    pairwise, specificity = load_rubric("pairwise"), load_rubric("specificity")
    assert parse_judge_output('{"rationale": "x", "verdict": "tie"}', pairwise)["verdict"] == "tie"
    for bad, why in [('{"rationale": "x", "verdict": "A", "confidence": 0.9}', "Additional properties"),
                     ('{"rationale": "x", "verdict": "C"}', "not one of"),
                     ('{"verdict": "A"}', "required")]:
        with pytest.raises(JudgeParseError, match=why):
            parse_judge_output(bad, pairwise)
    assert parse_judge_output('{"rationale": "x", "score": 4}', specificity)["score"] == 4
    for bad in ('{"rationale": "x", "score": 4.5}', '{"rationale": "x", "score": 6}', '{"rationale": "x", "score": true}'):
        with pytest.raises(JudgeParseError):
            parse_judge_output(bad, specificity)
