"""The run manifest (issue #26): one typed record of what a run is, written by the stages that make it and read by
every later one; provenance names the rubric versions the judgments were made with, not the files on disk now."""

import pytest
from pydantic import ValidationError

from evalkit.analysis_plan import AnalysisPlan
from evalkit.generate import generate
from evalkit.judging.rubrics import load_rubric
from evalkit.manifest import MANIFEST_KEY, declare_plan, read_manifest, update_manifest
from evalkit.records import Judgment
from evalkit.report.analysis import analyze
from evalkit.store import Store
from tests.conftest import judged_run
from tests.test_generate import ANALYTIC


def test_generate_judge_and_plan_fill_one_manifest(small_testset, tmp_path):
    store = judged_run(small_testset, tmp_path / "run", split="val")
    declare_plan(store, AnalysisPlan())
    m = read_manifest(store)
    assert m.split == "val" and [s.name for s in m.systems] == ["analytic", "oracle", "generic"]
    assert m.testset_checksum and m.testset_path and set(m.judges) == {"reference"}
    assert m.plan is not None and m.plan.advice_existed  # declared after advice: the report flags it
    assert store.get_meta("systems/val") is None and store.get_meta("split") is None  # no loose entries beside it


def test_a_misspelt_field_is_an_error_not_a_new_key(small_testset, tmp_path):
    generate(small_testset, ANALYTIC[:1], tmp_path / "run", show_progress=False)
    store = Store(tmp_path / "run")
    with pytest.raises(ValidationError, match="sytems"):
        update_manifest(store, sytems=[])
    with pytest.raises(ValidationError):
        update_manifest(store, systems=[{"name": "x", "kind": "no-such-kind"}])
    assert [s.name for s in read_manifest(store).systems] == ["analytic"]  # nothing half-written


def test_a_run_from_before_the_manifest_is_read_from_its_loose_entries(small_testset, tmp_path):
    generate(small_testset, ANALYTIC, tmp_path / "run", split="val", show_progress=False)
    store = Store(tmp_path / "run")
    m = read_manifest(store)
    with store.engine.begin() as conn:  # what a run written by evalkit before the manifest holds
        from evalkit.store.schema import run_meta

        conn.execute(run_meta.delete().where(run_meta.c.key == MANIFEST_KEY))
    store.set_meta("split", "val")
    store.set_meta("systems/val", [s.model_dump(mode="json") for s in m.systems])
    store.set_meta("testset_checksum", m.testset_checksum)
    store.set_meta("testset_path", m.testset_path)
    assert read_manifest(store) == m


def test_provenance_names_the_rubric_versions_judgments_used(small_testset, tmp_path):
    """A rubric edited after judging: provenance.json must name the version the stored judgments carry."""
    store = judged_run(small_testset, tmp_path / "run", ANALYTIC[:1])
    advice = store.advice()[:3]
    used = "0123456789abcdef"
    assert load_rubric("specificity").hash != used  # the file on disk now is another version
    store.put_judgments([Judgment(advice_id=a.id, judge="api-judge", rubric="specificity", rubric_hash=used, protocol="absolute",
                                  score=4.0) for a in advice])
    prov = analyze(store, bootstrap=0).provenance
    assert prov["rubric_hashes"]["specificity"] == used
    assert prov["split"] == "test" and prov["systems_config"] == read_manifest(store).systems_hash()


def _add_judges(target: str, names: list[str], barrier) -> None:
    """One process of the race below: each name added to the manifest's judges as its own edit."""
    from evalkit.judging.rubrics import JudgePreset
    from evalkit.manifest import add_to_manifest

    store = Store(target, create=False)
    barrier.wait()
    for name in names:
        add_to_manifest(store, "judges", name, JudgePreset(name=name, protocol="reference"))
    store.dispose()


@pytest.mark.parametrize("store_target", ["sqlite", "postgresql"], indirect=True)
def test_two_processes_adding_judges_at_once_lose_none(store_target):
    """Two `evalkit judge` processes with different presets write the manifest at the same moment. Each edit is one
    transaction (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), so all 2 × 15 judges are kept; the
    read-then-write it replaced lost some of them in this race on both stores (checked by putting it back)."""
    import multiprocessing as mp

    Store(store_target).dispose()  # created and migrated once, before the race
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    names = [[f"p{k}-judge{n}" for n in range(15)] for k in range(2)]
    procs = [ctx.Process(target=_add_judges, args=(str(store_target), names[k], barrier)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    store = Store(store_target, create=False)
    assert set(read_manifest(store).judges) == {n for group in names for n in group}
    store.dispose()
