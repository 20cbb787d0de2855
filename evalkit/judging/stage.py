"""The judge stage: score a run's advice with one judge preset, resumably, every call logged."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from pathlib import Path

from evalkit.backends.base import create_backend
from evalkit.calls import run_logged
from evalkit.errors import EvalkitInputError
from evalkit.judging.advice_parser import parse_advice
from evalkit.judging.grounding import check_grounding, ground
from evalkit.judging.llm_judge import JudgeTask
from evalkit.judging.protocols import protocol_of
from evalkit.judging.reference import DEFAULT, REFERENCE_JUDGE, judge_reference, reference_pair_judgment
from evalkit.judging.rubrics import JudgePreset, load_rubric
from evalkit.manifest import add_to_manifest
from evalkit.records import Advice, content_hash
from evalkit.store import Claim, Store
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


def select_pairs(advice: list[Advice], pairs: str = "all") -> list[tuple[Advice, Advice]]:
    """(a, b) advice pairs on the same item, a's arm (system/condition) sorting before b's; ``vs:SYSTEM`` keeps
    pairs with SYSTEM (a system name, or one arm such as ``analytic/mix``)."""
    by_item: dict[str, list[Advice]] = defaultdict(list)
    for a in advice:
        by_item[a.item_id].append(a)
    target = pairs.removeprefix("vs:") if pairs.startswith("vs:") else None
    if pairs != "all" and target is None:
        raise EvalkitInputError(f"--pairs {pairs!r}: use all or vs:SYSTEM")
    out = []
    for item_id in sorted(by_item):
        group = sorted(by_item[item_id], key=lambda a: a.arm)
        for a, b in itertools.combinations(group, 2):
            if target is None or target in (a.system, b.system, a.arm, b.arm):
                out.append((a, b))
    if target and not out:
        raise EvalkitInputError(f"--pairs vs:{target}: no advice from system {target!r} in this run")
    # A deterministic spread over items and systems, so a max_pairs subset is not all one item.
    return sorted(out, key=lambda p: content_hash([p[0].id, p[1].id]))


def items_to_score(advice: list[Advice], max_items: int | None) -> list[Advice]:
    """Every arm's advice on a few whole items (those with the most arms, then a deterministic spread), so
    a subset still compares arms on the same items, as the study's pairs do."""
    if not max_items:
        return advice
    arms = Counter(a.item_id for a in advice)
    keep = set(sorted(arms, key=lambda i: (-arms[i], content_hash(i)))[:max_items])
    return [a for a in advice if a.item_id in keep]


def build_tasks(preset: JudgePreset, advice: list[Advice], items: dict, pairs: str) -> list[JudgeTask]:
    """Every call the preset's rubrics ask for: one per advice (and sample) for a protocol that shows one advice, one
    per pair, order and sample for one that shows two (judging/protocols.py). Per-advice rubrics come first."""
    rubrics = sorted((load_rubric(r) for r in preset.rubrics), key=lambda r: protocol_of(r.protocol).pairwise)
    tasks: list[JudgeTask] = []
    chosen = None
    for r in rubrics:
        if not protocol_of(r.protocol).pairwise:
            for a in items_to_score(advice, preset.max_items):
                tasks += [JudgeTask(r, a, items[a.item_id], sample_index=k) for k in range(preset.samples)]
            continue
        if chosen is None:
            chosen = select_pairs(advice, pairs)[: preset.max_pairs or None]
        orders = ("ab", "ba") if preset.both_orders else ("ab",)
        for a, b in chosen:
            tasks += [JudgeTask(r, a, items[a.item_id], b, o, k) for o in orders for k in range(preset.samples)]
    return tasks


def _inputs_dir(store: Store) -> Path:
    """Where a run keeps rendered model inputs (generate writes there too)."""
    from evalkit.generate import local_dir

    if store.dialect == "sqlite":
        return Path(store.url.removeprefix("sqlite:///")).parent / "inputs"
    return local_dir(store, store.display_url) / "inputs"


def check_judge(store: Store, preset: JudgePreset, force: bool = False) -> int:
    """Judgments made under another version of this judge (its model, sampling or protocol, or a rubric's text)
    are never mixed with new ones. The reference judge is free and deterministic: its stale judgments are
    redone. An LLM judge's cost money: they are refused until ``force``. Returns the judgments removed."""
    if preset.protocol == "reference":
        version = (preset.reference or DEFAULT).version
        current = {(version, version)}
    else:
        current = {(preset.config_hash, load_rubric(r).hash) for r in preset.rubrics}
    stale = {k: n for k, n in store.judgment_versions(preset.name).items() if k not in current}
    if not stale:
        return 0
    if force or preset.protocol == "reference":
        return store.delete_judge(preset.name)
    raise EvalkitInputError(f"judge {preset.name!r}: its config or rubrics changed since its {sum(stale.values())} judgments were made; "
                            f"pass --force {preset.name} to judge again (the old judgments are removed), or give the changed judge a new name")


def _judge_reference(store: Store, preset: JudgePreset, advice: list[Advice], items: dict, pairs: str, counts: Counter) -> Counter:
    """The reference judge: deterministic, so every worker may compute it (inserts are idempotent). With an LLM reader
    (``reference: {reader: judges/X.yaml}``) the advice not yet judged is read by that back end, every call logged, and
    its agreement with the rules reader is stored for the report."""
    opts = preset.reference or DEFAULT
    stored = {j.advice_id: j for j in store.judgments(REFERENCE_JUDGE) if j.protocol == "reference" and j.rubric_hash == opts.version}
    fresh = [a for a in advice if a.id not in stored]
    readings: dict[str, tuple] = {}
    if opts.reader != "rules" and fresh:
        from evalkit.judging.readers import read_with_llm, reader_agreement

        parsed, raw = read_with_llm([a.text for a in fresh], opts.reader, store)
        readings = {a.id: (p, r) for a, p, r in zip(fresh, parsed, raw, strict=True)}
        agreement = reader_agreement(parsed, [parse_advice(a.text) for a in fresh])
        add_to_manifest(store, "reader_agreement", preset.name,
                        {"reader": opts.reader, **agreement, "unread": sum(p is None for p in parsed)})
    absolute = {**stored, **{a.id: judge_reference(a, items[a.item_id], opts, *readings.get(a.id, (None, None))) for a in fresh}}
    pairwise = [reference_pair_judgment(absolute[a.id], absolute[b.id]) for a, b in select_pairs(advice, pairs)
                if absolute[a.id].parsed and absolute[b.id].parsed]
    done = store.judgment_keys(preset.name)
    everything = list(absolute.values()) + pairwise
    new = [j for j in everything if j.key not in done]
    counts["scored"] = store.put_judgments([j for j in new if j.parsed])
    counts["unscored"] = store.put_judgments([j for j in new if not j.parsed])
    counts["skipped"] = len(everything) - len(new)
    return counts


def _judge_batch(preset: JudgePreset, backend, tasks: dict[str, JudgeTask], store: Store, counts: Counter,
                 worker_id: str) -> ProcessBatch:
    """Claimed judgment keys -> judgments: every call logged, a malformed answer asked again up to the bound,
    a failed call recorded (retried on the next run), never counted as an answer."""

    def process(claims: list[Claim]) -> dict[str, str]:
        batch = [tasks[c.key] for c in claims]
        tags = call_tags(worker_id, claims)
        final: dict[int, object] = {}
        pending = list(range(len(batch)))
        for attempt in range(preset.parse_retries + 1):
            results = run_logged(backend, [batch[i].request(preset, attempt) for i in pending], store, stage="judge",
                                 by=preset.name, tags=[tags[i] for i in pending])
            retry = []
            for i, res in zip(pending, results, strict=True):
                j = batch[i].judgment(preset, res.text, res.error, res.extra.get("choice_logprobs"))
                final[i] = j
                if not j.parsed and res.error is None and attempt < preset.parse_retries:
                    retry.append(i)  # a malformed answer is asked again, up to the bound
            pending = retry
            if not pending:
                break
        judgments = [final[i] for i in range(len(batch))]
        store.put_judgments(judgments)
        out = {}
        for c, j in zip(claims, judgments, strict=True):
            kind = "scored" if j.parsed else ("failed_calls" if j.failure == "api" else "unscored")
            counts[kind] += 1
            out[c.key] = "failed" if kind == "failed_calls" else "ok"
        return out

    return process


def judge_run(run: str | Path | Store, preset: JudgePreset, *, pairs: str = "all", show_progress: bool = True,
              force: bool = False, workers: int = 1, lease_s: float = DEFAULT_LEASE_S, helper: bool = False) -> Counter:
    """Judge a run's advice with one preset. Judgments are claimed before their calls are made
    (evalkit/workers.py), so several processes or machines may judge one run; ``workers`` > 1 starts that many
    local processes in all, ``helper`` marks one started by another (which has already checked the judge)."""
    from evalkit.generate import progress_bar

    check_workers(workers)
    store = run if isinstance(run, Store) else Store(run, create=False)
    advice = store.advice()
    if not advice:
        raise EvalkitInputError(f"{store.display_url}: the run has no advice yet; run `evalkit generate` first")
    items = {i.id: i for i in store.items()}
    counts: Counter = Counter()
    if not helper:
        counts["replaced"] = check_judge(store, preset, force)
        add_to_manifest(store, "judges", preset.name, preset)
    if preset.protocol == "reference":
        return _judge_reference(store, preset, advice, items, pairs, counts)

    done = store.judgment_keys(preset.name)
    all_tasks = {t.judgment(preset, None, "probe").key: t for t in build_tasks(preset, advice, items, pairs)}
    todo = [k for k in all_tasks if k not in done]
    if not helper:
        counts["skipped"] = len(all_tasks) - len(todo)
    if not todo:
        return counts
    opts = preset.backend.model_dump()
    backend = create_backend(opts.pop("name"), **opts)
    check_grounding(preset, backend)
    tasks = dict(zip(todo, ground([all_tasks[k] for k in todo], preset, store, _inputs_dir(store)), strict=True))
    chunk = max(2 * backend.max_concurrency, int(backend.options.get("batch_size", 1)), 4)
    helpers = Helpers(workers - 1, judge_run, {"run": store.target, "preset": preset, "pairs": pairs,
                                                "show_progress": False, "lease_s": lease_s, "helper": True}) if workers > 1 else None
    try:
        with Worker(store, lease_s) as worker, progress_bar(not show_progress) as bar:
            task_id = bar.add_task(f"judging: {preset.name}", total=len(todo))

            def show(p) -> None:
                left = p.pending + p.claimed_by_me + p.claimed_by_others
                bar.update(task_id, completed=max(0, len(todo) - left),
                           description=f"judging: {preset.name} · {p.claimed_by_others} held by other workers · {p.pending} pending")

            counts["reclaimed"] += work_through(worker, scope_of("judge", preset.name, list(all_tasks)), todo, chunk,
                                                _judge_batch(preset, backend, tasks, store, counts, worker.id),
                                                store.judgments_made_among, show)["reclaimed"]
    except BaseException:
        if helpers:
            helpers.stop()
        raise
    finally:
        backend.close()
    if helpers:
        counts.update(helpers.collect())
    return counts


__all__ = ["build_tasks", "check_judge", "judge_run", "select_pairs"]
