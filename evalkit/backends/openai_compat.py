"""Any OpenAI-compatible endpoint (OpenAI, `vllm serve`, llama.cpp server…) through the official async client.

Retries 429, 5xx, timeouts, connection errors and malformed bodies (``should_retry``; the base class does
the backoff, honouring Retry-After) up to ``max_attempts``; the client's own retries are off so that the
bound is ours. Audio goes as ``input_audio`` parts; a JSON schema as ``response_format``.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from evalkit.backends.base import (
    Backend,
    BackendOptions,
    GenerationRequest,
    GenerationResult,
    register_backend,
)
from evalkit.errors import ConfigError, require


class OpenAICompatOptions(BackendOptions):
    model: str
    base_url: str | None = Field(None, description="the endpoint; None is OpenAI itself")
    api_key: str | None = Field(None, description="programmatic use only: a config file may not hold a key")
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = Field(8, ge=1, le=1024)
    max_attempts: int = Field(5, ge=1, le=20)
    timeout_s: float = Field(60.0, gt=0)
    price_per_1k_input: float = Field(0.0, ge=0)
    price_per_1k_output: float = Field(0.0, ge=0)
    json_schema_mode: bool = Field(True, description="send the rubric's schema as response_format")


@register_backend("openai_compat")
class OpenAICompatBackend(Backend):
    name = "openai_compat"
    supports_audio = True
    supports_json_schema = True
    Options = OpenAICompatOptions

    def __init__(self, model: str, **kwargs: Any) -> None:
        o = OpenAICompatOptions(model=model, **kwargs)
        super().__init__(o.model, o.max_concurrency, **o.model_dump(exclude={"model", "max_concurrency", "api_key"}))
        base_url, api_key, api_key_env, timeout_s = o.base_url, o.api_key, o.api_key_env, o.timeout_s
        openai = require("openai", "llm")
        key = api_key or os.environ.get(api_key_env)
        if not key:
            if base_url is None:
                raise ConfigError(f"No API key: set {api_key_env} or pass api_key in the preset")
            key = "not-needed"  # local servers accept any key
        self._openai = openai
        # One client per 8 concurrent requests: httpcore scans every pooled connection for every queued
        # request, so one pool of 64 connections costs more CPU than the rest of a call (benchmarks/).
        self._clients = [openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=timeout_s)
                         for _ in range(max(1, -(-self.max_concurrency // 8)))]
        self._next = 0
        self.supports_json_schema = o.json_schema_mode

    def _messages(self, request: GenerationRequest) -> list[dict[str, Any]]:
        out = []
        for m in request.messages:
            content = m.get("content")
            if isinstance(content, list):
                parts = []
                for p in content:
                    if p.get("type") == "audio":
                        data = base64.b64encode(Path(p["path"]).read_bytes()).decode()
                        parts.append({"type": "input_audio", "input_audio": {"data": data, "format": "wav"}})
                    else:
                        parts.append({"type": "text", "text": p.get("text", "")})
                out.append({"role": m["role"], "content": parts})
            else:
                out.append({"role": m["role"], "content": content})
        return out

    def should_retry(self, exc: Exception) -> bool:
        o = self._openai
        if isinstance(exc, o.RateLimitError | o.APITimeoutError | o.APIConnectionError | o.APIResponseValidationError):
            return True
        if isinstance(exc, o.APIStatusError):
            return exc.status_code >= 500 or exc.status_code in (408, 409)
        # A 200 whose body is not the expected JSON (truncated, malformed) surfaces as a decode error.
        return isinstance(exc, ValueError | KeyError | TypeError | AttributeError)

    async def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        kwargs: dict[str, Any] = {"model": self.model, "messages": self._messages(request),
                                  "max_tokens": request.max_tokens, "temperature": request.temperature}
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.json_schema and self.supports_json_schema:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "output", "schema": request.json_schema, "strict": True}}
        t0 = time.perf_counter()
        client = self._clients[self._next % len(self._clients)]
        self._next += 1
        # The client's low-level post: same auth, base URL and status-error mapping as chat.completions.create,
        # without its typed request transforms and response models, which cost more CPU per call than
        # everything else here (benchmarks/RESULTS.md). One attempt; the base class retries.
        body = await client.post("/chat/completions", body=kwargs, cast_to=str)
        resp = json.loads(body)
        text = resp["choices"][0]["message"]["content"]
        if not isinstance(text, str):
            raise ValueError("response has no message content")
        usage = resp.get("usage") or {}
        tin, tout = usage.get("prompt_tokens"), usage.get("completion_tokens")
        cost = ((tin or 0) * self.options["price_per_1k_input"] + (tout or 0) * self.options["price_per_1k_output"]) / 1000
        return GenerationResult(text=text, tokens_in=tin, tokens_out=tout, latency_s=time.perf_counter() - t0,
                                cost_usd=cost, model=resp.get("model", self.model))

    def close(self) -> None:
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed():
            for client in self._clients:
                loop.run_until_complete(client.close())
        super().close()
