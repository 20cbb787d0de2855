"""Offline vLLM: ``LLM.chat`` / ``LLM.generate`` with SamplingParams, prefix caching on, audio LMs
(e.g. Qwen2-Audio) through ``multi_modal_data``, JSON schemas through structured outputs.

Imported only when used (``pip install 'evalkit[gpu]'``); it needs a GPU. Batch settings are
recorded in ``config()`` so the log can rebuild the run.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

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
from evalkit.errors import require


def worker_devices(per_worker: int) -> str:
    """The GPUs of this worker process (``EVALKIT_WORKER_INDEX``, 0 for the process a user started)."""
    k = int(os.environ.get("EVALKIT_WORKER_INDEX", "0"))  # evalkit.workers.worker_index (back ends do not import stages)
    return ",".join(str(k * per_worker + d) for d in range(per_worker))


AUDIO_PLACEHOLDER = "<|audio_bos|><|AUDIO|><|audio_eos|>"  # Qwen2-Audio's; set audio_placeholder for other audio LMs


class VLLMOptions(BackendOptions):
    model: str = Field(description="a local model path or hub-cache name (nothing is downloaded at run time)")
    tensor_parallel_size: int = Field(1, ge=1, le=64, description="GPUs one model is split over")
    max_model_len: int | None = Field(None, ge=16, description="context length (default: the model's)")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="share of GPU memory vLLM may take")
    max_num_seqs: int = Field(256, ge=1, description="sequences in one batch")
    data_parallel_size: int = Field(1, ge=1, le=64, description="vLLM's own data parallelism (engine replicas), "
                                                                "where the "
                                                                "installed vLLM supports it offline")
    gpus_per_worker: int | None = Field(None, ge=1, le=64, description="with `--workers N`: pin worker k to GPUs "
                                                                       "k·n … k·n+n−1 (CUDA_VISIBLE_DEVICES), one engine each")
    audio: bool = Field(False, description="an audio LM: clips go to the model with the prompt")
    dtype: str = Field("auto", description="weights' precision (auto: the model's)")
    audio_placeholder: str = Field(AUDIO_PLACEHOLDER, description="the token sequence that marks where a clip goes "
                                                                  "in the prompt")
    adapter: str | None = Field(None, description="a LoRA adapter from `evalkit finetune`, served through vLLM's "
                                                  "LoRA "
                                                  "support (a fully fine-tuned copy is loaded as the model)")
    max_lora_rank: int = Field(64, ge=1, le=1024, description="vLLM's largest LoRA rank (at least the adapter's)")


@register_backend("vllm")
class VLLMBackend(Backend):
    """A batch back end (vLLM schedules the whole batch); failures are reported per request, not retried."""

    name = "vllm"
    supports_json_schema = True
    Options = VLLMOptions

    def __init__(self, model: str, **kwargs: Any) -> None:
        o = VLLMOptions(model=model, **kwargs)
        super().__init__(o.model, o.max_num_seqs, tensor_parallel_size=o.tensor_parallel_size, max_model_len=o.max_model_len,
                         gpu_memory_utilization=o.gpu_memory_utilization, max_num_seqs=o.max_num_seqs, audio=o.audio,
                         dtype=o.dtype, enable_prefix_caching=True, adapter=o.adapter,
                         data_parallel_size=o.data_parallel_size if o.data_parallel_size > 1 else None)
        self.gpus_per_worker = o.gpus_per_worker
        self.supports_audio = o.audio
        self.audio_placeholder = o.audio_placeholder
        self.adapter, self.max_lora_rank = o.adapter, o.max_lora_rank
        self._llm = None

    def _ensure(self):
        if self._llm is None:
            if self.gpus_per_worker:
                os.environ["CUDA_VISIBLE_DEVICES"] = worker_devices(self.gpus_per_worker)
            vllm = require("vllm", "gpu")
            kw = {k: v for k, v in self.options.items() if k not in ("audio", "adapter") and v is not None}
            if self.options["audio"]:
                kw["limit_mm_per_prompt"] = {"audio": 8}
            model = self.model
            if self.adapter and self._lora() is None:
                model = self.adapter  # a fully fine-tuned copy: the adapter folder is the model
            elif self.adapter:
                kw.update(enable_lora=True, max_lora_rank=self.max_lora_rank, max_loras=1)
            self._llm = vllm.LLM(model=model, **kw)
        return self._llm

    def _lora(self):
        """vLLM's LoRARequest for the adapter (None without one, or for a fully fine-tuned copy)."""
        from pathlib import Path

        if not self.adapter or not (Path(self.adapter) / "adapter_config.json").exists():
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("evalkit-adapter", 1, str(Path(self.adapter).resolve()))

    def _sampling(self, r: GenerationRequest):
        vllm = require("vllm", "gpu")
        kw: dict[str, Any] = {"max_tokens": r.max_tokens, "temperature": r.temperature, "seed": r.seed}
        if r.json_schema:
            try:  # vLLM >= 0.10
                from vllm.sampling_params import StructuredOutputsParams

                kw["structured_outputs"] = StructuredOutputsParams(json=r.json_schema)
            except ImportError:  # older releases
                from vllm.sampling_params import GuidedDecodingParams

                kw["guided_decoding"] = GuidedDecodingParams(json=r.json_schema)
        return vllm.SamplingParams(**kw)

    def _run(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        llm = self._ensure()
        params = [self._sampling(r) for r in requests]
        if self.options["audio"]:
            from evalkit.audio.io import read_audio

            tok = llm.get_tokenizer()
            inputs = []
            for r in requests:
                msgs, arrays = [], []
                for m in r.messages:
                    parts = m["content"] if isinstance(m.get("content"), list) else []
                    clips = [p for p in parts if p.get("type") == "audio"]
                    for p in clips:
                        x, sr = read_audio(p["path"])
                        arrays.append((x.mean(axis=0), sr))  # audio LMs take mono
                    # One placeholder per clip, in order, before the message's text (Qwen2-Audio's format).
                    marks = "".join(f"Audio {len(arrays) - len(clips) + k + 1}: {self.audio_placeholder}\n" for k in range(len(clips)))
                    msgs.append({"role": m["role"], "content": marks + text_of(m)})
                prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
                inputs.append({"prompt": prompt, "multi_modal_data": {"audio": arrays}} if arrays else {"prompt": prompt})
            outs = llm.generate(inputs, params, lora_request=self._lora())
        else:
            convs = [[{"role": m["role"], "content": text_of(m)} for m in r.messages] for r in requests]
            outs = llm.chat(convs, params, lora_request=self._lora())
        return [GenerationResult(text=o.outputs[0].text, tokens_in=len(o.prompt_token_ids or []),
                                 tokens_out=len(o.outputs[0].token_ids), model=self.model,
                                 extra={"finish_reason": o.outputs[0].finish_reason} if o.outputs[0].finish_reason else {})
                for o in outs]

    async def generate(self, requests, on_result=None):
        return report_each(await asyncio.to_thread(self._run, list(requests)), on_result)
