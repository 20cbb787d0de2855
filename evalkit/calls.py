"""Send a batch through a back end and log every call in the run store (stage, prompt, response, usage)."""

from __future__ import annotations

from collections.abc import Sequence

from evalkit.backends.base import Backend, GenerationRequest, GenerationResult
from evalkit.store import Store


def run_logged(backend: Backend, requests: Sequence[GenerationRequest], store: Store, stage: str) -> list[GenerationResult]:
    results = backend.generate_sync(requests)
    config = backend.config()
    store.log_calls([
        {"stage": stage, "backend": backend.name, "model": res.model or backend.model,
         "params": {**config, "max_tokens": req.max_tokens, "temperature": req.temperature, "seed": req.seed,
                    "json_schema": bool(req.json_schema), "attempts": res.attempts, "key": req.key},
         "prompt": req.messages, "prompt_hash": req.prompt_hash, "response": res.text, "tokens_in": res.tokens_in,
         "tokens_out": res.tokens_out, "latency_s": res.latency_s, "cost_usd": res.cost_usd, "error": res.error}
        for req, res in zip(requests, results, strict=True)])
    return results


__all__ = ["run_logged"]
