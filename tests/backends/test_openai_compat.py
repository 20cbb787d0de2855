"""The OpenAI-compatible back end against a real HTTP server on 127.0.0.1 with scripted faults."""

import asyncio
import time

import pytest

from evalkit.backends import GenerationRequest, create_backend
from tests.fake_openai import FakeOpenAI, Reply


def _req(text="hi", **kw):
    return GenerationRequest(messages=[{"role": "user", "content": text}], max_tokens=20, **kw)


def _backend(url, **kw):
    opts = dict(model="fake", base_url=url, max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=1.0)
    opts.update(kw)
    return create_backend("openai_compat", **opts)


def test_success_usage_and_cost():
    with FakeOpenAI(lambda r, n: Reply("raise the bass 3 dB")) as srv:
        b = _backend(srv.base_url, price_per_1k_input=1.0, price_per_1k_output=2.0)
        [res] = asyncio.run(b.generate([_req()]))
    assert res.ok and res.text == "raise the bass 3 dB" and res.attempts == 1
    assert (res.tokens_in, res.tokens_out) == (10, 5)
    assert res.cost_usd == pytest.approx((10 * 1.0 + 5 * 2.0) / 1000)


def test_429_honours_retry_after_then_succeeds():
    def script(req, n):
        return Reply(status=429, headers={"retry-after": "0.3"}) if n == 0 else Reply("fine")

    with FakeOpenAI(script) as srv:
        b = _backend(srv.base_url)
        [res] = asyncio.run(b.generate([_req()]))
        gap = srv.times[1] - srv.times[0]
    assert res.ok and res.attempts == 2
    assert gap >= 0.29, "the Retry-After of 0.3 s was not honoured"


def test_retry_after_is_capped():
    with FakeOpenAI(lambda r, n: Reply(status=429, headers={"retry-after": "100"}) if n == 0 else Reply("ok")) as srv:
        b = _backend(srv.base_url, retry_after_max_s=0.1)
        t = time.perf_counter()
        [res] = asyncio.run(b.generate([_req()]))
    assert res.ok and time.perf_counter() - t < 5


def test_500_timeout_and_malformed_are_retried_with_a_bound():
    plan = [Reply(status=500), Reply(delay_s=1.5), Reply(raw_body=b'{"choices": [ {"mess'), Reply("recovered")]
    with FakeOpenAI(lambda r, n: plan[n]) as srv:
        [res] = asyncio.run(_backend(srv.base_url).generate([_req()]))
    assert res.ok and res.text == "recovered" and res.attempts == 4

    with FakeOpenAI(lambda r, n: Reply(status=503)) as srv:
        [res] = asyncio.run(_backend(srv.base_url, max_attempts=3).generate([_req()]))
        calls = len(srv.requests)
    assert not res.ok and calls == 3 and "after 3 attempt(s)" in res.error


def test_client_errors_are_not_retried():
    with FakeOpenAI(lambda r, n: Reply(status=400)) as srv:
        [res] = asyncio.run(_backend(srv.base_url).generate([_req()]))
        assert len(srv.requests) == 1
    assert not res.ok and "BadRequest" in res.error


def test_backoff_is_bounded_full_jitter():
    with FakeOpenAI() as srv:
        b = _backend(srv.base_url, backoff_base_s=0.5, backoff_max_s=2.0)
    waits = [b.backoff(k, None) for k in range(10) for _ in range(50)]
    assert min(waits) >= 0 and max(waits) <= 2.0
    assert b.backoff(3, 1.5) == 1.5


def test_concurrency_is_bounded_and_order_kept():
    active, peak = [0], [0]
    import threading

    lock = threading.Lock()

    def script(req, n):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return Reply(req["messages"][0]["content"].upper())

    with FakeOpenAI(script) as srv:
        res = asyncio.run(_backend(srv.base_url, max_concurrency=3).generate([_req(f"m{k}") for k in range(12)]))
    assert [r.text for r in res] == [f"M{k}" for k in range(12)]
    assert peak[0] <= 3


def test_json_schema_and_audio_parts_are_sent(tmp_path):
    import numpy as np

    from evalkit.audio.io import write_audio

    wav = write_audio(tmp_path / "mix.wav", np.zeros((2, 100)), 8000)
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    req = GenerationRequest(messages=[{"role": "user", "content": [{"type": "audio", "path": str(wav)}, {"type": "text", "text": "rate"}]}],
                            json_schema=schema)
    with FakeOpenAI(lambda r, n: Reply('{"score": 3}')) as srv:
        asyncio.run(_backend(srv.base_url).generate([req]))
        sent = srv.requests[0]
    assert sent["response_format"]["json_schema"]["schema"] == schema
    parts = sent["messages"][0]["content"]
    assert parts[0]["type"] == "input_audio" and parts[0]["input_audio"]["format"] == "wav"


def test_missing_key_for_a_public_endpoint_says_how_to_fix(monkeypatch):
    from evalkit.errors import ConfigError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
        create_backend("openai_compat", model="gpt-4o")


def test_unknown_backend_lists_the_choices():
    from evalkit.errors import ConfigError

    with pytest.raises(ConfigError, match="openai_compat, transformers, vllm"):
        create_backend("nope")


def test_vllm_is_imported_lazily():
    import sys

    from evalkit.backends import backend_names

    assert "vllm" in backend_names() and "vllm" not in sys.modules
