"""The one interface to models: an async batch ``generate(requests) -> results``.

Back ends are the only code that talks to a model; advice systems and judges are both built on
them. A back end declares its options as a pydantic model (``Options``: unknown keys are errors), its
concurrency and what it accepts (audio, JSON schemas), and records the arguments it was built with
(never secrets) so the log can rebuild the exact configuration. Retries live here: a back end that
implements ``_generate_one`` says which failures are worth retrying (``should_retry``) and the base
class retries them with jittered exponential backoff (honouring a server's Retry-After).

A new back end is one module with a ``Backend`` subclass, registered with ``register_backend`` (built-in)
or through the ``evalkit.backends`` entry-point group (a separate package: ``name = "module:Class"``).
"""

from __future__ import annotations

import asyncio
import importlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class BackendOptions(BaseModel):
    """Options every back end takes; a back end's own ``Options`` subclass adds its fields. Unknown keys are
    errors, so a typo in a preset stops the run and names the option instead of being ignored."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    max_concurrency: int = Field(1, ge=1, le=1024, description="calls in flight at once")
    max_attempts: int = Field(1, ge=1, le=20, description="tries per call for failures the back end calls "
                                                          "retryable")
    backoff_base_s: float = Field(0.5, ge=0, description="first retry delay in seconds (doubled each try, with "
                                                         "jitter; Retry-After is obeyed)")
    backoff_max_s: float = Field(8.0, ge=0, description="longest retry delay in seconds")
    retry_after_max_s: float = Field(30.0, ge=0, description="cap on a server's Retry-After")


def retry_after_of(exc: Exception) -> float | None:
    """A server's Retry-After in seconds, when the exception carries an HTTP response that sent one."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Backend:
    """Base class. Subclasses implement ``_generate_one`` (async, one attempt; raise on failure) or override
    ``generate`` for batch back ends, and declare ``Options``."""

    name = "base"
    supports_audio = False
    supports_json_schema = False
    Options: ClassVar[type[BackendOptions]] = BackendOptions

    def __init__(self, model: str | None = None, max_concurrency: int = 1, **options: Any) -> None:
        self.model = model
        self.max_concurrency = max(1, int(max_concurrency))
        self.options = options

    @classmethod
    def validated(cls, **kwargs: Any) -> dict[str, Any]:
        """``kwargs`` checked against ``Options``: unknown or ill-typed options are a ConfigError naming them."""
        try:
            return cls.Options(**kwargs).model_dump()
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(map(str, e["loc"])) or "options"
            known = ", ".join(sorted(cls.Options.model_fields))
            hint = f"; {cls.name} takes: {known}" if e["type"] == "extra_forbidden" else ""
            raise ConfigError(f"backend {cls.name}: option {where!r}: {e['msg']}{hint}") from exc

    def should_retry(self, exc: Exception) -> bool:
        """Whether a failed attempt is worth another (rate limits, timeouts, 5xx). Default: never."""
        return False

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff, or the server's Retry-After (capped) when it gave one."""
        if retry_after is not None:
            return min(retry_after, self.options.get("retry_after_max_s", 30.0))
        cap = min(self.options.get("backoff_max_s", 8.0), self.options.get("backoff_base_s", 0.5) * 2**attempt)
        return random.uniform(0, cap)

    async def _with_retries(self, request: GenerationRequest) -> GenerationResult:
        """``_generate_one`` until it succeeds, a failure is not retryable, or ``max_attempts`` are spent;
        every failed attempt's error is kept on the result."""
        errors: list[str] = []
        t0 = time.perf_counter()
        attempts = int(self.options.get("max_attempts", 1))
        for attempt in range(attempts):
            try:
                res = await self._generate_one(request)
                res.attempts = attempt + 1
                if errors:
                    res.extra = {**res.extra, "retried": errors}
                return res
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")
                if attempt == attempts - 1 or not self.should_retry(exc):
                    break
                await asyncio.sleep(self.backoff(attempt, retry_after_of(exc)))
        return GenerationResult(text=None, error=f"after {len(errors)} attempt(s): {errors[-1]}", attempts=len(errors),
                                latency_s=time.perf_counter() - t0, model=self.model, extra={"errors": errors})

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
        ``on_result(index, result)`` is called as each call completes (the call log writes it at once).
        ``max_concurrency`` lanes each take the next request when their last one is done: no task per request
        waiting on a semaphore, which at high concurrency costs the event loop more than the calls do."""
        results: list[GenerationResult | None] = [None] * len(requests)
        queue = iter(enumerate(requests))

        async def lane() -> None:
            for k, r in queue:
                t = time.perf_counter()
                res = await self._with_retries(r)  # a failure is a result, never a crash of the batch
                if res.latency_s is None:
                    res.latency_s = time.perf_counter() - t
                results[k] = res
                if on_result is not None:
                    on_result(k, res)

        await asyncio.gather(*(lane() for _ in range(min(self.max_concurrency, len(requests)))))
        return results  # type: ignore[return-value]

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


_REGISTRY: dict[str, type[Backend]] = {}
ENTRY_POINT_GROUP = "evalkit.backends"
# The built-in back ends by name and module; importing a module registers its class (``@register_backend``). Named
# here rather than imported, so that this module imports none of them (no import cycle) and none is loaded unused.
BUILT_IN = {"openai_compat": "evalkit.backends.openai_compat", "transformers": "evalkit.backends.transformers_backend",
            "vllm": "evalkit.backends.vllm_backend"}


def register_backend(name: str) -> Callable[[type[Backend]], type[Backend]]:
    """Register a built-in back end class under ``name`` (its optional dependencies are imported only when
    an instance needs them)."""

    def deco(cls: type[Backend]) -> type[Backend]:
        _REGISTRY[name] = cls
        return cls

    return deco


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def backend_class(name: str) -> type[Backend]:
    """The back end registered as ``name``: built in, or from another package's ``evalkit.backends`` entry point."""
    if name not in _REGISTRY and name in BUILT_IN:
        importlib.import_module(BUILT_IN[name])  # registers the class
    if name in _REGISTRY:
        return _REGISTRY[name]
    eps = _entry_points()
    if name not in eps:
        raise ConfigError(f"unknown backend {name!r}: choose one of {', '.join(backend_names())} "
                          f"(or install a package that adds one to the {ENTRY_POINT_GROUP!r} entry points)")
    try:
        cls = eps[name].load()
    except Exception as exc:
        raise ConfigError(f"backend {name!r}: its entry point {eps[name].value!r} does not load ({type(exc).__name__}: {exc})") from exc
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigError(f"backend {name!r}: entry point {eps[name].value!r} is not an evalkit Backend subclass")
    _REGISTRY[name] = cls
    return cls


def create_backend(name: str, **kwargs: Any) -> Backend:
    """An instance of back end ``name`` with its options validated (a typo is a ConfigError naming it)."""
    cls = backend_class(name)
    return cls(**cls.validated(**kwargs))


def backend_names() -> list[str]:
    return sorted(set(_REGISTRY) | set(BUILT_IN) | set(_entry_points()))


def text_of(message: dict[str, Any]) -> str:
    """The text parts of a message joined (audio parts dropped), for text-only models."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")


__all__ = ["ENTRY_POINT_GROUP", "Backend", "BackendOptions", "GenerationRequest", "GenerationResult", "backend_class", "backend_names",
           "create_backend", "register_backend", "retry_after_of", "text_of"]
