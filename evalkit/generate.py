"""The generate stage: advice for every (item, system, condition) of a split, written as it is made.

Resumable: advice already stored as ``ok`` is skipped, failures are retried, and each result is
committed on its own (or per chunk of concurrent LLM calls), so a kill -9 costs at most the chunk in
flight and never duplicates a row (advice ids are content hashes of item, system and condition).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from evalkit.calls import run_logged
from evalkit.data.testset import TestSet, load_testset
from evalkit.errors import EvalkitInputError
from evalkit.paths import cache_root
from evalkit.records import Item, advice_id, content_hash
from evalkit.runners import SystemConfig, build_system
from evalkit.store import Store


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
    known = store.get_meta("testset_checksum")
    if known and known != ts.checksum:
        raise EvalkitInputError(f"{store.display_url}: this run was made from another test set (checksum {known}); use a new --out")
    store.set_meta("testset_path", str(Path(ts.root).resolve()))
    store.set_meta("testset_checksum", ts.checksum)
    store.put_songs(ts.songs.values())
    store.put_items(ts.items)


def items_for(cfg: SystemConfig, items: list[Item]) -> list[Item]:
    """The items a system advises on: all, or ``max_items`` spread round-robin over songs (deterministic;
    problem items before controls), the same for every condition so that condition contrasts stay paired."""
    if not cfg.max_items or cfg.max_items >= len(items):
        return items
    by_song: dict[str, list[Item]] = {}
    for i in sorted(items, key=lambda i: (i.kind != "problem", content_hash([cfg.seed, i.id]))):
        by_song.setdefault(i.song_id, []).append(i)
    chosen: list[Item] = []
    while len(chosen) < cfg.max_items:
        for song in sorted(by_song):
            if by_song[song] and len(chosen) < cfg.max_items:
                chosen.append(by_song[song].pop(0))
    keep = {i.id for i in chosen}
    return [i for i in items if i.id in keep]


def _advise_analytic(system, items: list[Item], store: Store, counts: Counter, advance) -> None:
    cfg = system.config
    for item in items:
        try:
            store.put_advice(system.make_advice(item, system.advise(item)))
            counts["ok"] += 1
        except Exception as exc:  # recorded, never dropped
            store.put_advice_failure(item.id, cfg.name, system.condition.value, cfg.run_hash(system.condition),
                                     f"{type(exc).__name__}: {exc}")
            counts["failed"] += 1
        advance()


def _advise_llm(work: list[tuple], store: Store, counts: Counter, advance) -> None:
    """``work``: (system, item) pairs of one LLM system over all its conditions, sent to the shared back end
    in mixed chunks, so a local model batches prompts across conditions."""
    system0 = work[0][0]
    cfg, backend = system0.config, system0.backend
    chunk = cfg.chunk or max(2 * backend.max_concurrency, int(backend.options.get("batch_size", 1)))
    for start in range(0, len(work), chunk):
        batch = work[start:start + chunk]
        requests = [system.request(item) for system, item in batch]
        results = run_logged(backend, requests, store, stage="generate")
        for (system, item), req, res in zip(batch, requests, results, strict=True):
            if res.ok and res.text.strip():
                store.put_advice(system.make_advice(
                    item, res.text.strip(), model=res.model, prompt_hash=req.prompt_hash,
                    params={"max_tokens": req.max_tokens, "temperature": req.temperature, "seed": req.seed,
                            "prompt_version": system.prompt_version, "layout": cfg.effective_layout,
                            "backend": backend.config()},
                    tokens_in=res.tokens_in, tokens_out=res.tokens_out, latency_s=res.latency_s, cost_usd=res.cost_usd))
                counts["ok"] += 1
            else:
                store.put_advice_failure(item.id, cfg.name, system.condition.value, cfg.run_hash(system.condition),
                                         res.error or "empty response")
                counts["failed"] += 1
            advance()


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


def generate(testset: str | Path | TestSet, systems: list[SystemConfig], run_dir: str | Path, *, split: str = "test",
             store: Store | None = None, show_progress: bool = True, force: set[str] | frozenset[str] = frozenset()) -> Counter:
    """Advice for every (item, system, condition); an LLM system keeps one back end for all its conditions."""
    ts = testset if isinstance(testset, TestSet) else load_testset(testset)
    store = store or Store(str(run_dir))  # a URL stays a string: Path() would fold postgresql:// into a folder name
    run_dir = local_dir(store, run_dir)
    attach_testset(store, ts)
    unknown = set(force) - {s.name for s in systems}
    if unknown:
        raise EvalkitInputError(f"--force {', '.join(sorted(unknown))}: no such system in the systems file")
    check_configs(store, systems, set(force))
    store.set_meta(f"systems/{split}", [s.model_dump(mode="json") for s in systems])
    items = ts.split(split)
    status = store.advice_status()
    counts: Counter = Counter()
    chosen = {s.name: items_for(s, items) for s in systems}
    todo = {(s.name, c): [i for i in chosen[s.name] if status.get(advice_id(i.id, s.name, c)) != "ok"]
            for s in systems for c in s.condition_list}
    counts["skipped"] = sum(len(chosen[s.name]) * len(s.condition_list) for s in systems) - sum(len(v) for v in todo.values())
    with progress_bar(not show_progress) as bar:
        task = bar.add_task("generating advice", total=sum(len(v) for v in todo.values()))
        for cfg in systems:
            conditions = [c for c in cfg.condition_list if todo[(cfg.name, c)]]
            if not conditions:
                continue
            bar.update(task, description=f"advice: {cfg.name} ({', '.join(c.value for c in conditions)})")
            if cfg.kind != "llm":
                for condition in conditions:
                    system = build_system(cfg, ts, condition, run_dir)
                    _advise_analytic(system, todo[(cfg.name, condition)], store, counts, lambda: bar.advance(task))
                continue
            first = build_system(cfg, ts, conditions[0], run_dir)
            systems_by_condition = [first] + [build_system(cfg, ts, c, run_dir, backend=first.backend) for c in conditions[1:]]
            work = [(system, item) for system in systems_by_condition for item in todo[(cfg.name, system.condition)]]
            try:
                _advise_llm(work, store, counts, lambda: bar.advance(task))
            finally:
                first.backend.close()
    return counts


__all__ = ["attach_testset", "generate", "items_for", "progress_bar"]
