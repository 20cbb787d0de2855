"""Replicas of one model behind one back end (issue #22): calls go to the least busy healthy replica, a failing
replica's calls fail over to the others at once, and it is set aside, then tried again after its cool-down.
Real HTTP servers on 127.0.0.1."""

import asyncio
import json
from collections import Counter

import pytest

from evalkit.backends import GenerationRequest, create_backend
from evalkit.errors import ConfigError
from tests.fake_openai import FakeOpenAI, Reply


def _reqs(n):
    return [GenerationRequest(messages=[{"role": "user", "content": f"advice {k}"}], max_tokens=20) for k in range(n)]


def _backend(urls, **kw):
    return create_backend("openai_compat", **{"model": "fake", "base_url": urls, "max_attempts": 3, "backoff_base_s": 0.01,
                                              "backoff_max_s": 0.02, "timeout_s": 2.0, "max_concurrency": 6, **kw})


def test_one_failing_replica_of_three_every_call_lands_on_a_healthy_one():
    healthy = lambda r, n: Reply("Lower the drums 2 dB.", delay_s=0.02)  # noqa: E731
    with FakeOpenAI(healthy) as a, FakeOpenAI(lambda r, n: Reply(status=503)) as bad, FakeOpenAI(healthy) as c:
        b = _backend([a.base_url, bad.base_url, c.base_url], replica_failures=2, replica_cooldown_s=60)
        results = asyncio.run(b.generate(_reqs(90)))
        seen = Counter(r.extra["replica"] for r in results)
        sent_to_bad = len(bad.requests)
    assert all(r.ok for r in results)
    assert set(seen) == {a.base_url, c.base_url}  # every answer came from a healthy replica
    assert min(seen.values()) >= 30  # and the two shared the work
    # the failing one got only the calls in flight before it was set aside (two failures in a row; 6 at once)
    assert sent_to_bad <= 6 + 2
    assert all(r.attempts == 1 for r in results)  # failover happens inside one attempt: no backoff spent


def test_calls_go_to_the_replica_with_the_fewest_outstanding():
    with FakeOpenAI(lambda r, n: Reply("ok", delay_s=0.01)) as fast, FakeOpenAI(lambda r, n: Reply("ok", delay_s=0.2)) as slow:
        b = _backend([fast.base_url, slow.base_url], max_concurrency=4)
        results = asyncio.run(b.generate(_reqs(60)))
    seen = Counter(r.extra["replica"] for r in results)
    assert seen[fast.base_url] > 3 * seen[slow.base_url] > 0  # round robin would give each 30


def test_a_set_aside_replica_is_tried_again_after_its_cool_down():
    state = {"down": True}
    with FakeOpenAI(lambda r, n: Reply("ok")) as a, FakeOpenAI(lambda r, n: Reply(status=500) if state["down"] else Reply("ok")) as b:
        backend = _backend([a.base_url, b.base_url], replica_failures=1, replica_cooldown_s=0.3, max_concurrency=1)
        loop = asyncio.new_event_loop()
        first = loop.run_until_complete(backend.generate(_reqs(10)))
        state["down"] = False
        loop.run_until_complete(asyncio.sleep(0.35))
        second = loop.run_until_complete(backend.generate(_reqs(10)))
        loop.close()
    assert all(r.ok for r in first + second)
    assert Counter(r.extra["replica"] for r in first)[b.base_url] == 0
    assert Counter(r.extra["replica"] for r in second)[b.base_url] >= 4  # back in the rotation


def test_a_bad_request_is_not_failed_over():
    with FakeOpenAI(lambda r, n: Reply(status=400)) as a, FakeOpenAI(lambda r, n: Reply(status=400)) as b:
        [res] = asyncio.run(_backend([a.base_url, b.base_url]).generate(_reqs(1)))
        sent = len(a.requests) + len(b.requests)
    assert not res.ok and sent == 1


def test_every_logged_call_names_its_replica(small_testset, tmp_path):
    from evalkit.generate import generate
    from evalkit.store import Store
    from evalkit.systems import parse_systems

    with FakeOpenAI(lambda r, n: Reply("Raise the bass 2 dB.")) as a, FakeOpenAI(lambda r, n: Reply("Raise the bass 2 dB.")) as b:
        systems = parse_systems([{"name": "api", "kind": "llm", "condition": "mix", "backend": {
            "name": "openai_compat", "model": "fake", "base_url": [a.base_url, b.base_url], "max_concurrency": 4}}], "t")
        generate(small_testset, systems, tmp_path / "run", show_progress=False)
    calls = Store(tmp_path / "run").calls_frame()
    replicas = Counter(json.loads(p)["replica"] for p in calls.params)
    assert set(replicas) == {a.base_url, b.base_url} and sum(replicas.values()) == len(calls)


@pytest.mark.parametrize("urls, words", [([], "at least one URL"), (["ftp://x"], "not an http"),
                                         (["http://a/v1", "http://a/v1"], "listed twice")])
def test_bad_replica_lists_are_refused(urls, words):
    with pytest.raises(ConfigError, match=words):
        _backend(urls)


def test_replicas_are_not_part_of_a_systems_identity():
    """Two machines of one run, each with its own endpoints, make the same system (config hash)."""
    from evalkit.records import Condition
    from evalkit.systems import parse_systems

    def system(url, concurrency):
        return parse_systems([{"name": "api", "kind": "llm", "condition": "mix", "backend": {
            "name": "openai_compat", "model": "m", "base_url": url, "max_concurrency": concurrency}}], "t")[0]

    one = system(["http://gpu1:8000/v1", "http://gpu2:8000/v1"], 64).run_hash(Condition.mix)
    assert one == system("http://localhost:8000/v1", 8).run_hash(Condition.mix)
    other_model = parse_systems([{"name": "api", "kind": "llm", "condition": "mix", "backend": {
        "name": "openai_compat", "model": "m2", "base_url": "http://localhost:8000/v1"}}], "t")[0]
    assert other_model.run_hash(Condition.mix) != one
