"""Any OpenAI-compatible endpoint (OpenAI, `vllm serve`, llama.cpp server…): POST /chat/completions over aiohttp.

Retries 429, 408, 409, 5xx, timeouts, connection errors and malformed bodies (``should_retry``; the base class
does the backoff, honouring Retry-After) up to ``max_attempts``. Audio goes as ``input_audio`` parts; a JSON schema as ``response_format``.

``base_url`` may list replicas of one model (several ``vllm serve`` processes): each call goes to the healthy
replica with the fewest requests outstanding; a retryable failure fails over at once to another replica; a
replica that fails ``replica_failures`` times in a row is set aside for ``replica_cooldown_s`` (doubling while
it keeps failing) and tried again after. Every result names the replica that answered (the call log keeps it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import Field, field_validator

from evalkit.backends.base import (
    Backend,
    BackendOptions,
    GenerationRequest,
    GenerationResult,
    register_backend,
)
from evalkit.errors import ConfigError, require
from evalkit.secrets import mask_url


class OpenAICompatOptions(BackendOptions):
    model: str = Field(description="the model name the endpoint serves")
    base_url: str | list[str] | None = Field(
        None, description="the endpoint, or a list of replicas of one model (calls go to the least busy healthy "
                          "one); None is OpenAI itself")
    replica_failures: int = Field(3, ge=1, le=100, description="failures in a row before a replica is set aside")
    replica_cooldown_s: float = Field(30.0, gt=0, le=3600, description="how long a failing replica is set aside at "
                                                                       "first (doubles, up to 10 min)")
    api_key: str | None = Field(None, description="programmatic use only: a config file may not hold a key")
    api_key_env: str = Field("OPENAI_API_KEY", description="the environment variable that holds the API key (the "
                                                           "key itself is never written to any file)")
    max_concurrency: int = Field(8, ge=1, le=1024, description="requests in flight at once (across all replicas)")
    max_attempts: int = Field(5, ge=1, le=20, description="tries per call before it is recorded as failed (retried "
                                                          "on the next run)")
    timeout_s: float = Field(60.0, gt=0, description="seconds before a request is abandoned and retried")
    price_per_1k_input: float = Field(0.0, ge=0, description="price per 1,000 prompt tokens, for the cost column "
                                                             "of the call log")
    price_per_1k_output: float = Field(0.0, ge=0, description="price per 1,000 completion tokens, for the cost "
                                                              "column of the call log")
    json_schema_mode: bool = Field(True, description="send the rubric's schema as response_format")

    @field_validator("base_url")
    @classmethod
    def _replicas(cls, v: str | list[str] | None) -> str | list[str] | None:
        urls = [v] if isinstance(v, str) else (v or [])
        if isinstance(v, list) and not v:
            raise ValueError("give at least one URL, or leave base_url out for OpenAI itself")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        if len(set(urls)) != len(urls):
            raise ValueError("a replica is listed twice")
        return v


OPENAI_BASE_URL = "https://api.openai.com/v1"


class APIStatusError(Exception):
    """A non-2xx answer; ``status_code`` decides whether it is retried, ``response.headers`` carries Retry-After."""

    def __init__(self, status: int, headers: Any, body: str) -> None:
        super().__init__(f"status {status}: {body[:200]}")
        self.status_code = status
        self.response = SimpleNamespace(headers=headers)


# Named as OpenAI's own client names them, so an error in the call log reads the same as it always has.
_STATUS_ERRORS = {code: type(name, (APIStatusError,), {}) for code, name in (
    (400, "BadRequestError"), (401, "AuthenticationError"), (403, "PermissionDeniedError"), (404, "NotFoundError"),
    (409, "ConflictError"), (422, "UnprocessableEntityError"), (429, "RateLimitError"))}
_SERVER_ERROR = type("InternalServerError", (APIStatusError,), {})


def status_error(status: int, headers: Any, body: str) -> APIStatusError:
    cls = _STATUS_ERRORS.get(status) or (_SERVER_ERROR if status >= 500 else APIStatusError)
    return cls(status, headers, body)


@dataclass(eq=False)
class Replica:
    """One endpoint of the model: the calls it has in flight and its recent failures."""

    url: str
    headers: dict[str, str] | None = None  # a URL with user:password in it (a proxy): basic auth for this replica
    outstanding: int = 0
    failures: int = 0  # in a row
    set_aside: int = 0  # times set aside in a row
    until: float = 0.0  # set aside until (monotonic clock)


@register_backend("openai_compat")
class OpenAICompatBackend(Backend):
    """One aiohttp session per event loop, shared by the replicas: the official client's typed request and
    response layers cost about 1.4 ms of CPU per call, which caps one process near 700 calls/s; a plain POST of
    the same JSON costs about 0.3 ms (benchmarks/RESULTS.md)."""

    name = "openai_compat"
    supports_audio = True
    supports_json_schema = True
    Options = OpenAICompatOptions

    def __init__(self, model: str, **kwargs: Any) -> None:
        o = OpenAICompatOptions(model=model, **kwargs)
        super().__init__(o.model, o.max_concurrency, **o.model_dump(exclude={"model", "max_concurrency", "api_key"}))
        urls = o.base_url if isinstance(o.base_url, list) else [o.base_url or OPENAI_BASE_URL]
        self._aiohttp = require("aiohttp", "llm")
        key = o.api_key or os.environ.get(o.api_key_env)
        if not key:
            if o.base_url is None:
                raise ConfigError(f"No API key: set {o.api_key_env} or pass api_key in the preset")
            key = "not-needed"  # local servers accept any key
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._timeout = self._aiohttp.ClientTimeout(total=o.timeout_s)
        self.replicas = [self._replica(url.rstrip("/")) for url in urls]
        self._session = None
        self._session_loop = None
        self._turn = 0
        self.supports_json_schema = o.json_schema_mode

    def _replica(self, url: str) -> Replica:
        """A replica; credentials in its URL (``http://user:pw@proxy/v1``) become its basic auth, not part of the URL."""
        from yarl import URL

        u = URL(url)
        if u.user is None:
            return Replica(url)
        auth = self._aiohttp.BasicAuth(u.user, u.password or "")
        return Replica(str(u.with_user(None)), {"Authorization": auth.encode()})

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
        if isinstance(exc, APIStatusError):
            return exc.status_code >= 500 or exc.status_code in (408, 409, 429)
        if isinstance(exc, self._aiohttp.ClientError | asyncio.TimeoutError | ConnectionError):
            return True
        # A 200 whose body is not the expected JSON (truncated, malformed) surfaces as a decode error.
        return isinstance(exc, ValueError | KeyError | TypeError | AttributeError | IndexError)

    async def generate(self, requests, on_result=None):
        """The base class's batch, with an HTTP session for this event loop: kept for the back end's own loop
        (``generate_sync``), closed at the end of a batch run on someone else's loop."""
        loop = asyncio.get_running_loop()
        if self._session_loop is not loop:
            self._session = self._aiohttp.ClientSession(
                connector=self._aiohttp.TCPConnector(limit=self.max_concurrency * len(self.replicas), limit_per_host=0),
                timeout=self._timeout, headers=self._headers)
            self._session_loop = loop
        try:
            return await super().generate(requests, on_result=on_result)
        finally:
            if loop is not getattr(self, "_loop", None):
                await self._session.close()
                self._session = self._session_loop = None

    async def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        kwargs: dict[str, Any] = {"model": self.model, "messages": self._messages(request),
                                  "max_tokens": request.max_tokens, "temperature": request.temperature}
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.json_schema and self.supports_json_schema:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "output", "schema": request.json_schema, "strict": True}}
        t0 = time.perf_counter()
        resp, replica = await self._post_to_a_replica(json.dumps(kwargs))
        choice = resp["choices"][0]
        text = choice["message"]["content"]
        if not isinstance(text, str):
            raise ValueError("response has no message content")
        usage = resp.get("usage") or {}
        tin, tout = usage.get("prompt_tokens"), usage.get("completion_tokens")
        cost = ((tin or 0) * self.options["price_per_1k_input"] + (tout or 0) * self.options["price_per_1k_output"]) / 1000
        extra = {"replica": mask_url(replica.url)} if len(self.replicas) > 1 else {}
        if choice.get("finish_reason"):
            extra["finish_reason"] = choice["finish_reason"]
        return GenerationResult(text=text, tokens_in=tin, tokens_out=tout, latency_s=time.perf_counter() - t0,
                                cost_usd=cost, model=resp.get("model", self.model), extra=extra)

    async def _post(self, replica: Replica, body: str) -> dict[str, Any]:
        async with self._session.post(f"{replica.url}/chat/completions", data=body, headers=replica.headers) as r:
            raw = await r.read()
            if r.status >= 300:
                raise status_error(r.status, r.headers, raw.decode("utf-8", "replace"))
        resp = json.loads(raw)
        if not isinstance(resp, dict):
            raise ValueError("response body is not a JSON object")
        return resp

    async def _post_to_a_replica(self, body: str) -> tuple[dict[str, Any], Replica]:
        """One attempt: the least busy healthy replica, failing over at once to each other replica on a retryable
        failure (a bad request is not the replica's fault and is not tried elsewhere)."""
        tried: set[int] = set()
        while True:
            replica = self._pick(tried)
            tried.add(id(replica))
            replica.outstanding += 1
            try:
                resp = await self._post(replica, body)
            except Exception as exc:
                if not self.should_retry(exc):
                    raise
                self._failed(replica)
                if len(tried) >= len(self.replicas):
                    raise
                continue
            finally:
                replica.outstanding -= 1
            replica.failures = replica.set_aside = 0
            return resp, replica

    def _pick(self, tried: set[int]) -> Replica:
        """The healthy replica with the fewest calls outstanding (ties in turn); if every untried one is set aside,
        the one that comes back first."""
        now = time.monotonic()
        untried = [r for r in self.replicas if id(r) not in tried]
        healthy = [r for r in untried if r.until <= now]
        if not healthy:
            return min(untried, key=lambda r: r.until)
        self._turn += 1
        n = len(self.replicas)
        return min(healthy, key=lambda r: (r.outstanding, (self.replicas.index(r) - self._turn) % n))

    def _failed(self, replica: Replica) -> None:
        replica.failures += 1
        if len(self.replicas) > 1 and replica.failures >= self.options["replica_failures"]:
            replica.set_aside += 1
            replica.until = time.monotonic() + min(600.0, self.options["replica_cooldown_s"] * 2 ** (replica.set_aside - 1))
            replica.failures = 0

    def close(self) -> None:
        loop = getattr(self, "_loop", None)
        if self._session is not None and loop is not None and not loop.is_closed() and self._session_loop is loop:
            loop.run_until_complete(self._session.close())
            self._session = self._session_loop = None
        super().close()
