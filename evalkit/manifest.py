"""The run manifest: what a run is (test set, split, systems, judges, analysis plan), in one typed record.

Each stage that makes a part of the run writes its part here (`generate` the test set, split and systems; `judge` each
judge's preset; `run` the plan), and every later stage (judging, the report, the viewer, scoring) reads the same
record. Before it, each stage kept loose entries in the store's metadata under its own key names, and a reader that
spelled a key another way (``systems/test`` for a ``--split val`` run) silently found nothing.

Runs written before the manifest existed are read from their loose entries (`read_manifest`), so they keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalkit.analysis_plan import AnalysisPlan
from evalkit.judging.reference import REFERENCE_JUDGE, ReferenceOptions
from evalkit.judging.rubrics import JudgePreset
from evalkit.records import content_hash, utc_now
from evalkit.systems.base import SystemConfig

MANIFEST_KEY = "manifest"


class DeclaredPlan(BaseModel):
    """The analysis plan as declared in the run: when, whether advice existed then (a plan revised after the data is
    flagged in the report), and the declaration it replaced."""

    model_config = ConfigDict(extra="forbid")
    plan: AnalysisPlan
    hash: str
    declared_at: str
    advice_existed: bool
    previous: DeclaredPlan | None = None


class RunManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    testset_path: str | None = Field(None, description="where the test set was when the run was made (grounded judges read it)")
    testset_checksum: str | None = Field(None, description="the test set's content hash; another test set is refused")
    split: str = Field("test", description="the split the systems advised on")
    systems: list[SystemConfig] = Field(default_factory=list, description="the systems of that split, as configured")
    judges: dict[str, JudgePreset] = Field(default_factory=dict, description="each judge's preset, by judge name")
    reader_agreement: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per reference judge: its LLM "
                                                        "reader's agreement with the rules reader")
    plan: DeclaredPlan | None = None

    def reference_options(self) -> ReferenceOptions:
        """The settings the run's reference judge was run with (the defaults before it ran)."""
        preset = self.judges.get(REFERENCE_JUDGE)
        return (preset.reference if preset else None) or ReferenceOptions()

    def systems_hash(self) -> str:
        return content_hash([s.model_dump(mode="json") for s in self.systems])


def _legacy(store) -> RunManifest:
    """A run made before the manifest: its loose metadata entries."""
    split = store.get_meta("split") or "test"
    plan = store.get_meta("analysis_plan")  # a run from before the manifest kept its plan under this key
    return RunManifest.model_validate({
        "testset_path": store.get_meta("testset_path"), "testset_checksum": store.get_meta("testset_checksum"), "split": split,
        "systems": store.get_meta(f"systems/{split}") or [],
        "judges": {k.removeprefix("judge/"): v for k, v in store.meta_with_prefix("judge/").items()},
        "reader_agreement": {k.removeprefix("reader_agreement/"): v for k, v in store.meta_with_prefix("reader_agreement/").items()},
        "plan": plan})


def read_manifest(store) -> RunManifest:
    """The run's manifest (an empty one for a store nothing has been written to)."""
    body = store.get_meta(MANIFEST_KEY)
    return RunManifest.model_validate(body) if body is not None else _legacy(store)


def _edit_manifest(store, change: Callable[[RunManifest], dict[str, Any]]) -> RunManifest:
    """Apply ``change`` (the manifest as it is now -> the fields to replace) in one store transaction, so that two
    stages writing at once (two judges started together on one run) cannot drop each other's entry."""
    from pydantic_core import to_jsonable_python

    def edit(body: Any) -> dict[str, Any]:
        current = RunManifest.model_validate(body) if body is not None else _legacy(store)
        return RunManifest.model_validate({**current.model_dump(mode="json"),
                                           **to_jsonable_python(change(current))}).model_dump(mode="json")

    return RunManifest.model_validate(store.edit_meta(MANIFEST_KEY, edit))


def update_manifest(store, **changes: Any) -> RunManifest:
    """Write ``changes`` into the manifest (validated: a wrong field name or type is an error, not a silent new key)."""
    return _edit_manifest(store, lambda _: changes)


def add_to_manifest(store, field: Literal["judges", "reader_agreement"], name: str, value: Any) -> RunManifest:
    """Set one entry of a by-name field, keeping every other entry as stored at this moment."""
    return _edit_manifest(store, lambda current: {field: {**getattr(current, field), name: value}})


def declare_plan(store, plan: AnalysisPlan) -> DeclaredPlan:
    """Write the plan into the run. The first declaration keeps its time; a different plan given after advice exists
    is kept too, and flagged as revised after the data."""
    digest = content_hash(plan.model_dump(mode="json"))

    def declare(manifest: RunManifest) -> dict[str, Any]:
        current = manifest.plan
        if current and current.hash == digest:
            return {}
        return {"plan": DeclaredPlan(plan=plan, hash=digest, declared_at=utc_now(), advice_existed=store.count("advice") > 0,
                                     previous=current)}

    return _edit_manifest(store, declare).plan


def stored_plan(store) -> tuple[AnalysisPlan, DeclaredPlan | None]:
    """The declared plan (or the default plan, with None, when the run declared none)."""
    record = read_manifest(store).plan
    return (record.plan if record else AnalysisPlan()), record


__all__ = ["MANIFEST_KEY", "DeclaredPlan", "RunManifest", "add_to_manifest", "declare_plan", "read_manifest", "stored_plan", "update_manifest"]
