"""The held-out synthetic test set: MUSDB-style 4-stem songs knocked off balance by known amounts.

Each song is composed (style, tempo, key, arrangement), rendered to four stems, and balanced to a
style's reference (vocals on top, per-song variation); the stems are stored *at* that balance, so
the reference mix is their plain sum. Problem items disturb 1–3 stems by ±2–12 dB; control items are
already balanced (truth: leave it). Splits are drawn by song. The same seed gives byte-identical
files: synthesis is seeded NumPy and audio is written as PCM_16 with our own rounding.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from rich.progress import track

from evalkit.audio.features import integrated_loudness
from evalkit.audio.io import write_audio
from evalkit.data.compose import STYLES, compose
from evalkit.data.synth_options import SYNTH_DEFAULTS
from evalkit.data.synth_render import render_builtin, render_fluidsynth
from evalkit.errors import EvalkitInputError
from evalkit.records import STEM_NAMES, Item, Song, Split

GENERATOR_VERSION = "synth-1.1"  # 1.1: splits dealt out by style
VOCALS_TARGET_LUFS = -20.0


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def assign_splits(song_ids: list[str], rng: np.random.Generator, test_frac: float = 0.34, val_frac: float = 0.16,
                  strata: list[str] | None = None) -> dict[str, Split]:
    """Split by song (never by item) so no song's audio is in two splits. With ``strata`` (each song's style) the songs
    are dealt out style by style, so every style with enough songs has songs in test and train: the train split is the
    reference pool, and a pool without the item's style would show references of another style."""
    n = len(song_ids)
    order = list(rng.permutation(n))
    if strata is not None:
        groups: dict[str, list[int]] = {}
        for idx in order:
            groups.setdefault(strata[idx], []).append(idx)
        dealt = [(rank, name, idx) for name, idxs in groups.items() for rank, idx in enumerate(idxs)]
        order = [idx for _, _, idx in sorted(dealt, key=lambda t: (t[0], t[1]))]
    n_test = max(1, int(round(n * test_frac))) if n else 0
    n_val = int(round(n * val_frac)) if n - n_test > 1 else 0
    out = {}
    for rank, idx in enumerate(order):
        out[song_ids[idx]] = Split.test if rank < n_test else Split.val if rank < n_test + n_val else Split.train
    return out


def disturb(rng: np.random.Generator, stems: list[str], max_db: float = 12.0, min_db: float = 2.0) -> dict[str, float]:
    """Offsets for 1–3 stems (more often one), realistic magnitudes, to the nearest 0.5 dB."""
    k = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
    chosen = set(rng.choice(stems, size=min(k, len(stems)), replace=False).tolist())
    offsets = {}
    for s in STEM_NAMES:
        if s in chosen:
            mag = float(rng.uniform(min_db, max_db))
            offsets[s] = round(float(np.sign(rng.random() - 0.5)) * mag * 2) / 2
        else:
            offsets[s] = 0.0
    return offsets


def make_items(song: Song, split: Split, rng: np.random.Generator, n_problem: int, n_control: int, active: list[str]) -> list[Item]:
    items = []
    for j in range(n_problem):
        offsets = disturb(rng, active)
        items.append(Item(id=f"{song.id}-p{j}", song_id=song.id, split=split, offsets_db=offsets,
                          correction_db={s: (-v if v else 0.0) for s, v in offsets.items()}, kind="problem"))
    for j in range(n_control):
        zero = dict.fromkeys(STEM_NAMES, 0.0)
        items.append(Item(id=f"{song.id}-c{j}", song_id=song.id, split=split, offsets_db=zero,
                          correction_db=dict(zero), kind="control"))
    return items


def _balanced(raw: dict[str, np.ndarray], comp, sample_rate: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The rendered stems at the style's balance (each at its loudness target, ±1 LU of human variation), with
    one common gain for headroom so +12 dB problem gains of one stem stay representable downstream."""
    targets = {s: VOCALS_TARGET_LUFS + comp.style.balance_lu[s] + float(rng.normal(0, 1.0)) for s in STEM_NAMES}
    stems = {}
    for s in STEM_NAMES:
        lufs = integrated_loudness(raw[s], sample_rate)
        stems[s] = raw[s] * (10 ** ((targets[s] - lufs) / 20) if np.isfinite(lufs) else 1.0)
    peak = max(float(np.max(np.abs(x))) for x in stems.values())
    if peak > 0.5:
        stems = {s: x * 0.5 / peak for s, x in stems.items()}
    return stems, targets


def synthesize(out: str | Path, *, songs: int = SYNTH_DEFAULTS.songs, seed: int = SYNTH_DEFAULTS.seed,
               seconds: float = SYNTH_DEFAULTS.seconds, sample_rate: int = SYNTH_DEFAULTS.sample_rate,
               problems_per_song: int = SYNTH_DEFAULTS.problems_per_song, controls_per_song: int = SYNTH_DEFAULTS.controls_per_song,
               renderer: str = SYNTH_DEFAULTS.renderer,
               progress: bool = True) -> Path:
    """Write ``out/manifest.json``, ``out/items.jsonl`` and ``out/songs/<id>/<stem>.wav``."""
    if songs < 1:
        raise EvalkitInputError("--songs must be at least 1")
    if not 2.0 <= seconds <= 600:
        raise EvalkitInputError("--seconds must be between 2 and 600")
    if renderer not in ("builtin", "fluidsynth"):
        raise EvalkitInputError(f"--renderer {renderer!r}: choose builtin or fluidsynth")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvalkitInputError(f"{out}: cannot create the output directory ({exc.strerror})") from exc
    root = np.random.default_rng(seed)
    song_seeds = root.integers(0, 2**63 - 1, size=songs)
    song_ids = [f"synth-s{seed}-{i:03d}" for i in range(songs)]
    style_names = sorted(STYLES)
    styled = songs >= len(style_names)  # each style in turn; fewer songs than styles draw their style at random
    splits = assign_splits(song_ids, np.random.default_rng([seed, 1]),
                           strata=[style_names[i % len(style_names)] for i in range(songs)] if styled else None)
    all_songs: list[Song] = []
    all_items: list[Item] = []
    files: dict[str, str] = {}
    for i in track(range(songs), description="synthesizing songs", disable=not progress):
        rng = np.random.default_rng(int(song_seeds[i]))
        comp = compose(rng, seconds, style_names[i % len(style_names)] if styled else None)
        raw = render_builtin(comp, sample_rate, rng) if renderer == "builtin" else render_fluidsynth(comp, sample_rate)
        stems, targets = _balanced(raw, comp, sample_rate, rng)
        rel = {}
        for s in STEM_NAMES:
            path = write_audio(out / "songs" / song_ids[i] / f"{s}.wav", stems[s], sample_rate)
            rel[s] = str(path.relative_to(out))
            files[rel[s]] = sha256_file(path)
        active = [s for s in STEM_NAMES if np.isfinite(integrated_loudness(stems[s], sample_rate))]
        song = Song(id=song_ids[i], source="synth", stems=rel, sample_rate=sample_rate,
                    reference_gains_db=dict.fromkeys(STEM_NAMES, 0.0),
                    meta={"style": comp.style.name, "tempo_bpm": comp.tempo, "key": comp.key_name,
                          "sections": comp.sections, "renderer": renderer, "license": "CC0 (generated)",
                          "target_lufs": {s: round(v, 2) for s, v in targets.items()}})
        all_songs.append(song)
        all_items += make_items(song, splits[song.id], rng, problems_per_song, controls_per_song, active)
    items_path = out / "items.jsonl"
    items_path.write_text("".join(i.model_dump_json() + "\n" for i in all_items))
    files["items.jsonl"] = sha256_file(items_path)
    manifest = {
        "generator": GENERATOR_VERSION,
        "seed": seed,
        "parameters": {"songs": songs, "seconds": seconds, "sample_rate": sample_rate, "renderer": renderer,
                       "problems_per_song": problems_per_song, "controls_per_song": controls_per_song},
        "numpy": np.__version__,
        "songs": [s.model_dump(mode="json") for s in all_songs],
        "checksums": dict(sorted(files.items())),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out


__all__ = ["GENERATOR_VERSION", "assign_splits", "disturb", "make_items", "sha256_file", "synthesize"]
