"""The one interface to models: an async batch ``generate(requests) -> results``.

Back ends are the only code that talks to a model; advice runners and judges are both built on
them. A back end declares its concurrency and what it accepts (audio, JSON schemas), and records the
arguments it was built with (never secrets) so the log can rebuild the exact configuration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import ConfigError
from evalkit.records import content_hash
from evalkit.secrets import SECRET_KEYS, redact


@dataclass
class GenerationRequest:
    """A chat in OpenAI form. Content parts may be ``{"type": "text"}`` or ``{"type": "audio", "path": ...}``."""

    messages: list[dict[str, Any]]
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    key: str = ""

    @property
    def prompt_hash(self) -> str:
        return content_hash({"messages": self.messages, "schema": self.json_schema})


@dataclass
class GenerationResult:
    text: str | None
    error: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    cost_usd: float | None = None
    model: str | None = None
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


OnResult = Callable[[int, "GenerationResult"], None]


def report_each(results: list[GenerationResult], on_result: OnResult | None) -> list[GenerationResult]:
    """For back ends that finish a whole batch at once: hand each result to ``on_result`` in order."""
    if on_result is not None:
        for k, res in enumerate(results):
            on_result(k, res)
    return results


class Backend:
    """Base class. Subclasses implement ``_generate_one`` (async) or override ``generate``."""

    name = "base"
    supports_audio = False
    supports_json_schema = False

    def __init__(self, model: str | None = None, max_concurrency: int = 1, **options: Any) -> None:
        self.model = model
        self.max_concurrency = max(1, int(max_concurrency))
        self.options = options

    def config(self) -> dict[str, Any]:
        """The arguments this back end was built with, minus secrets: stored with every call."""
        return redact({"backend": self.name, "model": self.model, "max_concurrency": self.max_concurrency,
                       **{k: v for k, v in self.options.items() if k not in SECRET_KEYS}})

    @property
    def config_hash(self) -> str:
        return content_hash(self.config())

    async def _generate_one(self, request: GenerationRequest) -> GenerationResult:  # pragma: no cover - abstract
        raise NotImplementedError

    async def generate(self, requests: Sequence[GenerationRequest], on_result: OnResult | None = None) -> list[GenerationResult]:
        """Run a batch with at most ``max_concurrency`` in flight; results keep the request order.
        ``on_result(index, result)`` is called as each call completes (the call log writes it at once)."""
        sem = asyncio.Semaphore(self.max_concurrency)

        async def one(k: int, r: GenerationRequest) -> GenerationResult:
            async with sem:
                t = time.perf_counter()
                try:
                    res = await self._generate_one(r)
                except Exception as exc:  # a failure is a result, never a crash of the batch
                    res = GenerationResult(text=None, error=f"{type(exc).__name__}: {exc}"[:500], model=self.model)
                if res.latency_s is None:
                    res.latency_s = time.perf_counter() - t
                if on_result is not None:
                    on_result(k, res)
                return res

        return list(await asyncio.gather(*(one(k, r) for k, r in enumerate(requests))))

    def generate_sync(self, requests: Sequence[GenerationRequest], on_result: OnResult | None = None) -> list[GenerationResult]:
        """Run ``generate`` on this back end's own event loop, kept for its lifetime: HTTP clients bind
        their connection pools to the loop they first ran on, so a fresh loop per batch would break them."""
        loop = getattr(self, "_loop", None)
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.new_event_loop()
        return loop.run_until_complete(self.generate(list(requests), on_result=on_result))

    def close(self) -> None:
        """Release models or clients, and the event loop."""
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed():
            loop.close()


_REGISTRY: dict[str, Callable[..., Backend]] = {}


def register_backend(name: str) -> Callable[[Callable[..., Backend]], Callable[..., Backend]]:
    """Register a *factory*, so a back end's optional dependency is imported only when it is used."""

    def deco(factory: Callable[..., Backend]) -> Callable[..., Backend]:
        _REGISTRY[name] = factory
        return factory

    return deco


def create_backend(name: str, **kwargs: Any) -> Backend:
    import evalkit.backends  # noqa: F401  (registers the built-in factories)

    if name not in _REGISTRY:
        raise ConfigError(f"unknown backend {name!r}: choose one of {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)


def backend_names() -> list[str]:
    import evalkit.backends  # noqa: F401

    return sorted(_REGISTRY)


def text_of(message: dict[str, Any]) -> str:
    """The text parts of a message joined (audio parts dropped), for text-only models."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")


__all__ = ["Backend", "GenerationRequest", "GenerationResult", "backend_names", "create_backend", "register_backend", "text_of"]
