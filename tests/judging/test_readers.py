"""`evalkit advice validate` (issue #20): a reader checked on a user's labelled texts; the rules reader and an LLM reader
(a judge back end against the local OpenAI-compatible test server with scripted replies)."""

from __future__ import annotations

import json

from evalkit.manifest import read_manifest
from evalkit.store import Store
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI, Reply

LABELLED = [
    {"text": "Raise the vocals 2 dB.", "claims": [{"stem": "vocals", "direction": "up", "db": 2}], "style": "terse"},
    {"text": "Drums too loud, bass too quiet.", "claims": [{"stem": "drums", "direction": "down", "db": None},
                                                          {"stem": "bass", "direction": "up", "db": None}], "style": "listener"},
    {"text": "Nice mix.", "claims": [], "style": "listener"},
    {"text": "Could use more guitar.", "claims": [{"stem": "other", "direction": "up", "db": None}], "style": "listener"},
]


def _write(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in LABELLED) + "\n")
    return path


def test_rules_reader_scores_by_hand(tmp_path):
    out = run_cli("advice", "validate", _write(tmp_path), "--out", tmp_path / "v", check=True)
    doc = json.loads((tmp_path / "v" / "validation.json").read_text())
    overall = next(r for r in doc["by_style"] if r["style"] == "all")
    # the rules reader reads all four texts as labelled: 4 claims found, none spurious
    assert (overall["tp"], overall["fp"], overall["fn"], overall["exact"]) == (4, 0, 0, 4) and overall["f1"] == 1.0
    assert "per stem and direction" in out.stdout


def test_llm_reader_through_a_judge_back_end_with_an_unparsable_answer(tmp_path):
    """Scripted answers: text 1 right, text 2 half right (drums only), text 3 malformed (unread, counted, never guessed),
    text 4 a spurious vocals claim besides the right one. By hand: TP 1 + 1 + 0 + 1 = 3, FP 1, FN 0 + 1 + 0 + 0 = 1
    (text 3 has no labelled claim to miss), F1 = 6 / 8 = 0.75."""
    answers = {"Raise the vocals": {"claims": [{"stem": "vocals", "direction": "up", "db": 2}]},
               "Drums too loud": {"claims": [{"stem": "drums", "direction": "down", "db": None}]},
               "Nice mix": "I think the mix is fine",
               "more guitar": {"claims": [{"stem": "other", "direction": "up", "db": None},
                                          {"stem": "vocals", "direction": "down", "db": None}]}}

    def script(req, n):
        prompt = req["messages"][0]["content"]
        answer = next(v for k, v in answers.items() if k in prompt)
        assert req["response_format"]["type"] == "json_schema"  # schema-guided where the back end can
        return Reply(answer if isinstance(answer, str) else json.dumps(answer))

    with FakeOpenAI(script) as srv:
        preset = tmp_path / "reader.yaml"
        preset.write_text(f"name: api-reader\nprotocol: pairwise\nbackend: {{name: openai_compat, model: fake, base_url: '{srv.base_url}'}}\n")
        out = run_cli("advice", "validate", _write(tmp_path), "--reader", preset, "--out", tmp_path / "v", check=True)
        assert len(srv.requests) == 4
    doc = json.loads((tmp_path / "v" / "validation.json").read_text())
    overall = next(r for r in doc["by_style"] if r["style"] == "all")
    assert (overall["tp"], overall["fp"], overall["fn"], overall["unread"]) == (3, 1, 1, 1) and overall["f1"] == 0.75
    # agreement with the rules reader over the 3 texts both read: identical on text 1 only
    assert doc["agreement_with_rules"]["texts"] == 3 and abs(doc["agreement_with_rules"]["identical"] - 1 / 3) < 1e-9
    assert "agreement with the rules reader" in out.stdout
    calls = Store(tmp_path / "v").calls_frame()  # every LLM call is logged
    assert len(calls) == 4 and set(calls.stage) == {"read"}


def test_bad_labelled_files_exit_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "claims": [{"stem": "vocals", "direction": "sideways"}]}\n')
    out = run_cli("advice", "validate", bad)
    assert out.returncode == 2 and "bad.jsonl:1" in out.stderr and "Traceback" not in out.stderr
    bad.write_text("")
    assert run_cli("advice", "validate", bad).returncode == 2


def test_a_run_whose_reference_judge_uses_an_llm_reader(small_testset, tmp_path):
    """`reference: {reader: judges/X.yaml}`: each advice is read by the back end (calls logged), an unparsable answer
    leaves that advice unscored with its raw text, and the reader's agreement with the rules reader is in the report."""
    import yaml

    from evalkit.generate import generate
    from evalkit.judging.advice_parser import parse_advice
    from evalkit.judging.rubrics import load_judge
    from evalkit.judging.stage import judge_run
    from evalkit.report.build import write_report
    from tests.test_generate import ANALYTIC

    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    n_advice = len(store.advice())

    def script(req, n):  # read as the rules reader does, except every fifth call answers in prose
        text = req["messages"][0]["content"].split('"""')[1]
        claims = [{"stem": c.stem, "direction": c.direction, "db": c.db} for c in parse_advice(text).claims]
        return Reply("Sorry, I cannot tell." if n % 5 == 0 else json.dumps({"claims": claims}))

    with FakeOpenAI(script) as srv:
        reader = tmp_path / "reader.yaml"
        reader.write_text(yaml.safe_dump({"name": "llm-reader", "protocol": "pairwise", "backend": {
            "name": "openai_compat", "model": "fake", "base_url": srv.base_url, "max_concurrency": 4}}))
        ref = tmp_path / "reference-llm.yaml"
        ref.write_text(yaml.safe_dump({"name": "reference", "protocol": "reference", "reference": {"reader": str(reader)}}))
        counts = judge_run(store, load_judge(ref), show_progress=False)
        assert len(srv.requests) == n_advice
    unread = (n_advice + 4) // 5
    assert counts["unscored"] == unread
    unscored = [j for j in store.judgments("reference") if not j.parsed]
    assert len(unscored) == unread and all(j.raw_output == "Sorry, I cannot tell." and j.score is None for j in unscored)
    assert set(store.calls_frame().stage) == {"read"}
    agreement = read_manifest(store).reader_agreement["reference"]
    assert agreement["identical"] == 1.0 and agreement["unread"] == unread
    write_report(store, tmp_path / "run", bootstrap=20)
    assert "LLM reader" in (tmp_path / "run" / "report" / "report.md").read_text()
