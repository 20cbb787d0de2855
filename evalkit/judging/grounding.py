"""Grounded judging: the judge sees what the advisors were given, not only the advice text.

``grounding: features`` puts the problem mix's measurements (the table the advisors' prompts carry) and the
table of every reference track an advisor of the judged advice was shown before the rubric; ``audio`` also
attaches the problem mix as a clip, for audio-capable back ends. The true correction is never part of this:
a judge sees it only when its preset says ``reference_guided: true``.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import ConfigError, EvalkitInputError
from evalkit.judging.llm_judge import JudgeTask
from evalkit.judging.rubrics import JudgePreset
from evalkit.store import Store


def ground(tasks: list[JudgeTask], preset: JudgePreset, store: Store, inputs_dir: Path) -> list[JudgeTask]:
    """The tasks with their context (and clips) filled in, per the preset's ``grounding``."""
    if preset.grounding == "none" or not tasks:
        return tasks
    from evalkit.audio.io import write_audio
    from evalkit.audio.render import mixdown
    from evalkit.data.testset import load_testset
    from evalkit.manifest import read_manifest
    from evalkit.prompts import render_judge_context

    path = read_manifest(store).testset_path
    if not path or not Path(path).exists():
        raise EvalkitInputError(f"judge {preset.name!r}: grounding needs the run's test set, which is not at {path!r}; "
                                "put it back there or judge without grounding")
    ts = load_testset(path)
    contexts: dict[tuple, str] = {}
    clips: dict[str, list[str]] = {}
    for t in tasks:
        refs = sorted({a.reference_song_id for a in (t.advice, t.advice_b) if a is not None and a.reference_song_id})
        key = (t.item.id, *refs)
        if key not in contexts:
            contexts[key] = render_judge_context(ts.features(t.item), {r: ts.reference_features(r) for r in refs})
        t.context = contexts[key]
        if preset.grounding == "audio":
            if t.item.id not in clips:
                stems, sr = ts.stems(t.item.song_id)
                clips[t.item.id] = [str(write_audio(inputs_dir / "judge" / t.item.id / "mix.wav", mixdown(stems, t.item.offsets_db), sr))]
            t.audio = clips[t.item.id]
    return tasks


def check_grounding(preset: JudgePreset, backend) -> None:
    if preset.grounding == "audio" and not getattr(backend, "supports_audio", False):
        raise ConfigError(f"judge {preset.name!r}: grounding: audio needs a back end that takes audio "
                          f"({backend.name} as configured does not); use grounding: features")


__all__ = ["check_grounding", "ground"]
