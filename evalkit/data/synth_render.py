"""Renderers that turn a Composition into four stereo stems.

``builtin`` is pure NumPy (additive voices with formant-shaped vocals, synthesized drums): it needs
no system package and is deterministic for a seed. ``fluidsynth`` writes General MIDI and renders it
through the FluidSynth program and a soundfont, for more realistic timbres where those are installed.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from evalkit.data.compose import HAT, KICK, SNARE, Composition, Note
from evalkit.errors import EvalkitInputError

# Vowel formants (Hz, bandwidth Hz, gain) after Peterson & Barney (1952) averages.
_VOWELS = {
    "a": ((730, 90, 1.0), (1090, 110, 0.5), (2440, 170, 0.25)),
    "e": ((530, 60, 1.0), (1840, 150, 0.45), (2480, 200, 0.3)),
    "i": ((270, 60, 1.0), (2290, 200, 0.35), (3010, 250, 0.25)),
    "o": ((570, 80, 1.0), (840, 100, 0.6), (2410, 170, 0.15)),
    "u": ((300, 60, 1.0), (870, 100, 0.4), (2240, 170, 0.1)),
}
_PAN = {"drums": 0.0, "bass": 0.0, "other": -0.35, "vocals": 0.05}
SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)


def midi_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def _env(n: int, sr: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(1.0, t / max(attack, 1e-4)) * np.exp(-t / decay)


def _additive(f0: np.ndarray, sr: int, amps: np.ndarray) -> np.ndarray:
    """Sum of harmonics k·f0(t) with amplitudes ``amps[k-1]`` (kept below Nyquist)."""
    phase = 2 * np.pi * np.cumsum(f0) / sr
    k = np.arange(1, len(amps) + 1)[:, None]
    alias = (k * f0.max()) < sr / 2 * 0.95
    return ((amps[:, None] * alias) * np.sin(k * phase)).sum(axis=0)


def _place(buf: np.ndarray, start_s: float, sig: np.ndarray, sr: int) -> None:
    i = int(round(start_s * sr))
    if i >= buf.size:
        return
    j = min(buf.size, i + sig.size)
    buf[i:j] += sig[: j - i]


def _drum_hit(note: Note, sr: int, rng: np.random.Generator) -> np.ndarray:
    if note.pitch == KICK:
        n = int(0.35 * sr)
        t = np.arange(n) / sr
        f = 48 + 110 * np.exp(-t / 0.035)
        return note.velocity * np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.16)
    if note.pitch == SNARE:
        n = int(0.22 * sr)
        t = np.arange(n) / sr
        noise = np.diff(rng.standard_normal(n + 1)) * 0.5
        return note.velocity * (0.7 * noise * np.exp(-t / 0.07) + 0.5 * np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.05))
    n = int(0.06 * sr)
    noise = np.diff(np.diff(rng.standard_normal(n + 2))) * 0.25
    return note.velocity * noise * np.exp(-np.arange(n) / sr / 0.018)


def _voice(stem: str, note: Note, sr: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    n = max(1, int(note.duration * sr))
    f0 = np.full(n, midi_hz(note.pitch))
    if stem == "bass":
        amps = 1.0 / np.arange(1, 9) ** 1.3
        return note.velocity * _additive(f0, sr, amps) * _env(n, sr, 0.005, 0.45)
    if stem == "other":
        detune = 1 + 0.003 * rng.standard_normal()
        if kind == "pluck":
            amps = 1.0 / np.arange(1, 13) ** 1.1
            return 0.5 * note.velocity * _additive(f0 * detune, sr, amps) * _env(n, sr, 0.003, 0.18)
        if kind == "organ":
            amps = np.array([1.0, 0.8, 0.0, 0.6, 0.0, 0.4, 0.0, 0.3])
            return 0.35 * note.velocity * _additive(f0 * detune, sr, amps) * _env(n, sr, 0.01, 4.0)
        amps = 1.0 / np.arange(1, 9) ** 1.6
        return 0.35 * note.velocity * _additive(f0 * detune, sr, amps) * _env(n, sr, 0.25, 3.0)
    # vocals: glottal-like source shaped by a vowel's formants, with vibrato and a soft onset
    t = np.arange(n) / sr
    f0 = f0 * (1 + 0.012 * np.sin(2 * np.pi * 5.5 * t) * np.minimum(1, t / 0.2))
    vowel = _VOWELS["aeiou"[int(rng.integers(5))]]
    k = np.arange(1, 41)
    fk = k * midi_hz(note.pitch)
    gains = sum(g / (1 + ((fk - fc) / (bw / 2)) ** 2) for fc, bw, g in vowel) / k**0.6
    sig = _additive(f0, sr, gains)
    release = np.minimum(1.0, (n - np.arange(n)) / (0.06 * sr))
    return note.velocity * sig * np.minimum(1.0, t / 0.04) * release


def _pan(mono: np.ndarray, pos: float) -> np.ndarray:
    theta = (pos + 1) * np.pi / 4
    return np.stack([np.cos(theta) * mono, np.sin(theta) * mono])


def render_builtin(comp: Composition, sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Four stereo stems, (2, samples) each, from pure NumPy synthesis."""
    n = int(round(comp.seconds * sr))
    out: dict[str, np.ndarray] = {}
    for stem, notes in comp.notes.items():
        if stem == "drums":
            parts = {KICK: np.zeros(n), SNARE: np.zeros(n), HAT: np.zeros(n)}
            for note in notes:
                _place(parts[note.pitch], note.start, _drum_hit(note, sr, rng), sr)
            out[stem] = _pan(parts[KICK] + parts[SNARE], 0.0) + _pan(parts[HAT], 0.4)
            continue
        buf = np.zeros(n)
        for note in notes:
            _place(buf, note.start, _voice(stem, note, sr, comp.style.other_kind, rng), sr)
        out[stem] = _pan(buf, _PAN[stem])
    return out


# -- FluidSynth --------------------------------------------------------------------------------
def _varlen(v: int) -> bytes:
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, notes: list[Note], tempo: float, channel: int, program: int) -> None:
    """A one-track Standard MIDI File (format 0) with the notes on ``channel``."""
    tpq = 480
    sec_per_tick = 60.0 / tempo / tpq
    events: list[tuple[int, bytes]] = [(0, bytes([0xFF, 0x51, 3]) + int(60e6 / tempo).to_bytes(3, "big"))]
    if channel != 9:
        events.append((0, bytes([0xC0 | channel, program])))
    for note in notes:
        on = int(note.start / sec_per_tick)
        off = int((note.start + note.duration) / sec_per_tick)
        vel = max(1, min(127, int(note.velocity * 110)))
        events.append((on, bytes([0x90 | channel, note.pitch, vel])))
        events.append((off, bytes([0x80 | channel, note.pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90))
    body, last = b"", 0
    for tick, data in events:
        body += _varlen(tick - last) + data
        last = tick
    body += _varlen(0) + bytes([0xFF, 0x2F, 0])
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(body)) + body)


def find_soundfont() -> str | None:
    return next((p for p in SOUNDFONT_CANDIDATES if Path(p).exists()), None)


def render_fluidsynth(comp: Composition, sr: int, soundfont: str | None = None) -> dict[str, np.ndarray]:
    """Render each stem's GM MIDI through FluidSynth; refuses clearly where it is not installed."""
    from evalkit.audio.io import read_audio

    exe = shutil.which("fluidsynth")
    soundfont = soundfont or find_soundfont()
    if not exe or not soundfont:
        raise EvalkitInputError(
            "--renderer fluidsynth needs the fluidsynth program and a GM soundfont: "
            "`apt-get install fluidsynth timgm6mb-soundfont` (or use the default renderer)"
        )
    n = int(round(comp.seconds * sr))
    out: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for stem, notes in comp.notes.items():
            mid, wav = Path(tmp) / f"{stem}.mid", Path(tmp) / f"{stem}.wav"
            channel = 9 if stem == "drums" else 0
            write_midi(mid, notes, comp.tempo, channel, comp.style.gm_program.get(stem, 0))
            subprocess.run([exe, "-ni", "-q", "-r", str(sr), "-F", str(wav), soundfont, str(mid)],
                           check=True, capture_output=True, timeout=120)
            x, _ = read_audio(wav, sample_rate=sr, resample=True) if wav.stat().st_size > 44 else (np.zeros((2, n)), sr)
            x = x[:, :n] if x.shape[-1] >= n else np.pad(x, ((0, 0), (0, n - x.shape[-1])))
            out[stem] = x if x.shape[0] == 2 else np.repeat(x, 2, axis=0)
    return out


__all__ = ["find_soundfont", "render_builtin", "render_fluidsynth", "write_midi"]
