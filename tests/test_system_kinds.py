"""System kinds have a registry, as back ends do (issue #26): a kind from another package is one module, listed under
the evalkit.system_kinds entry points. This follows docs/architecture.md's recipe end to end with a toy kind; an
unknown kind is refused naming the choices; a bound kind stays out of every contrast."""

import importlib.metadata

import pytest

from evalkit.errors import ConfigError
from evalkit.systems import kinds
from evalkit.systems.base import SystemConfig, parse_systems
from tests.conftest import run_cli

TOY = '''
from evalkit.systems.base import AdviceSystem
from evalkit.systems.kinds import SystemKind


class LoudVocals(AdviceSystem):
    """Always the same advice: a toy kind."""

    def advise(self, item):
        return "Raise the vocals by 2 dB."


KIND = SystemKind("loud-vocals", "toy_kind:LoudVocals", description="always raises the vocals")
'''


@pytest.fixture
def toy_kind(tmp_path, monkeypatch):
    (tmp_path / "toy_kind.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint(name="loud-vocals", value="toy_kind:KIND", group=kinds.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None, **kw: [ep] if group == kinds.ENTRY_POINT_GROUP else [])
    kinds._plugins.cache_clear()
    yield
    kinds._plugins.cache_clear()


def test_a_kind_from_another_package_generates_and_is_judged(toy_kind, small_testset, tmp_path):
    from evalkit.generate import generate
    from evalkit.judging.rubrics import load_judge
    from evalkit.judging.stage import judge_run
    from evalkit.store import Store

    systems = parse_systems([{"name": "toy", "kind": "loud-vocals", "conditions": ["mix", "stems"]},
                             {"name": "analytic", "kind": "analytic", "condition": "mix"}], "test")
    assert not systems[0].is_bound
    generate(small_testset, systems, tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    toy = [a for a in store.advice() if a.system == "toy"]
    assert toy and {a.text for a in toy} == {"Raise the vocals by 2 dB."} and {a.condition.value for a in toy} == {"mix", "stems"}
    judge_run(store, load_judge("judges/reference.yaml"), show_progress=False)
    assert {j.advice_id for j in store.judgments("reference")} >= {a.id for a in toy}


def test_an_unknown_kind_is_refused_naming_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown system kind 'analytik'.*analytic"):
        SystemConfig(name="x", kind="analytik", condition="mix")
    (tmp_path / "s.yaml").write_text("systems:\n  - {name: x, kind: analytik, condition: mix}\n")
    r = run_cli("generate", "--testset", tmp_path, "--systems", tmp_path / "s.yaml", "--out", tmp_path / "run")
    assert r.returncode == 2 and "analytik" in r.stderr and "Traceback" not in r.stderr


def test_bounds_are_the_kinds_that_say_so():
    assert {k.name for k in kinds.system_kinds().values() if k.bound} == {"oracle", "generic"}
    with pytest.raises(ConfigError, match="choose one of"):
        kinds.kind_of("nope")
