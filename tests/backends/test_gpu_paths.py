"""The transformers back end's CUDA paths (static KV cache, bf16, constrained decoding, audio LM on the GPU).

Skipped without a CUDA device: CI has none. Run on a lent GPU machine with
``pytest tests/backends/test_gpu_paths.py`` (benchmarks/RESULTS.md records the card and the outcome).
"""

import asyncio
import json

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

from evalkit.backends import GenerationRequest, create_backend  # noqa: E402
from evalkit.backends.transformers_backend import TransformersBackend, load_model  # noqa: E402

PROMPTS = ["raise the bass", "lower the vocals by a lot more than that", "x", "the drums are too loud", "leave it"]


def _req(text, **kw):
    return GenerationRequest(messages=[{"role": "user", "content": text}], **kw)


def test_auto_device_is_cuda_in_bfloat16(tiny_llama):
    model, _ = load_model(str(tiny_llama))
    assert model.device.type == "cuda" and model.dtype == torch.bfloat16


def test_static_cache_gives_the_dynamic_cache_tokens(tiny_llama):
    """Greedy decoding in float32: the static cache (prompts padded to 64, compiled decoding) must change
    nothing but speed, in batches and alone."""
    static = create_backend("transformers", model=str(tiny_llama), dtype="float32", static_cache="on", batch_size=3)
    dynamic = create_backend("transformers", model=str(tiny_llama), dtype="float32", static_cache="off", batch_size=3)
    a = asyncio.run(static.generate([_req(p, max_tokens=8) for p in PROMPTS]))
    b = asyncio.run(dynamic.generate([_req(p, max_tokens=8) for p in PROMPTS]))
    alone = [asyncio.run(dynamic.generate([_req(p, max_tokens=8)]))[0] for p in PROMPTS]
    assert all(r.ok for r in a + b)
    assert [r.text for r in a] == [r.text for r in b] == [r.text for r in alone]


def test_token_ids_match_plain_generate_on_cuda(tiny_llama):
    """The benchmark's path (generate_token_ids) against model.generate by hand, one prompt, float32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).to("cuda").eval()
    backend = TransformersBackend.from_objects(model, tok, static_cache="on")
    ids = tok("the drums are too loud", add_special_tokens=False)["input_ids"]
    ours = backend.generate_token_ids([ids], 10)[0]
    with torch.no_grad():
        ref = model.generate(input_ids=torch.tensor([ids], device="cuda"), max_new_tokens=10, do_sample=False,
                             pad_token_id=tok.pad_token_id)[0, len(ids):].tolist()
    if tok.eos_token_id in ref:
        ref = ref[: ref.index(tok.eos_token_id)]
    assert ours == [t for t in ref if t != tok.pad_token_id]


def test_schema_guided_json_on_cuda_bf16(tiny_llama):
    schema = {"type": "object", "properties": {"rationale": {"type": "string"}, "score": {"type": "integer", "minimum": 1, "maximum": 5}},
              "required": ["rationale", "score"]}
    b = create_backend("transformers", model=str(tiny_llama), max_string_tokens=8)
    res = asyncio.run(b.generate([_req("rate it", json_schema=schema, max_tokens=30)]))
    assert res[0].extra.get("constrained") and json.loads(res[0].text)["score"] in range(1, 6)


def test_pipeline_runs_text_and_audio_systems_on_cuda(tiny_llama, tiny_qwen2_audio, small_testset, tmp_path):
    """`generate` as the CLI runs it: a text LLM on feature tables and an audio LM on the stems, both on the GPU."""
    from evalkit.generate import generate
    from evalkit.store import Store
    from evalkit.systems import parse_systems

    systems = parse_systems([
        {"name": "text-lm", "kind": "llm", "condition": "stems", "max_tokens": 8,
         "backend": {"name": "transformers", "model": str(tiny_llama), "batch_size": 8}},
        {"name": "audio-lm", "kind": "llm", "condition": "stems", "representation": "audio", "max_tokens": 6,
         "backend": {"name": "transformers", "model": str(tiny_qwen2_audio), "audio": True, "batch_size": 4}}], "t")
    counts = generate(small_testset, systems, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    calls = store.calls_frame()
    assert counts["ok"] + counts["failed"] == 2 * len(store.items("test"))
    assert len(calls) == counts["ok"] + counts["failed"] and calls.error.isna().all()
