"""The generate stage: advice for every (item, system, condition) of a split, written as it is made.

Resumable: advice already stored as ``ok`` is skipped, failures are retried, and each result is
committed the moment it is made, so a kill -9 costs at most the calls in flight and never duplicates a row
(advice ids are content hashes of item, system and condition). Work is claimed before a model is called,
so any number of workers (processes, machines) can share one run without making a call twice.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from evalkit.calls import run_logged
from evalkit.data.testset import TestSet, load_testset
from evalkit.errors import EvalkitInputError
from evalkit.paths import cache_root
from evalkit.records import Condition, Item, advice_id, content_hash
from evalkit.store import Claim, ScopeProgress, Store
from evalkit.systems import SystemConfig, build_system
from evalkit.workers import (
    DEFAULT_LEASE_S,
    Helpers,
    ProcessBatch,
    Worker,
    call_tags,
    check_workers,
    scope_of,
    work_through,
)


def progress_bar(disable: bool = False) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    disable=disable)


def local_dir(store: Store, target: str | Path) -> Path:
    """Where a run keeps local files (rendered model inputs): the run directory, or for a database URL a
    folder in evalkit's cache named after the store, never a folder named after the URL."""
    if store.dialect == "sqlite" and "://" not in str(target):
        return Path(target)
    return cache_root() / "runs" / content_hash(store.display_url, 12)


def attach_testset(store: Store, ts: TestSet) -> None:
    """Record which test set a run uses (path and checksum) and copy its songs and items into the store."""
    from evalkit.manifest import read_manifest, update_manifest

    known = read_manifest(store).testset_checksum
    if known and known != ts.checksum:
        raise EvalkitInputError(f"{store.display_url}: this run was made from another test set (checksum {known}); use a new --out")
    update_manifest(store, testset_path=str(Path(ts.root).resolve()), testset_checksum=ts.checksum)
    store.put_songs(ts.songs.values())
    store.put_items(ts.items)


def items_for(cfg: SystemConfig, items: list[Item]) -> list[Item]:
    """The items a system advises on: all, or ``max_items`` spread round-robin over songs, with control items in the
    share the items hold (at least one when there are any), so a subset still shows whether the system leaves a
    balanced mix alone. Deterministic and the same for every condition, so condition contrasts stay paired."""
    if not cfg.max_items or cfg.max_items >= len(items):
        return items
    n_controls = sum(i.kind == "control" for i in items)
    want_controls = min(n_controls, max(1, round(cfg.max_items * n_controls / len(items)))) if n_controls else 0
    songs = sorted({i.song_id for i in items}, key=lambda s: content_hash([cfg.seed, s]))
    first_round = songs[:cfg.max_items]
    control_first = set(first_round[len(first_round) - want_controls:])  # these give a control on the first round
    by_song: dict[str, list[Item]] = {}
    for i in sorted(items, key=lambda i: ((i.kind == "problem") == (i.song_id in control_first), content_hash([cfg.seed, i.id]))):
        by_song.setdefault(i.song_id, []).append(i)
    chosen: list[Item] = []
    while len(chosen) < cfg.max_items:
        for song in songs:
            if by_song[song] and len(chosen) < cfg.max_items:
                chosen.append(by_song[song].pop(0))
    keep = {i.id for i in chosen}
    return [i for i in items if i.id in keep]


def whole_sentences(text: str) -> str:
    """``text`` up to its last complete sentence (., ! or ? before a space, a line break or the end); the text as it is
    when it has none."""
    import re

    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)
            if not text[:m.start()].rsplit("\n", 1)[-1].strip().isdigit()]  # "2." opening a list item is no sentence
    return text[:ends[-1]].rstrip() if ends else text


def _analytic_batch(cfg: SystemConfig, ts: TestSet, run_dir: Path, work: dict[str, tuple[Condition, Item]],
                    store: Store, counts: Counter) -> ProcessBatch:
    """Claimed keys -> advice from an analytic, bound or precomputed system (no model calls)."""
    systems: dict[Condition, Any] = {}

    def process(claims: list[Claim]) -> dict[str, str]:
        out = {}
        for c in claims:
            condition, item = work[c.key]
            system = systems.get(condition) or systems.setdefault(condition, build_system(cfg, ts, condition, run_dir))
            try:
                store.put_advice(system.make_advice(item, system.advise(item)))
                out[c.key] = "ok"
            except Exception as exc:  # recorded, never dropped
                store.put_advice_failure(item.id, cfg.name, condition.value, cfg.run_hash(condition), f"{type(exc).__name__}: {exc}")
                out[c.key] = "failed"
            counts[out[c.key]] += 1
        return out

    return process


def _llm_batch(systems_by_condition: dict[Condition, Any], work: dict[str, tuple[Condition, Item]], store: Store,
               counts: Counter, worker_id: str) -> ProcessBatch:
    """Claimed keys -> one mixed batch for the system's one back end (a local model batches prompts across
    conditions); each advice is saved the moment its call completes, so a kill loses only calls in flight."""

    def process(claims: list[Claim]) -> dict[str, str]:
        batch = [(systems_by_condition[work[c.key][0]], work[c.key][1]) for c in claims]
        system0 = batch[0][0]
        requests = [system.request(item) for system, item in batch]
        tags = call_tags(worker_id, claims)
        out: dict[str, str] = {}

        def save(k: int, res) -> None:
            (system, item), req, cfg = batch[k], requests[k], system0.config
            if res.ok and res.text.strip():
                finish = res.extra.get("finish_reason")
                text, trimmed = res.text.strip(), None
                if finish == "length" and cfg.when_cut == "trim":
                    text, trimmed = whole_sentences(text), len(text)
                store.put_advice(system.make_advice(
                    item, text, model=res.model, prompt_hash=req.prompt_hash,
                    params={"max_tokens": req.max_tokens, "temperature": req.temperature, "seed": req.seed,
                            "prompt_version": system.prompt_version, "layout": cfg.effective_layout,
                            "backend": system0.backend.config(),
                            # "length": the answer hit max_tokens and was cut (diagnostics count it; the study leaves it out)
                            "finish_reason": finish,
                            **({"trimmed_from_chars": trimmed} if trimmed is not None else {})},
                    tokens_in=res.tokens_in, tokens_out=res.tokens_out, latency_s=res.latency_s, cost_usd=res.cost_usd))
                out[claims[k].key] = "ok"
            else:
                store.put_advice_failure(item.id, cfg.name, system.condition.value, cfg.run_hash(system.condition),
                                         res.error or "empty response")
                out[claims[k].key] = "failed"
            counts[out[claims[k].key]] += 1

        run_logged(system0.backend, requests, store, stage="generate", tags=tags, then=save)
        return out

    return process


def check_configs(store: Store, systems: list[SystemConfig], force: set[str]) -> None:
    """Advice made under another config is never reused silently: a changed system is refused with the fix,
    or (named in ``force``) its advice and judgments are removed so it is made again."""
    stored = store.advice_config_hashes()
    for cfg in systems:
        changed = [c.value for c in cfg.condition_list if stored.get((cfg.name, c.value), set()) - {cfg.run_hash(c)}]
        if cfg.name in force:
            store.delete_system(cfg.name)
        elif changed:
            raise EvalkitInputError(f"system {cfg.name!r}: its config changed since its advice ({', '.join(changed)}) was made; "
                                    f"pass --force {cfg.name} to make it again (its judgments are removed), or use a new --out")


def _prepare(store: Store, ts: TestSet, systems: list[SystemConfig], split: str, force: set[str]) -> None:
    """What one process does before any worker starts: the test set, changed configs (and --force), the systems."""
    attach_testset(store, ts)
    unknown = set(force) - {s.name for s in systems}
    if unknown:
        raise EvalkitInputError(f"--force {', '.join(sorted(unknown))}: no such system in the systems file")
    check_configs(store, systems, set(force))
    from evalkit.manifest import update_manifest

    update_manifest(store, split=split, systems=systems)  # the report reads these systems, and knows which split they saw


def _system_work(cfg: SystemConfig, items: list[Item], status: dict[str, str]) -> tuple[list[str], list[str], dict]:
    """Every advice key of a system (for its scope), those still to make, and what each key stands for."""
    work = {advice_id(i.id, cfg.name, c): (c, i) for c in cfg.condition_list for i in items_for(cfg, items)}
    return list(work), [k for k in work if status.get(k) != "ok"], work


def _generate_system(cfg: SystemConfig, ts: TestSet, run_dir: Path, worker: Worker, items: list[Item],
                     split: str, counts: Counter, on_progress) -> None:
    store = worker.store
    all_keys, todo, work = _system_work(cfg, items, store.advice_status())
    if not todo:
        return
    scope = scope_of("generate", f"{split}/{cfg.name}", all_keys)
    conditions = list(dict.fromkeys(work[k][0] for k in todo))
    if cfg.kind != "llm":
        process, batch = _analytic_batch(cfg, ts, run_dir, work, store, counts), 8
        counts["reclaimed"] += work_through(worker, scope, todo, batch, process, store.advice_ok_among,
                                            on_progress(cfg.name, todo))["reclaimed"]
        return
    first = build_system(cfg, ts, conditions[0], run_dir)
    by_condition = {conditions[0]: first} | {c: build_system(cfg, ts, c, run_dir, backend=first.backend) for c in conditions[1:]}
    backend = first.backend
    batch = cfg.chunk or max(2 * backend.max_concurrency, int(backend.options.get("batch_size", 1)))
    try:
        counts["reclaimed"] += work_through(worker, scope, todo, batch, _llm_batch(by_condition, work, store, counts, worker.id),
                                            store.advice_ok_among, on_progress(cfg.name, todo))["reclaimed"]
    finally:
        backend.close()


def generate(testset: str | Path | TestSet, systems: list[SystemConfig], run_dir: str | Path, *, split: str = "test",
             store: Store | None = None, show_progress: bool = True, force: set[str] | frozenset[str] = frozenset(),
             workers: int = 1, lease_s: float = DEFAULT_LEASE_S, helper: bool = False) -> Counter:
    """Advice for every (item, system, condition); an LLM system keeps one back end for all its conditions.

    Work is claimed before a model is called (evalkit/workers.py): this command may run in several processes
    or machines on one store, and ``workers`` > 1 starts that many local processes in all. ``helper`` marks a
    process started by another, which has already prepared the store."""
    check_workers(workers)
    ts = testset if isinstance(testset, TestSet) else load_testset(testset)
    store = store or Store(str(run_dir))  # a URL stays a string: Path() would fold postgresql:// into a folder name
    local = local_dir(store, run_dir)
    if not helper:
        _prepare(store, ts, systems, split, set(force))
    items = ts.split(split)
    counts: Counter = Counter()
    status = store.advice_status()
    planned = {s.name: _system_work(s, items, status) for s in systems}
    if not helper:  # a helper's share is added to this process's counts: count what was there once
        counts["skipped"] = sum(len(a) - len(t) for a, t, _ in planned.values())
    helpers = Helpers(workers - 1, generate, {
        "testset": str(ts.root), "systems": systems, "run_dir": store.target, "split": split,
        "show_progress": False, "lease_s": lease_s, "helper": True}) if workers > 1 else None
    try:
        with Worker(store, lease_s) as worker, progress_bar(not show_progress) as bar:
            on_progress = _progress_reporter(bar, sum(len(t) for _, t, _ in planned.values()))
            for cfg in systems:
                _generate_system(cfg, ts, local, worker, items, split, counts, on_progress)
    except BaseException:
        if helpers:
            helpers.stop()
        raise
    if helpers:
        counts.update(helpers.collect())
    return counts


def _progress_reporter(bar: Progress, total: int):
    """A callback per system that moves one whole-run bar: what every worker has done, what others hold, what waits."""
    task = bar.add_task("generating advice", total=total)
    finished_before = [0]

    def for_system(name: str, todo: list[str]):
        base = finished_before[0]
        finished_before[0] += len(todo)

        def show(p: ScopeProgress) -> None:
            left = p.pending + p.claimed_by_me + p.claimed_by_others
            bar.update(task, completed=base + max(0, len(todo) - left),
                       description=f"advice: {name} · {p.claimed_by_others} held by other workers · {p.pending} pending")

        return show

    return for_system


__all__ = ["attach_testset", "generate", "items_for", "progress_bar"]
