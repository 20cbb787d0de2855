"""The back-end contract: options validated against each back end's own model, retries in the base class, and a
third-party back end that is one module plus one entry point (a real ``evalkit.backends`` entry point, found by
importlib.metadata in a dist-info folder on the path, exactly as `pip install` would leave it)."""

import asyncio
import os
import textwrap

import pytest
import yaml

from evalkit.backends import GenerationRequest, create_backend
from evalkit.backends.base import Backend, BackendOptions
from evalkit.errors import ConfigError
from tests.conftest import run_cli

ECHO = textwrap.dedent('''
    """A third-party back end: it echoes the last user message with a prefix."""
    from evalkit.backends.base import Backend, BackendOptions, GenerationResult, text_of


    class EchoOptions(BackendOptions):
        model: str = "echo"
        prefix: str = "echo:"


    class EchoBackend(Backend):
        name = "echo"
        Options = EchoOptions

        def __init__(self, **kwargs):
            o = EchoOptions(**kwargs)
            super().__init__(o.model, o.max_concurrency, prefix=o.prefix)

        async def _generate_one(self, request):
            return GenerationResult(text=f"{self.options['prefix']} Raise the bass by 2 dB. ({len(text_of(request.messages[-1]))} chars)",
                                    model=self.model)
''')


@pytest.fixture
def echo_package(tmp_path):
    site = tmp_path / "site"
    (site / "echo_backend-0.1.dist-info").mkdir(parents=True)
    (site / "echo_backend.py").write_text(ECHO)
    (site / "echo_backend-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-backend\nVersion: 0.1\n")
    (site / "echo_backend-0.1.dist-info" / "entry_points.txt").write_text("[evalkit.backends]\necho = echo_backend:EchoBackend\n")
    return site


def _systems(tmp_path, backend):
    path = tmp_path / "systems.yaml"
    path.write_text(yaml.safe_dump({"systems": [{"name": "ext", "kind": "llm", "condition": "stems", "backend": backend}]}))
    return path


def test_a_third_party_backend_is_one_module_and_one_entry_point(echo_package, small_testset, tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(echo_package), os.environ.get("PYTHONPATH", "")])}
    ok = run_cli("generate", "--testset", small_testset, "--systems", _systems(tmp_path, {"name": "echo", "prefix": ">>"}),
                 "--out", tmp_path / "run", "--quiet", env=env)
    assert ok.returncode == 0, ok.stderr
    from evalkit.store import Store

    texts = [a.text for a in Store(tmp_path / "run").advice()]
    assert texts and all(t.startswith(">> Raise the bass by 2 dB.") for t in texts)
    typo = run_cli("generate", "--testset", small_testset, "--systems", _systems(tmp_path, {"name": "echo", "prefx": ">>"}),
                   "--out", tmp_path / "run2", env=env)
    assert typo.returncode == 2 and "prefx" in typo.stderr and "prefix" in typo.stderr and "Traceback" not in typo.stderr


@pytest.mark.parametrize("name,options,word", [
    ("transformers", {"model": "x", "tempreature": 0.1}, "tempreature"),
    ("openai_compat", {"model": "m", "base_url": "http://127.0.0.1:9", "max_attempts": 0}, "max_attempts"),
    ("vllm", {"model": "m", "gpu_memory_utilization": 3}, "gpu_memory_utilization"),
    ("skynet", {"model": "m"}, "unknown backend"),
])
def test_options_are_validated_for_every_backend(name, options, word):
    with pytest.raises(ConfigError, match=word):
        create_backend(name, **options)


class Flaky(Backend):
    """Fails ``failures`` times, then answers; retryable errors are ConnectionErrors."""

    name = "flaky"
    Options = BackendOptions

    def __init__(self, failures: int, **kwargs):
        super().__init__("flaky", 1, **BackendOptions(**kwargs).model_dump(exclude={"model", "max_concurrency"}))
        self.failures, self.calls = failures, 0

    def should_retry(self, exc):
        return isinstance(exc, ConnectionError)

    async def _generate_one(self, request):
        from evalkit.backends import GenerationResult

        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"refused #{self.calls}")
        return GenerationResult(text="ok")


def test_retries_live_in_the_base_class():
    req = [GenerationRequest(messages=[{"role": "user", "content": "hi"}])]
    b = Flaky(2, max_attempts=3, backoff_base_s=0.0)
    [res] = asyncio.run(b.generate(req))
    assert res.ok and res.attempts == 3 and b.calls == 3 and len(res.extra["retried"]) == 2
    b = Flaky(5, max_attempts=3, backoff_base_s=0.0)
    [res] = asyncio.run(b.generate(req))
    assert not res.ok and res.attempts == 3 and "refused #3" in res.error
    b = Flaky(1)  # the default is one attempt: retrying is each back end's choice
    [res] = asyncio.run(b.generate(req))
    assert not res.ok and b.calls == 1
