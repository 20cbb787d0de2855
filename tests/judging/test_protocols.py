"""Judge protocols have a registry, as back ends and system kinds do (issue #26): a protocol from another package is
one module, listed under the evalkit.judge_protocols entry points. This follows docs/architecture.md's recipe end to
end with a toy protocol (a yes/no "would you act on this?" per advice): its rubric loads, two judges call a real HTTP
server with it, their judgments are stored and logged, and the diagnostics compare the two judges on its units."""

import importlib.metadata
import json

import pytest
import yaml

from evalkit.errors import ConfigError
from evalkit.judging import protocols
from evalkit.judging.rubrics import Rubric, load_judge
from tests.conftest import judged_run
from tests.fake_openai import FakeOpenAI, Reply

TOY = '''
from evalkit.judging.protocols import AgreementUnit, JudgeProtocol


def render(rubric, task, reference):
    return rubric.render(advice=task.advice.text, reference=reference)


def read(task, answer, logprobs):
    return {"score": 1.0 if answer["act"] == "yes" else 0.0, "rationale": answer.get("why", "")}


def agreement(j):
    return AgreementUnit("act", (j.rubric, j.advice_id), j.score, "nominal") if j.score is not None else None


PROTOCOL = JudgeProtocol("yes-no", "would a mixing engineer act on this advice? yes or no", False, render, read, agreement)
'''

RUBRIC = {"name": "act-on-it", "protocol": "yes-no", "criterion": "actionability",
          "prompt": "Would you act on this mixing advice?\n{{ advice }}\nAnswer JSON: {\"act\": \"yes\" or \"no\", \"why\": ...}",
          "output_schema": {"type": "object", "additionalProperties": False, "required": ["act"],
                            "properties": {"act": {"enum": ["yes", "no"]}, "why": {"type": "string"}}}}


@pytest.fixture
def toy_protocol(tmp_path, monkeypatch):
    (tmp_path / "toy_protocol.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint(name="yes-no", value="toy_protocol:PROTOCOL", group=protocols.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None, **kw: [ep] if group == protocols.ENTRY_POINT_GROUP else [])
    protocols._plugins.cache_clear()
    yield
    protocols._plugins.cache_clear()


def _judge_file(tmp_path, name: str, url: str) -> str:
    rubric = tmp_path / "act-on-it.yaml"
    rubric.write_text(yaml.safe_dump(RUBRIC))
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "protocol": "yes-no", "rubrics": [str(rubric)], "parse_retries": 0,
                                    "backend": {"name": "openai_compat", "model": name, "base_url": url}}))
    return str(path)


def _answers():
    """judge-1 says yes to advice that names a dB figure; judge-2 agrees except on every third of its calls; one
    answer of judge-2 is not JSON, so it must be stored unscored."""
    seen = {"judge-1": 0, "judge-2": 0}

    def answer(req, _n):
        prompt, model = req["messages"][-1]["content"], req["model"]
        n = seen[model] = seen[model] + 1
        act = "yes" if " dB" in prompt else "no"
        if model == "judge-2" and n % 3 == 0:
            act = "no" if act == "yes" else "yes"
        if model == "judge-2" and n == 4:
            return Reply("I would act on it.")
        return Reply(json.dumps({"act": act, "why": "names a number" if act == "yes" else "vague"}))

    return answer


def test_a_protocol_from_another_package_judges_and_is_compared(toy_protocol, small_testset, tmp_path):
    from evalkit.judging.diagnostics import judge_agreement, judge_diagnostics
    from evalkit.judging.stage import judge_run

    store = judged_run(small_testset, tmp_path / "run")
    advice = store.advice()
    with FakeOpenAI(_answers()) as srv:
        for name in ("judge-1", "judge-2"):
            counts = judge_run(store, load_judge(_judge_file(tmp_path, name, srv.base_url)), show_progress=False)
            assert counts["scored"] + counts["unscored"] == len(advice)
    js = store.judgments("judge-1")
    assert {j.protocol for j in js} == {"yes-no"} and {j.rubric for j in js} == {"act-on-it"}
    by_advice = {a.id: a for a in advice}
    assert all(j.score == (1.0 if " dB" in by_advice[j.advice_id].text else 0.0) for j in js)
    unscored = [j for j in store.judgments("judge-2") if not j.parsed]
    assert len(unscored) == 1 and unscored[0].raw_output == "I would act on it."  # kept, with its raw text
    assert len(store.calls_frame().query("stage == 'judge'")) == 2 * len(advice)  # every call logged
    diag = judge_diagnostics(store).set_index("judge")
    assert diag.loc["judge-2", "unscored"] == 1
    agree = judge_agreement(store)
    row = agree[(agree.judge_a == "judge-1") & (agree.judge_b == "judge-2") & (agree.what == "act")].iloc[0]
    assert row.level == "nominal" and row.n == len(advice) - 1 and row.krippendorff_alpha < 1


def test_an_unknown_protocol_is_refused_naming_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown rubric protocol 'yes-no'.*absolute, pairwise"):
        Rubric.model_validate(RUBRIC)
    (tmp_path / "j.yaml").write_text(yaml.safe_dump({"name": "j", "protocol": "yes-no"}))
    with pytest.raises(ConfigError, match="j.yaml.*unknown judge protocol 'yes-no'"):
        load_judge(tmp_path / "j.yaml")
    with pytest.raises(ConfigError, match="preset's protocol"):
        protocols.register_protocol(protocols.JudgeProtocol("both", "", False, None, None, None))


def test_a_rubric_of_another_protocol_is_refused_by_the_preset(toy_protocol, tmp_path):
    path = _judge_file(tmp_path, "judge-1", "http://127.0.0.1:9")
    doc = yaml.safe_load(open(path))
    doc["protocol"] = "pairwise"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="rubric 'act-on-it' is yes-no, but the judge's protocol is pairwise"):
        load_judge(tmp_path / "p.yaml")
