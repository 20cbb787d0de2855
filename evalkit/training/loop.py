"""`evalkit finetune`: LoRA (or full) fine-tuning of an advisor on the train split, resumable after a kill.

A plain loop rather than a trainer library, so that what is trained is exactly what is said: the loss falls on the
assistant turn only (the advice written from the truth), batches are drawn deterministically from (seed, step), and
the dropout of step k is seeded by (seed, k). A run killed after checkpoint N and started again continues from N and
ends with the weights of one that was never stopped, up to float rounding (tests/training/test_finetune.py).

Each checkpoint (every ``checkpoint_every`` steps and the last) is a folder ``checkpoint-N/``: the adapter, the
optimizer state and ``evalkit_adapter.json``, written beside the folder and renamed into place, so a kill mid-save
leaves the previous checkpoint whole. The final adapter is copied to the top of ``out`` with the full record.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.data.testset import TestSet
from evalkit.errors import EvalkitInputError, require
from evalkit.records import Condition, content_hash
from evalkit.training.adapters import META
from evalkit.training.examples import Example, examples_hash, training_examples

IGNORE = -100


@dataclass(frozen=True)
class TrainSettings:
    base: str
    conditions: tuple[str, ...] = ("mix", "stems", "stems+reference")
    layout: str = "difference"
    steps: int = 60
    batch_size: int = 8
    lora_r: int = 8
    lr: float = 2e-4
    seed: int = 0
    full: bool = False
    checkpoint_every: int = 20
    max_length: int = 512
    val_examples: int = 24
    split: str = "train"

    def check(self) -> None:
        bad = [f"--{k.replace('_', '-')} {v}" for k, v, ok in (
            ("steps", self.steps, 1 <= self.steps <= 1_000_000), ("batch_size", self.batch_size, 1 <= self.batch_size <= 4096),
            ("lora_r", self.lora_r, 1 <= self.lora_r <= 1024), ("lr", self.lr, 0 < self.lr < 1),
            ("checkpoint_every", self.checkpoint_every, self.checkpoint_every >= 1),
            ("max_length", self.max_length, 32 <= self.max_length <= 32768)) if not ok]
        if bad:
            raise EvalkitInputError(f"{', '.join(bad)}: out of range (steps ≥ 1, batch size 1–4096, LoRA rank 1–1024, "
                                    "0 < lr < 1, checkpoint every ≥ 1, max length 32–32768)")

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same training (a resumed run must match it)."""
        return {k: v for k, v in asdict(self).items() if k not in ("checkpoint_every", "val_examples")}


@dataclass
class Batch:
    input_ids: Any
    attention_mask: Any
    labels: Any


@dataclass
class Encoded:
    ids: list[list[int]]
    n_prompt: list[int]
    pad: int
    lengths: list[int] = field(default_factory=list)


def encode(examples: list[Example], tok, max_length: int) -> Encoded:
    """Token ids of prompt + target + end-of-turn; the prompt is the chat template with the generation prompt, exactly
    what generation feeds the model, so the model learns to continue where it will be asked to."""
    tok = getattr(tok, "tokenizer", tok)
    ids, n_prompt = [], []
    for e in examples:
        prompt = tok(tok.apply_chat_template(e.messages, tokenize=False, add_generation_prompt=True), add_special_tokens=False)["input_ids"]
        target = tok(e.target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        if len(prompt) + len(target) > max_length:
            raise EvalkitInputError(f"{e.item_id} under {e.condition.value}: {len(prompt) + len(target)} tokens, more than "
                                    f"--max-length {max_length}; raise --max-length or use --layout difference (shorter prompts)")
        ids.append(prompt + target)
        n_prompt.append(len(prompt))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return Encoded(ids, n_prompt, pad, [len(x) for x in ids])


def collate(enc: Encoded, rows: list[int]) -> Batch:
    """Right-padded batch; labels are the target tokens only (prompt and padding ignored)."""
    torch = require("torch", "local")
    width = max(enc.lengths[r] for r in rows)
    ids = torch.full((len(rows), width), enc.pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for k, r in enumerate(rows):
        x = torch.tensor(enc.ids[r])
        ids[k, :len(x)] = x
        mask[k, :len(x)] = 1
        labels[k, enc.n_prompt[r]:len(x)] = x[enc.n_prompt[r]:]
    return Batch(ids, mask, labels)


def batch_rows(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The examples of step ``step`` (1-based): epochs are fresh permutations from (seed, epoch), so any step's batch
    is known without replaying the ones before it."""
    rows = []
    for pos in range((step - 1) * batch_size, step * batch_size):
        epoch, k = divmod(pos, n)
        rows.append(int(np.random.default_rng([seed, epoch]).permutation(n)[k]))
    return rows


def target_loss(model, b: Batch, device: str, reduction: str = "mean"):
    """Cross-entropy of the target tokens. The output layer runs on those positions only: SmolLM2's 49k-word output
    layer over every prompt position was a quarter of a CPU step, for logits the loss ignores. The value equals the
    model's own loss (mean over target tokens)."""
    torch = require("torch", "local")
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    ids, mask, labels = b.input_ids.to(device), b.attention_mask.to(device), b.labels[:, 1:].to(device)
    keep = labels != IGNORE
    if hasattr(core, "model") and hasattr(core, "lm_head"):
        hidden = core.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1][keep]
        logits = core.lm_head(hidden)
    else:  # a model without the usual decoder/output-layer split: full logits
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1][keep]
    return torch.nn.functional.cross_entropy(logits.float(), labels[keep], reduction=reduction)


def _lr_at(step: int, settings: TrainSettings) -> float:
    """Linear warm-up over the first 10% of steps (at least 1), then cosine decay to 10% of the peak."""
    warm = max(1, settings.steps // 10)
    if step <= warm:
        return settings.lr * step / warm
    frac = (step - warm) / max(1, settings.steps - warm)
    return settings.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def _latest_checkpoint(out: Path, identity_hash: str) -> tuple[int, Path] | None:
    best = None
    for d in out.glob("checkpoint-*"):
        meta = d / META
        if not (d.is_dir() and meta.exists() and (d / "trainer_state.pt").exists()):
            continue
        try:
            rec = json.loads(meta.read_text())
        except ValueError:
            continue
        if rec.get("settings_hash") == identity_hash and (best is None or rec["steps"] > best[0]):
            best = (rec["steps"], d)
    return best


def _prepare_model(settings: TrainSettings, resume: Path | None):
    from evalkit.backends.transformers_backend import load_fresh

    torch = require("torch", "local", "torch==2.13.0")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tok = load_fresh(resume.as_posix() if (resume and settings.full) else settings.base, "float32", device)
    if settings.full:
        return model.to(device).train(), tok, device
    peft = require("peft", "local")
    if resume is not None:
        model = peft.PeftModel.from_pretrained(model, str(resume), is_trainable=True)
    else:
        torch.manual_seed(settings.seed)  # LoRA's A matrices start random: the same seed, the same start
        cfg = peft.LoraConfig(r=settings.lora_r, lora_alpha=2 * settings.lora_r, lora_dropout=0.05, target_modules="all-linear",
                              task_type="CAUSAL_LM")
        model = peft.get_peft_model(model, cfg)
    return model.to(device).train(), tok, device


def _save(model, tok, optimizer, folder: Path, record: dict, with_state: bool = True) -> None:
    torch = require("torch", "local")
    tmp = folder.parent / f".tmp-{folder.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if record["full"]:
        getattr(tok, "tokenizer", tok).save_pretrained(tmp)
    if with_state:
        torch.save({"optimizer": optimizer.state_dict()}, tmp / "trainer_state.pt")
    (tmp / META).write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def _val_loss(model, enc: Encoded | None, device: str, batch_size: int) -> float | None:
    if enc is None or not enc.ids:
        return None
    torch = require("torch", "local")
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(enc.ids), batch_size):
            b = collate(enc, list(range(start, min(start + batch_size, len(enc.ids)))))
            total += float(target_loss(model, b, device, reduction="sum"))
            count += int((b.labels[:, 1:] != IGNORE).sum())
    model.train()
    return total / max(count, 1)


def _claim_out(out: Path, identity_hash: str, force: bool) -> bool:
    """Whether ``out`` already holds this training, complete. A folder of another training is refused without
    ``force`` (then cleared); a folder that is not an adapter's, and not empty, is refused always."""
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return False
    ours = (out / META).exists() or any(out.glob("checkpoint-*/" + META))
    if not ours:
        raise EvalkitInputError(f"--out {out}: the folder holds other files; give an empty or new folder for the adapter")
    hashes = {json.loads(p.read_text()).get("settings_hash") for p in [out / META, *out.glob("checkpoint-*/" + META)] if p.exists()}
    if hashes - {identity_hash}:
        if not force:
            raise EvalkitInputError(f"--out {out}: holds an adapter trained with other settings or data; give a new --out, "
                                    "or --force to replace it")
        shutil.rmtree(out)
        out.mkdir(parents=True)
        return False
    rec = json.loads((out / META).read_text()) if (out / META).exists() else {}
    return bool(rec.get("complete"))


def _val_set(ts: TestSet, conditions: list[Condition], settings: TrainSettings, tok) -> Encoded | None:
    """Up to ``val_examples`` val-split examples (a fixed draw), for the val loss at each checkpoint."""
    if not settings.val_examples or not ts.split("val"):
        return None
    val_ex = training_examples(ts, conditions, split="val", layout=settings.layout)
    pick = np.random.default_rng([settings.seed, 99]).permutation(len(val_ex))[:settings.val_examples]
    return encode([val_ex[i] for i in sorted(pick)], tok, settings.max_length)


def _record(ts: TestSet, settings: TrainSettings, examples: list[Example], data_hash: str, identity_hash: str) -> dict[str, Any]:
    """What the adapter records about its training (written into every checkpoint and the final adapter)."""
    return {"base": settings.base, "data_hash": data_hash, "settings_hash": identity_hash, "settings": asdict(settings),
            "conditions": list(settings.conditions), "layout": settings.layout, "full": settings.full,
            "examples": len(examples), "items": len({e.item_id for e in examples}),
            "songs": sorted({e.song_id for e in examples}), "testset_checksum": ts.checksum,
            "versions": {m: require(m, "local").__version__ for m in ("torch", "transformers")
                         } | ({} if settings.full else {"peft": require("peft", "local").__version__})}


@dataclass
class _Run:
    """One training session: the model, its optimizer, the data, and the curves so far (from a checkpoint on resume)."""
    model: Any
    tok: Any
    device: str
    optimizer: Any
    enc: Encoded
    val: Encoded | None
    record: dict[str, Any]
    start: int = 0
    curve: list = field(default_factory=list)
    val_curve: list = field(default_factory=list)


def _steps(run: _Run, settings: TrainSettings, out: Path, progress: bool) -> float:
    """Train from ``run.start`` to ``settings.steps``, checkpointing; returns the seconds it took."""
    import sys

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    torch = require("torch", "local")
    params = [p for p in run.model.parameters() if p.requires_grad]
    bar = Progress(TextColumn("fine-tuning"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                   TimeElapsedColumn(), TimeRemainingColumn(), disable=not progress)
    t0 = time.perf_counter()
    with bar:
        task = bar.add_task("train", total=settings.steps, completed=run.start, loss="-")
        for step in range(run.start + 1, settings.steps + 1):
            torch.manual_seed(settings.seed * 1_000_003 + step)
            b = collate(run.enc, batch_rows(len(run.enc.ids), settings.batch_size, settings.seed, step))
            for g in run.optimizer.param_groups:
                g["lr"] = _lr_at(step, settings)
            loss = target_loss(run.model, b, run.device)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach())
            run.curve.append([step, round(value, 5)])
            bar.update(task, advance=1, loss=f"{value:.3f}")
            if step % settings.checkpoint_every == 0 or step == settings.steps:
                v = _val_loss(run.model, run.val, run.device, settings.batch_size)
                if v is not None:
                    run.val_curve.append([step, round(v, 5)])
                _save(run.model, run.tok, run.optimizer, out / f"checkpoint-{step}",
                      {**run.record, "steps": step, "loss_curve": run.curve, "val_loss_curve": run.val_curve, "complete": False})
                if progress and not sys.stderr.isatty():  # a log file gets one line per checkpoint (a bar draws nothing there)
                    print(f"checkpoint {step}/{settings.steps}: loss {value:.3f}" + (f", val loss {v:.3f}" if v is not None else "")
                          + f" ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return time.perf_counter() - t0


def finetune(ts: TestSet, settings: TrainSettings, out: str | Path, *, progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Train on ``settings.split`` (train) under every listed condition at once; write ``out``; return its record. A
    complete adapter with the same settings and data is returned as it is; an interrupted one resumes."""
    torch = require("torch", "local", "torch==2.13.0")
    settings.check()
    out = Path(out)
    conditions = [Condition(c) for c in settings.conditions]
    examples = training_examples(ts, conditions, split=settings.split, layout=settings.layout)
    data_hash = examples_hash(examples)
    identity_hash = content_hash({**settings.identity(), "data_hash": data_hash})
    if _claim_out(out, identity_hash, force):
        return json.loads((out / META).read_text())
    resume = _latest_checkpoint(out, identity_hash)
    model, tok, device = _prepare_model(settings, resume[1] if resume else None)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.lr, weight_decay=0.0)
    run = _Run(model, tok, device, optimizer, encode(examples, tok, settings.max_length), _val_set(ts, conditions, settings, tok),
               _record(ts, settings, examples, data_hash, identity_hash))
    if resume:
        optimizer.load_state_dict(torch.load(resume[1] / "trainer_state.pt", weights_only=False)["optimizer"])
        rec = json.loads((resume[1] / META).read_text())
        run.start, run.curve, run.val_curve = resume[0], rec["loss_curve"], rec["val_loss_curve"]
    seconds = _steps(run, settings, out, progress)
    record = {**run.record, "steps": settings.steps, "loss_curve": run.curve, "val_loss_curve": run.val_curve, "complete": True,
              "train_seconds_this_session": round(seconds, 1),
              "checkpoints": sorted(int(d.name.split("-")[1]) for d in out.glob("checkpoint-*") if d.is_dir())}
    _save(model, tok, optimizer, out / ".final", record, with_state=False)
    for f in sorted((out / ".final").iterdir(), key=lambda f: f.name == META):  # the record last: it says "complete"
        f.replace(out / f.name)
    (out / ".final").rmdir()
    return record


__all__ = ["TrainSettings", "batch_rows", "collate", "encode", "finetune"]
