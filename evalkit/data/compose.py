"""Composition for the synthetic test set: styles, keys, progressions and arrangements as note events.

The same events feed two renderers (the built-in synthesizer and FluidSynth), so a song's music
does not depend on how it is voiced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
KICK, SNARE, HAT = 36, 38, 42


@dataclass(frozen=True)
class Style:
    name: str
    tempo: tuple[int, int]
    mode: tuple[int, ...]
    progressions: tuple[tuple[int, ...], ...]
    kick: tuple[float, ...]  # beat positions within a 4/4 bar
    snare: tuple[float, ...]
    hat_step: float
    bass_pattern: tuple[float, ...]
    other_kind: str  # pad | pluck | organ
    # Balanced reference: target loudness per stem relative to vocals (LU); vocals sit on top.
    balance_lu: dict[str, float] = field(default_factory=dict)
    gm_program: dict[str, int] = field(default_factory=dict)


STYLES: dict[str, Style] = {
    s.name: s
    for s in [
        Style("pop", (96, 124), MAJOR, ((0, 4, 5, 3), (0, 5, 3, 4)), (0, 2.5), (1, 3), 0.5, (0, 1.5, 2, 3.5), "pad",
              {"vocals": 0.0, "drums": -2.0, "bass": -4.0, "other": -4.5}, {"bass": 33, "other": 89, "vocals": 53}),
        Style("rock", (110, 140), MAJOR, ((0, 3, 4, 4), (0, 4, 3, 4)), (0, 1.5, 2.5), (1, 3), 0.5, (0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5),
              "organ", {"vocals": 0.0, "drums": -1.0, "bass": -4.0, "other": -2.5}, {"bass": 34, "other": 29, "vocals": 54}),
        Style("electronic", (118, 132), MINOR, ((0, 5, 2, 6), (0, 3, 5, 4)), (0, 1, 2, 3), (1, 3), 0.25, (0.5, 1.5, 2.5, 3.5),
              "pluck", {"vocals": 0.0, "drums": -0.5, "bass": -2.5, "other": -4.0}, {"bass": 38, "other": 81, "vocals": 85}),
        Style("ballad", (64, 82), MAJOR, ((0, 5, 3, 4), (0, 2, 3, 4)), (0, 2.5), (2,), 1.0, (0, 2), "pad",
              {"vocals": 0.0, "drums": -5.0, "bass": -5.0, "other": -3.0}, {"bass": 32, "other": 0, "vocals": 52}),
        Style("funk", (96, 112), MINOR, ((0, 3, 0, 4), (0, 6, 5, 4)), (0, 0.75, 2.5), (1, 3), 0.25,
              (0, 0.75, 1.5, 2, 2.75, 3.5), "pluck", {"vocals": 0.0, "drums": -1.5, "bass": -2.0, "other": -3.5},
              {"bass": 36, "other": 27, "vocals": 65}),
    ]
}


@dataclass(frozen=True)
class Note:
    start: float
    duration: float
    pitch: int
    velocity: float  # 0..1


@dataclass
class Composition:
    style: Style
    tempo: float
    key_root: int  # MIDI note of the tonic in octave 3
    key_name: str
    seconds: float
    sections: list[tuple[str, float, float]]  # (name, start s, end s)
    notes: dict[str, list[Note]]


def _arrangement(rng: np.random.Generator, n_bars: int) -> list[str]:
    """Section name per bar: intros without vocals, verses, choruses, breakdowns without drums."""
    plans = [["intro", "verse", "chorus", "breakdown"], ["verse", "chorus", "verse", "chorus"],
             ["intro", "verse", "verse", "chorus"], ["verse", "breakdown", "chorus", "chorus"]]
    plan = plans[int(rng.integers(len(plans)))]
    per = max(1, n_bars // len(plan))
    return [plan[min(b // per, len(plan) - 1)] for b in range(n_bars)]


def compose(rng: np.random.Generator, seconds: float, style_name: str | None = None) -> Composition:
    style = STYLES[style_name] if style_name else STYLES[sorted(STYLES)[int(rng.integers(len(STYLES)))]]
    tempo = float(rng.integers(style.tempo[0], style.tempo[1] + 1))
    beat = 60.0 / tempo
    bar = 4 * beat
    n_bars = max(2, int(np.ceil(seconds / bar)))
    tonic_pc = int(rng.integers(12))
    key_root = 48 + tonic_pc
    progression = style.progressions[int(rng.integers(len(style.progressions)))]
    sections = _arrangement(rng, n_bars)
    notes: dict[str, list[Note]] = {"drums": [], "bass": [], "other": [], "vocals": []}
    scale = style.mode

    def degree_pitch(deg: int, octave_offset: int = 0) -> int:
        return key_root + scale[deg % 7] + 12 * (deg // 7 + octave_offset)

    melody_deg = 7
    for b in range(n_bars):
        t0 = b * bar
        section = sections[b]
        chord_deg = progression[b % len(progression)]
        if section != "breakdown" or b % 2 == 1:
            for pos in style.kick:
                notes["drums"].append(Note(t0 + pos * beat, 0.3, KICK, 0.9 + 0.1 * rng.random()))
            for pos in style.snare:
                notes["drums"].append(Note(t0 + pos * beat, 0.2, SNARE, 0.8 + 0.2 * rng.random()))
            for k in range(int(round(4 / style.hat_step))):
                notes["drums"].append(Note(t0 + k * style.hat_step * beat, 0.05, HAT, 0.45 + 0.3 * rng.random()))
        for pos in style.bass_pattern:
            pitch = degree_pitch(chord_deg, -1) + (12 if rng.random() < 0.15 else 0)
            notes["bass"].append(Note(t0 + pos * beat, beat * 0.9, pitch, 0.8 + 0.2 * rng.random()))
        chord = [degree_pitch(chord_deg + k) for k in (0, 2, 4)] + ([degree_pitch(chord_deg + 6)] if rng.random() < 0.3 else [])
        if style.other_kind == "pluck":
            for k in range(8):
                notes["other"].append(Note(t0 + k * beat / 2, beat * 0.6, chord[k % len(chord)] + 12, 0.7))
        else:
            for p in chord:
                notes["other"].append(Note(t0, bar * 0.98, p, 0.6))
        if section in ("verse", "chorus"):
            n_phrase = 4 if section == "verse" else 6
            t = t0
            for k in range(n_phrase):
                melody_deg = int(np.clip(melody_deg + rng.choice([-2, -1, 0, 1, 2, 3]), 4, 12))
                dur = bar / n_phrase * (0.95 if k < n_phrase - 1 else 0.7)
                notes["vocals"].append(Note(t, dur, degree_pitch(melody_deg, 1 if section == "chorus" else 0), 0.85))
                t += bar / n_phrase
    for name in notes:
        notes[name] = [n for n in notes[name] if n.start < seconds]
    sec_spans, start = [], 0.0
    for b, name in enumerate(sections):
        if b == len(sections) - 1 or sections[b + 1] != name:
            sec_spans.append((name, round(start, 3), round(min((b + 1) * bar, seconds), 3)))
            start = (b + 1) * bar
    mode_name = "major" if scale == MAJOR else "minor"
    return Composition(style, tempo, key_root, f"{NOTE_NAMES[tonic_pc]} {mode_name}", seconds, sec_spans, notes)


__all__ = ["STYLES", "Composition", "Note", "Style", "compose"]
