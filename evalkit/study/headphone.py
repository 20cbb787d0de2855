"""Headphone screening after Woods, Siegel, Traer & McDermott (2017), "Headphone screening to
facilitate web-based auditory experiments", Attention, Perception, & Psychophysics 79:2064–2072.

Each trial plays three 200 Hz tones; one is 6 dB quieter (the answer), one is in antiphase between
the ears (over loudspeakers it cancels and sounds quietest; over headphones it does not). Listeners
who pick the antiphase tone are probably not on headphones. Pass: at least 5 of 6 correct. The
answers live in study.json, never in the served stimuli.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.audio.io import write_audio

SR = 22050
TRIALS = 6
PASS_AT = 5


def _tone(level_db: float, antiphase: bool) -> np.ndarray:
    t = np.arange(int(SR * 1.0)) / SR
    ramp = np.minimum(1, np.minimum(t, t[::-1]) / 0.1)
    x = 10 ** (level_db / 20) * 0.3 * np.sin(2 * np.pi * 200 * t) * ramp
    return np.stack([x, -x if antiphase else x])


def make_headphone_check(study_dir: Path, seed: int = 0) -> list[int]:
    """Write stimuli/headphone/trial_K.wav and return the answer (1–3) of each trial."""
    rng = np.random.default_rng([seed, 2017])
    answers = []
    gap = np.zeros((2, int(SR * 0.5)))
    for k in range(TRIALS):
        kinds = ["quiet", "antiphase", "normal"]
        order = [kinds[i] for i in rng.permutation(3)]
        parts = []
        for kind in order:
            parts += [_tone(-6.0 if kind == "quiet" else 0.0, kind == "antiphase"), gap]
        write_audio(study_dir / "stimuli" / "headphone" / f"trial_{k}.wav", np.concatenate(parts, axis=1), SR)
        answers.append(order.index("quiet") + 1)
    return answers


def passed(responses: list[int], answers: list[int]) -> bool:
    return sum(r == a for r, a in zip(responses, answers, strict=False)) >= PASS_AT


__all__ = ["PASS_AT", "TRIALS", "make_headphone_check", "passed"]
