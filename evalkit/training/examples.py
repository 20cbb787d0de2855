"""Training pairs: the prompt an advisor is shown under a condition, and advice written from the item's truth.

The prompt comes from ``systems.llm.advisor_messages``, the function the evaluation uses, so the model is trained on
the templates, features, layout and reference pool it is evaluated with. Only the train split is trained on: the test
split is refused, and references come from the pool (train songs other than the item's own), so no test song reaches
a training example. The target is the item's ``correction_db`` (for imported sets the engineers' consensus, not the
offsets), written in the form the reference judge reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalkit.data.testset import TestSet
from evalkit.errors import EvalkitInputError
from evalkit.records import Condition, Item, content_hash
from evalkit.systems.base import AdviceSystem, SystemConfig
from evalkit.systems.llm import advisor_messages

TRAINABLE_SPLITS = ("train", "val")


@dataclass(frozen=True)
class Example:
    item_id: str
    song_id: str
    condition: Condition
    reference_song_id: str | None
    messages: list[dict[str, Any]]  # system + user, exactly as the evaluation sends them
    target: str  # the assistant turn

    def chat(self) -> list[dict[str, Any]]:
        return [*self.messages, {"role": "assistant", "content": self.target}]


def target_advice(item: Item) -> str:
    """The advice a good assistant would give, written from the truth, in the form the reference judge reads: each
    disturbed stem with a direction and a dB amount (to 0.01 dB), the largest first; a balanced mix is left alone."""
    moves = [(s, round(item.correction_db[s], 2)) for s in item.disturbed_stems]
    moves = [(s, v) for s, v in moves if v]
    if not moves:
        return "The balance already works: leave every stem where it is."
    parts = [f"{'raise' if v > 0 else 'lower'} the {s} by {abs(v):g} dB" for s, v in sorted(moves, key=lambda m: -abs(m[1]))]
    return "To rebalance the mix, " + "; ".join(parts) + ". Leave the other stems as they are."


def refuse_test_split(split: str, what: str) -> None:
    if split not in TRAINABLE_SPLITS:
        raise EvalkitInputError(f"--split {split}: {what} uses the train split (val only for evaluation during training); "
                                "the test split is held out and never trained on")


def training_examples(ts: TestSet, conditions: list[Condition], *, split: str = "train", layout: str = "side-by-side",
                      seed: int = 0) -> list[Example]:
    """One example per (item of ``split``, condition), with the prompt the evaluation would show under ``layout``
    (a system's reference choice depends on its ``seed``: give the evaluated system's)."""
    refuse_test_split(split, "fine-tuning")
    items = ts.split(split)
    if not items:
        raise EvalkitInputError(f"--split {split}: no items in that split of {ts.root}")
    test_songs = {i.song_id for i in ts.split("test")}
    if any(i.song_id in test_songs for i in items):
        raise EvalkitInputError(f"{ts.root}: split {split} shares songs with the test split; regenerate the test set")
    conditions = [Condition(c) for c in conditions]
    has_ref = any(c.has_reference for c in conditions)
    config = SystemConfig(name="finetune", kind="llm", conditions=conditions, seed=seed, layout=layout if has_ref else None)
    out = []
    for condition in conditions:
        system = AdviceSystem(config, ts, condition)
        for item in items:
            ref = system.reference_song(item)
            if ref is not None and ref != item.song_id and ref in test_songs:
                raise AssertionError(f"reference {ref} of {item.id} is a test song")  # the pool never holds one
            out.append(Example(item.id, item.song_id, condition, ref, advisor_messages(system, item), target_advice(item)))
    return out


def examples_hash(examples: list[Example]) -> str:
    """The training data's content hash (prompts and targets): recorded with the adapter."""
    return content_hash([[e.item_id, e.condition.value, e.messages, e.target] for e in examples])


__all__ = ["TRAINABLE_SPLITS", "Example", "examples_hash", "refuse_test_split", "target_advice", "training_examples"]
