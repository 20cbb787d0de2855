"""Send a batch through a back end and log every call in the run store (stage, prompt, response, usage)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from evalkit.backends.base import Backend, GenerationRequest, GenerationResult
from evalkit.store import Store


def run_logged(backend: Backend, requests: Sequence[GenerationRequest], store: Store, stage: str,
               by: str | None = None, tags: Sequence[dict[str, Any]] | None = None,
               then: Callable[[int, GenerationResult], None] | None = None) -> list[GenerationResult]:
    """Each call is written to the log the moment it completes, so a kill loses no completed (and billed)
    call's record, only the calls still in flight. ``by`` names who made the calls (a judge), kept in params;
    ``tags[k]`` adds to call k's params (the worker, and whose expired lease it took over); the replica that
    answered is kept too. ``then(k, result)`` runs right after call k is logged (saving its advice)."""
    config = {**backend.config(), **({"by": by} if by else {})}
    requests = list(requests)

    def log(k: int, res: GenerationResult) -> None:
        req = requests[k]
        replica = {"replica": res.extra["replica"]} if res.extra.get("replica") else {}
        store.log_calls([
            {"stage": stage, "backend": backend.name, "model": res.model or backend.model,
             "params": {**config, "max_tokens": req.max_tokens, "temperature": req.temperature, "seed": req.seed,
                        "json_schema": bool(req.json_schema), "attempts": res.attempts, "key": req.key,
                        **replica, **(tags[k] if tags else {})},
             "prompt": req.messages, "prompt_hash": req.prompt_hash, "response": res.text, "tokens_in": res.tokens_in,
             "tokens_out": res.tokens_out, "latency_s": res.latency_s, "cost_usd": res.cost_usd, "error": res.error}])
        if then is not None:
            then(k, res)

    return backend.generate_sync(requests, on_result=log)


__all__ = ["run_logged"]
