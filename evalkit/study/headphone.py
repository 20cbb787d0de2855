"""Headphone screening after Woods, Siegel, Traer & McDermott (2017), "Headphone screening to
facilitate web-based auditory experiments", Attention, Perception, & Psychophysics 79:2064–2072.

Each trial plays three 200 Hz tones; one is 6 dB quieter (the answer), one is in antiphase between
the ears (over loudspeakers it cancels and sounds quietest; over headphones it does not). Listeners
who pick the antiphase tone are probably not on headphones. Pass: at least 5 of 6 correct.

The six clips are the six orders of (quiet, antiphase, normal), so no two are alike. Their file names
are opaque, the answers live in study.json only, and each participant hears the clips in their own
random order (from the study's secret and their id): the answer key differs per participant and per
study, and a key shared on a forum is worthless.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evalkit.audio.io import write_audio
from evalkit.records import content_hash

if TYPE_CHECKING:
    from evalkit.study.config import StudyConfig

SR = 22050
TRIALS = 6
PASS_AT = 5


def _tone(level_db: float, antiphase: bool) -> np.ndarray:
    t = np.arange(int(SR * 1.0)) / SR
    ramp = np.minimum(1, np.minimum(t, t[::-1]) / 0.1)
    x = 10 ** (level_db / 20) * 0.3 * np.sin(2 * np.pi * 200 * t) * ramp
    return np.stack([x, -x if antiphase else x])


def make_headphone_clips(study_dir: Path, secret: str) -> list[dict]:
    """Write the six distinct clips under stimuli/headphone/ and return [{file, answer (1–3)}]."""
    gap = np.zeros((2, int(SR * 0.5)))
    clips = []
    for order in itertools.permutations(["quiet", "antiphase", "normal"]):
        parts = []
        for kind in order:
            parts += [_tone(-6.0 if kind == "quiet" else 0.0, kind == "antiphase"), gap]
        rel = f"stimuli/headphone/{content_hash([secret, order], 12)}.wav"
        write_audio(study_dir / rel, np.concatenate(parts, axis=1), SR)
        clips.append({"file": rel, "answer": order.index("quiet") + 1})
    return clips


def participant_clips(config: StudyConfig, participant_id: str) -> list[dict]:
    """This participant's clips in their own order (the same on every reload)."""
    clips = [c.model_dump() for c in config.headphone_clips]
    rng = np.random.default_rng(int(content_hash([config.secret, participant_id], 15), 16))
    return [clips[k] for k in rng.permutation(len(clips))][:TRIALS]


def participant_clip_bytes(wav: bytes, secret: str, participant_id: str) -> bytes:
    """The clip's WAV with a comment chunk unique to this participant appended (RIFF readers skip it). The sound is
    the same; the bytes, and so the address the browser fetches them from, differ for every participant, so one
    person's answers, posted with the clip addresses, tell nobody else anything."""
    import struct

    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        return wav
    text = content_hash([secret, participant_id, "clip-address"], 32).encode()
    icmt = b"ICMT" + struct.pack("<I", len(text)) + text + (b"\0" if len(text) % 2 else b"")
    chunk = b"LIST" + struct.pack("<I", 4 + len(icmt)) + b"INFO" + icmt
    body = wav[12:] + (b"\0" if len(wav) % 2 else b"") + chunk
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def score(responses: list[int], clips: list[dict]) -> int:
    return sum(r == c["answer"] for r, c in zip(responses, clips, strict=False))


__all__ = ["PASS_AT", "TRIALS", "make_headphone_clips", "participant_clip_bytes", "participant_clips", "score"]
