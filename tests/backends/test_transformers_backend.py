"""The transformers back end end to end on a tiny random Llama (CPU), and once on the real SmolLM2."""

import asyncio
import json

import pytest

from evalkit.backends import GenerationRequest, create_backend
from evalkit.backends.constrained import schema_fields
from evalkit.errors import ConfigError

SCORE_SCHEMA = {"type": "object", "properties": {"rationale": {"type": "string"}, "score": {"type": "integer", "minimum": 1, "maximum": 5}},
                "required": ["rationale", "score"]}
VERDICT_SCHEMA = {"type": "object", "properties": {"rationale": {"type": "string"}, "verdict": {"type": "string", "enum": ["A", "B", "tie"]}},
                  "required": ["rationale", "verdict"]}


def _req(text, **kw):
    return GenerationRequest(messages=[{"role": "system", "content": "You judge advice."}, {"role": "user", "content": text}], **kw)


def test_batched_generation_with_left_padding_keeps_order(tiny_llama):
    b = create_backend("transformers", model=str(tiny_llama), batch_size=3)
    prompts = ["raise the bass", "lower the vocals by a lot more than that", "x", "the drums are too loud", "leave it"]
    batched = asyncio.run(b.generate([_req(p, max_tokens=6) for p in prompts]))
    single = [asyncio.run(b.generate([_req(p, max_tokens=6)]))[0] for p in prompts]
    assert all(r.ok for r in batched)
    # greedy decoding with left padding must give what each prompt gives alone
    assert [r.text for r in batched] == [r.text for r in single]
    assert all(r.tokens_out <= 6 for r in batched)


def test_schema_guided_decoding_is_always_valid_json(tiny_llama):
    b = create_backend("transformers", model=str(tiny_llama), max_string_tokens=8)
    res = asyncio.run(b.generate([_req("rate it", json_schema=SCORE_SCHEMA, max_tokens=30),
                                  _req("which is better", json_schema=VERDICT_SCHEMA, max_tokens=30, temperature=0.8, seed=3)]))
    score = json.loads(res[0].text)
    verdict = json.loads(res[1].text)
    assert set(score) == {"rationale", "score"} and score["score"] in range(1, 6)
    assert verdict["verdict"] in ("A", "B", "tie") and isinstance(verdict["rationale"], str)


def test_unsupported_schema_is_refused():
    with pytest.raises(ConfigError, match="not supported"):
        schema_fields({"type": "object", "properties": {"x": {"type": "array"}}})


def test_missing_local_model_is_a_clear_error(tmp_path):
    b = create_backend("transformers", model=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="not found locally"):
        asyncio.run(b.generate([_req("hi")]))


@pytest.mark.slow
def test_smollm2_generates_and_judges_constrained_and_not():
    pytest.importorskip("gguf")
    from evalkit.backends.transformers_backend import smollm2_dir

    smollm2_dir()  # the wheel must be installed (.ci/run installs it)
    free = create_backend("transformers", model="smollm2", constrained=False)
    guided = create_backend("transformers", model="smollm2", constrained=True, max_string_tokens=12)
    [advice] = asyncio.run(free.generate([_req("My bass is 6 dB too quiet. What should I do?", max_tokens=24)]))
    assert advice.ok and len(advice.text) > 5
    prompt = 'Advice A: "raise the bass 6 dB". Advice B: "make it sound good". Which is more specific? Reply JSON {"rationale": ..., "verdict": "A"|"B"|"tie"}'
    [c] = asyncio.run(guided.generate([_req(prompt, json_schema=VERDICT_SCHEMA, max_tokens=40)]))
    assert json.loads(c.text)["verdict"] in ("A", "B", "tie")
    [u] = asyncio.run(free.generate([_req(prompt, max_tokens=40)]))
    assert u.ok  # may or may not parse: the judge tests count that, they never coerce it


def test_audio_lm_hears_the_stems_through_its_processor(tiny_qwen2_audio, small_testset, tmp_path):
    """An `llm` system with representation: audio runs a (tiny, random) Qwen2-Audio on the stems' WAVs."""
    from evalkit.generate import generate
    from evalkit.store import Store
    from evalkit.systems import parse_systems

    systems = parse_systems([{"name": "audio-lm", "kind": "llm", "condition": "stems", "representation": "audio", "max_tokens": 6,
                              "backend": {"name": "transformers", "model": str(tiny_qwen2_audio), "audio": True, "batch_size": 2}}], "t")
    counts = generate(small_testset, systems, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    n = len(store.items("test"))
    assert counts["ok"] + counts["failed"] == n
    calls = store.calls_frame()
    assert len(calls) == n and calls.error.isna().all()  # every clip set reached the model without an error
    prompt = calls.prompt.iloc[0]
    assert prompt.count('"type":"audio"') == 4  # the four problem stems went to the model as audio
    assert (tmp_path / "run" / "inputs").exists()
    # the processor turned each clip into audio tokens: prompts are far longer than their text alone
    assert calls.tokens_in.min() > 100


@pytest.mark.slow
def test_smollm2_converted_copy_is_the_gguf_bit_for_bit(tmp_path, monkeypatch):
    """The first load converts the GGUF (parsing it once) and keeps a copy; a later load reads the copy.
    Both give the weights that transformers' own GGUF loader gives, and the same greedy tokens."""
    pytest.importorskip("gguf")
    import torch
    import transformers

    from evalkit.backends import transformers_backend as tb

    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    d = tb.smollm2_dir()
    plain = transformers.AutoModelForCausalLM.from_pretrained(str(d), gguf_file=tb.SMOLLM2_GGUF, dtype=torch.float32)
    first, tok1 = tb._load_smollm2(transformers, torch.float32)
    copy = tb.converted_cache_dir(d / tb.SMOLLM2_GGUF)
    assert (copy / "config.json").exists()
    second, tok2 = tb._load_smollm2(transformers, torch.float32)  # now from the copy
    for model in (first, second):
        for (name, a), b in zip(plain.state_dict().items(), model.state_dict().values(), strict=True):
            assert torch.equal(a, b), name
    text = tok1.apply_chat_template([{"role": "user", "content": "How loud should the bass be?"}], tokenize=False,
                                    add_generation_prompt=True)
    ids1, ids2 = tok1(text, return_tensors="pt"), tok2(text, return_tensors="pt")
    assert torch.equal(ids1.input_ids, ids2.input_ids)
    out1 = first.generate(**ids1, max_new_tokens=12, do_sample=False)
    out2 = second.generate(**ids2, max_new_tokens=12, do_sample=False)
    assert torch.equal(out1, out2)


def test_single_token_options_are_scored_from_one_prefix_pass(tiny_llama):
    """The fast path (one forward of the prefix) gives the padded batch's log-probabilities."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalkit.backends.constrained import SchemaDecoder

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    dec = SchemaDecoder(AutoModelForCausalLM.from_pretrained(tiny_llama), tok)
    prefix = dec._ids('raise the bass by 3 dB {"rationale": "clear", "score": ')
    options = [str(k) for k in range(1, 6)]
    assert all(len(dec._ids(o)) == 1 for o in options)
    fast = dec._score(prefix, options)
    ids = torch.tensor([prefix + dec._ids(o) for o in options])  # the slow path, by hand
    with torch.no_grad():
        logp = torch.log_softmax(dec.model(input_ids=ids).logits.float(), dim=-1)
    slow = [float(logp[b, len(prefix) - 1, dec._ids(o)[0]]) for b, o in enumerate(options)]
    assert fast == pytest.approx(slow, abs=1e-5)


def test_order_averaged_verdicts_from_the_decoders_probabilities(tiny_llama, small_testset, tmp_path):
    """Constrained decoding returns each verdict option's log-probability; judgments keep them in the pair's
    canonical frame, and a judge with order_average combines a pair by the mean over both orders."""
    import math

    import pandas as pd
    import yaml

    from evalkit.generate import generate
    from evalkit.judging.rubrics import load_judge
    from evalkit.judging.stage import judge_run
    from evalkit.report.analysis import _pair_vote, advice_frame, judge_votes
    from evalkit.store import Store
    from tests.test_generate import ANALYTIC

    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    preset = tmp_path / "judge.yaml"
    preset.write_text(yaml.safe_dump({"name": "tiny-avg", "protocol": "pairwise", "rubrics": ["pairwise"], "both_orders": True,
                                      "order_average": True, "max_pairs": 3, "max_tokens": 40,
                                      "backend": {"name": "transformers", "model": str(tiny_llama), "max_string_tokens": 4}}))
    judge_run(store, load_judge(preset), show_progress=False)
    js = [j for j in store.judgments("tiny-avg") if j.parsed]
    assert len(js) == 6
    for j in js:
        probs = j.metrics["verdict_probs"]
        assert set(probs) == {"a", "b", "tie"} and math.isclose(sum(probs.values()), 1.0, rel_tol=1e-9)
        assert max(probs, key=probs.get) == j.verdict  # greedy decoding picks the most probable option
    votes = judge_votes(store, advice_frame(store))["tiny-avg"]
    by_pair = {}
    for j in js:
        by_pair.setdefault((j.advice_id, j.advice_id_b), []).append(j.metrics["verdict_probs"])
    expected = sorted(max(("a", "b", "tie"), key=lambda k: sum(p[k] for p in ps) / len(ps)) for ps in by_pair.values())
    assert sorted(votes.choice) == expected
    # by hand: orders disagree (a at 0.6 shown first, b at 0.7 shown second); majority says tie, the mean says b
    h = pd.DataFrame({"order": ["ab", "ba"], "choice": ["a", "b"],
                      "probs": [{"a": 0.6, "b": 0.3, "tie": 0.1}, {"a": 0.2, "b": 0.7, "tie": 0.1}]})
    assert _pair_vote(h, average=False) == "tie" and _pair_vote(h, average=True) == "b"
