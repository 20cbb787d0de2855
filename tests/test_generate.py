"""The generate stage: the analytic family under every condition beside the bounds, resume, LLM systems over
HTTP, and kill -9 mid-run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from evalkit.generate import generate
from evalkit.store import Store
from evalkit.systems import parse_systems
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI, Reply

ANALYTIC = parse_systems([
    {"name": "analytic", "kind": "analytic", "conditions": ["mix", "stems", "stems+reference"]},
    {"name": "oracle", "kind": "oracle", "condition": "stems+own-reference"},
    {"name": "generic", "kind": "generic", "condition": "mix"},
], "test")


def test_analytic_family_under_every_condition_then_resume(small_testset, tmp_path):
    first = generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    n_test = len(store.items("test"))
    assert first["ok"] == 5 * n_test and first["failed"] == 0  # analytic × 3 conditions + two bounds
    again = generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    assert again["ok"] == 0 and again["skipped"] == 5 * n_test
    arms = {a.arm for a in store.advice()}
    assert arms == {"analytic/mix", "analytic/stems", "analytic/stems+reference", "oracle/stems+own-reference", "generic/mix"}
    texts = {a.system: a.text for a in store.advice()}
    assert texts["generic"].startswith("Balance the mix by ear")
    # advice is varied natural text, not one template
    oracle_texts = [a.text for a in store.advice() if a.system == "oracle"]
    assert len({t.split(" ")[0] for t in oracle_texts}) > 2


def test_llm_system_over_http_logs_every_call_and_records_failures(small_testset, tmp_path):
    with FakeOpenAI(lambda r, n: Reply(status=400) if n % 5 == 0 else Reply("Raise the vocals 2 dB.")) as srv:
        systems = parse_systems([{"name": "api-stems", "kind": "llm", "condition": "stems",
                                  "backend": {"name": "openai_compat", "model": "fake", "base_url": srv.base_url, "max_attempts": 2}}], "t")
        counts = generate(small_testset, systems, tmp_path / "run", show_progress=False)
        prompts = [r["messages"][-1]["content"] for r in srv.requests]
    store = Store(tmp_path / "run")
    frame = store.advice_frame()
    assert counts["ok"] + counts["failed"] == len(store.items("test"))
    assert counts["failed"] >= 1 and (frame.status == "failed").sum() == counts["failed"]
    assert len(store.calls_frame()) == len(prompts)  # every call logged
    assert "| stem | loudness (LUFS)" in prompts[0]  # the stems condition shows a per-stem table


def _start_slow_generate(testset, tmp_path, base_url: str, *, chunk: int, concurrency: int) -> subprocess.Popen:
    """`evalkit generate` in its own process group (so a test can SIGKILL it), one LLM system over ``base_url``."""
    cfg = {"systems": [{"name": "slow-llm", "kind": "llm", "condition": "mix", "chunk": chunk,
                        "backend": {"name": "openai_compat", "model": "fake", "base_url": base_url, "max_concurrency": concurrency}}]}
    (tmp_path / "systems.yaml").write_text(yaml.safe_dump(cfg))
    args = [sys.executable, "-m", "evalkit.cli", "generate", "--testset", str(testset), "--systems",
            str(tmp_path / "systems.yaml"), "--out", str(tmp_path / "run"), "--quiet"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.slow
def test_generate_survives_kill_9(small_testset, tmp_path):
    """A `generate` subprocess killed with SIGKILL mid-run, then rerun: nothing lost, nothing duplicated."""
    with FakeOpenAI(lambda r, n: Reply(f"Lower the drums {1 + n % 5} dB.", delay_s=0.15)) as srv:
        proc = _start_slow_generate(small_testset, tmp_path, srv.base_url, chunk=1, concurrency=1)
        store_path = tmp_path / "run" / "store.sqlite"
        deadline = time.time() + 60
        while time.time() < deadline:
            if store_path.exists() and len(Store(tmp_path / "run").advice()) >= 2:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        before = {a.id: a.text for a in Store(tmp_path / "run").advice()}
        total = len(Store(tmp_path / "run").items("test"))
        assert 2 <= len(before) < total, f"the kill should land mid-run: {Store(tmp_path / 'run').advice_frame().to_dict('records')}"
        out = run_cli("generate", "--testset", small_testset, "--systems", tmp_path / "systems.yaml", "--out", tmp_path / "run", "--quiet")
        assert out.returncode == 0, out.stderr
    after = Store(tmp_path / "run").advice()
    assert len(after) == total and len({a.id for a in after}) == total, (out.stdout, Store(tmp_path / "run").advice_frame().to_dict("records"))
    assert all(before[a.id] == a.text for a in after if a.id in before)  # finished work untouched


def test_each_completed_call_is_logged_and_saved_before_a_kill(small_testset, tmp_path):
    """One chunk of many concurrent calls, killed with SIGKILL midway: every call that had completed is in the
    log and its advice is saved (each is written as its call completes, not at the end of the chunk), so the
    next run redoes only the calls that were in flight."""
    with FakeOpenAI(lambda r, n: Reply("Lower the drums 2 dB.", delay_s=0.3)) as srv:
        proc = _start_slow_generate(small_testset, tmp_path, srv.base_url, chunk=100, concurrency=2)
        deadline = time.time() + 60
        while time.time() < deadline and len(srv.requests) < 6:
            time.sleep(0.02)
        received = len(srv.requests)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    store = Store(tmp_path / "run")
    assert received < len(store.items("test"))  # killed inside the one chunk
    # with 2 in flight, at least received - 2 had answered; each answered call is logged and its advice saved
    calls = store.calls_frame()
    assert len(calls) >= received - 2 >= 4
    # (a kill can land between logging a call and saving its advice: at most that one call)
    assert len(calls) - 1 <= len(store.advice()) <= len(calls)


def test_systems_yaml_typos_are_clear_errors(small_testset, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("systems:\n  - {name: x, kind: oracle, condition: stems, colour: red}\n")
    out = run_cli("generate", "--testset", small_testset, "--systems", bad, "--out", tmp_path / "run")
    assert out.returncode == 2 and "systems.0.colour" in out.stderr and "Traceback" not in out.stderr
    bad.write_text("systems:\n  - {name: x, kind: oracle, condition: sideways}\n")
    out = run_cli("generate", "--testset", small_testset, "--systems", bad, "--out", tmp_path / "run")
    assert out.returncode == 2 and "condition" in out.stderr


def test_a_changed_system_config_is_refused_then_forced(small_testset, tmp_path):
    """Advice made under another config is never reused silently; --force NAME makes it again and drops its judgments."""
    from evalkit.judging.rubrics import load_judge
    from evalkit.judging.stage import judge_run

    run = tmp_path / "run"
    generate(small_testset, ANALYTIC, run, show_progress=False)
    judge_run(run, load_judge(Path(__file__).parents[1] / "judges" / "reference.yaml"), show_progress=False)
    changed = parse_systems([{"name": "analytic", "kind": "analytic", "conditions": ["mix", "stems", "stems+reference"],
                              "seed": 7},
                             {"name": "oracle", "kind": "oracle", "condition": "stems+own-reference"},
                             {"name": "generic", "kind": "generic", "condition": "mix"}], "test")
    systems = tmp_path / "systems.yaml"
    systems.write_text(yaml.safe_dump({"systems": [s.model_dump(mode="json", exclude_defaults=True) for s in changed]}))
    r = run_cli("generate", "--testset", small_testset, "--systems", systems, "--out", run)
    assert r.returncode == 2 and "system 'analytic': its config changed" in r.stderr and "--force analytic" in r.stderr
    store = Store(run)
    before = {a.id: a.config_hash for a in store.advice() if a.system == "analytic"}
    judged = {j.advice_id for j in store.judgments()}
    assert set(before) <= judged
    run_cli("generate", "--testset", small_testset, "--systems", systems, "--out", run, "--force", "analytic", check=True)
    after = {a.id: a.config_hash for a in store.advice() if a.system == "analytic"}
    assert set(after) == set(before) and set(after.values()) == {changed[0].run_hash(c) for c in changed[0].condition_list}
    assert not set(before.values()) & set(after.values())
    assert not {j.advice_id for j in store.judgments()} & set(after)  # the old judgments of the old advice are gone
    assert {j.advice_id for j in store.judgments()} & {a.id for a in store.advice() if a.system == "oracle"}  # others kept
    # more items for a system (max_items) is not a config change
    bigger = [s.model_copy(update={"max_items": 3}) if s.name == "generic" else s for s in changed]
    generate(small_testset, bigger, run, show_progress=False)


def _cut_reply(r, n):
    """Every other call ends at the token limit mid-sentence (finish_reason "length"), as an OpenAI server says it."""
    import json as _json

    if n % 2:
        return Reply("Lower the bass by 3 dB.")
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Lower the bass by 3 dB. Then the vocals shou"},
                         "finish_reason": "length"}], "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}}
    return Reply(raw_body=_json.dumps(body).encode())


def test_cut_answers_are_marked_trimmed_or_kept_out_of_the_study(small_testset, tmp_path):
    from evalkit.generate import whole_sentences
    from evalkit.study.design import create_study

    assert whole_sentences("Lower the bass by 3 dB. Then the vocals shou") == "Lower the bass by 3 dB."
    assert whole_sentences("Here is a guide:\n\n1. Determine") == "Here is a guide:\n\n1. Determine"  # no whole sentence
    backend = {"name": "openai_compat", "model": "fake", "max_attempts": 1}
    with FakeOpenAI(_cut_reply) as srv:
        systems = parse_systems([{"name": "kept", "kind": "llm", "condition": "stems", "backend": {**backend, "base_url": srv.base_url}},
                                 {"name": "trimmed", "kind": "llm", "condition": "stems", "when_cut": "trim",
                                  "backend": {**backend, "base_url": srv.base_url}}], "t")
        generate(small_testset, systems, tmp_path / "run", show_progress=False)
    advice = Store(tmp_path / "run").advice()
    kept = [a for a in advice if a.system == "kept" and a.params["finish_reason"] == "length"]
    trimmed = [a for a in advice if a.system == "trimmed" and a.params["finish_reason"] == "length"]
    assert kept and all(a.was_cut and a.text.endswith("shou") for a in kept)
    assert trimmed and all(not a.was_cut and a.text == "Lower the bass by 3 dB." and a.params["trimmed_from_chars"] == 44
                           for a in trimmed)
    cfg = create_study(tmp_path / "run", tmp_path / "study", ratings=1, trials_per_participant=2, gold_per_participant=0,
                       headphone_check=False, show_progress=False)
    assert not {a.item_id for a in kept} & set(cfg.items)  # a participant never compares a fragment
    assert set(cfg.items) == {a.item_id for a in advice} - {a.item_id for a in kept}
