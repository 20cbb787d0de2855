"""The generate stage: advice for every (item, system) of a split, written as it is made.

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
from evalkit.records import advice_id
from evalkit.runners import SystemConfig, build_system
from evalkit.store import Store


def progress_bar(disable: bool = False) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    disable=disable)


def attach_testset(store: Store, ts: TestSet) -> None:
    """Record which test set a run uses (path and checksum) and copy its songs and items into the store."""
    known = store.get_meta("testset_checksum")
    if known and known != ts.checksum:
        from evalkit.errors import EvalkitInputError

        raise EvalkitInputError(f"{store.url}: this run was made from another test set (checksum {known}); use a new --out")
    store.set_meta("testset_path", str(Path(ts.root).resolve()))
    store.set_meta("testset_checksum", ts.checksum)
    store.put_songs(ts.songs.values())
    store.put_items(ts.items)


def generate(testset: str | Path | TestSet, systems: list[SystemConfig], run_dir: str | Path, *, split: str = "test",
             store: Store | None = None, show_progress: bool = True) -> Counter:
    ts = testset if isinstance(testset, TestSet) else load_testset(testset)
    run_dir = Path(run_dir)
    store = store or Store(run_dir)
    attach_testset(store, ts)
    store.set_meta(f"systems/{split}", [s.model_dump(mode="json") for s in systems])
    items = ts.split(split)
    status = store.advice_status()
    counts: Counter = Counter()
    todo = {s.name: [i for i in items if status.get(advice_id(i.id, s.name, s.condition)) != "ok"] for s in systems}
    counts["skipped"] = sum(len(items) - len(v) for v in todo.values())
    with progress_bar(not show_progress) as bar:
        task = bar.add_task("generating advice", total=sum(len(v) for v in todo.values()))
        for cfg in systems:
            if not todo[cfg.name]:
                continue
            system = build_system(cfg, ts, run_dir)
            bar.update(task, description=f"advice: {cfg.name}")
            if cfg.kind != "llm":
                for item in todo[cfg.name]:
                    try:
                        store.put_advice(system.make_advice(item, system.advise(item)))
                        counts["ok"] += 1
                    except Exception as exc:  # recorded, never dropped
                        store.put_advice_failure(item.id, cfg.name, cfg.condition.value, cfg.config_hash, f"{type(exc).__name__}: {exc}")
                        counts["failed"] += 1
                    bar.advance(task)
                continue
            chunk = cfg.chunk or max(2 * system.backend.max_concurrency, int(system.backend.options.get("batch_size", 1)))
            pending = todo[cfg.name]
            for start in range(0, len(pending), chunk):
                batch = pending[start:start + chunk]
                requests = [system.request(i) for i in batch]
                results = run_logged(system.backend, requests, store, stage="generate")
                for item, req, res in zip(batch, requests, results, strict=True):
                    if res.ok and res.text.strip():
                        store.put_advice(system.make_advice(
                            item, res.text.strip(), model=res.model, prompt_hash=req.prompt_hash,
                            params={"max_tokens": req.max_tokens, "temperature": req.temperature, "seed": req.seed,
                                    "prompt_version": system.prompt_version, "backend": system.backend.config()},
                            tokens_in=res.tokens_in, tokens_out=res.tokens_out, latency_s=res.latency_s, cost_usd=res.cost_usd))
                        counts["ok"] += 1
                    else:
                        store.put_advice_failure(item.id, cfg.name, cfg.condition.value, cfg.config_hash, res.error or "empty response")
                        counts["failed"] += 1
                    bar.advance(task)
            system.backend.close()
    return counts


__all__ = ["attach_testset", "generate", "progress_bar"]
