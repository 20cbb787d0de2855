"""Loaders for real multitrack data already on disk (nothing is downloaded).

Each turns a dataset into the same test-set layout as the synthesizer: four stems per song written
under ``out/songs/<id>/``, a balanced reference given by consensus gains (``reference_gains_db``),
and items that disturb that reference by known amounts.

- MUSDB18-HQ: ``{train,test}/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav``; MUSDB18
  ``.stem.mp4`` (streams: mixture, drums, bass, other, vocals) through ``stempeg`` and ffmpeg. The official
  split is kept: MUSDB's test tracks are the test split, its train tracks go to train and val only.
  An optional consensus-gains CSV ``track,stem,gain_db`` sets the reference balance.
- MixParams (HF parquet, ``data/{train,dev,test}-*.parquet``) and MixologyDB (the Mix Evaluation Dataset's
  ``final-track-data.json``): evalkit/data/mix_tables.py.

A song is written as found, except that when its loudest stem would clip in 16-bit PCM every stem is scaled
by the same factor (relative gains, and so the truth, unchanged; ``meta["import_gain_db"]`` records it).
``excerpt`` cuts every stem to one window (the loudest, or from a given start) so long songs become usable stimuli.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.audio.io import load_stems, write_audio
from evalkit.data.mix_tables import import_mix_rows, mixology_rows, mixparams_rows
from evalkit.data.stem_map import read_stem_map
from evalkit.data.synth import GENERATOR_VERSION, assign_splits, make_items, sha256_file
from evalkit.errors import EvalkitInputError
from evalkit.records import STEM_NAMES, Item, Song, Split


def loudest_start(stems: dict[str, np.ndarray], sr: int, seconds: float) -> int:
    """First sample of the ``seconds``-long window with the most energy in the unity sum of the stems."""
    n = max(x.shape[-1] for x in stems.values())
    width = int(round(seconds * sr))
    if width >= n:
        return 0
    mix = sum(np.pad(x, ((0, 0), (0, n - x.shape[-1]))) for x in stems.values())
    energy = np.concatenate([[0.0], np.cumsum(np.sum(mix ** 2, axis=0))])
    hop = max(1, sr // 10)  # window starts on a 0.1 s grid
    starts = np.arange(0, n - width + 1, hop)
    return int(starts[np.argmax(energy[starts + width] - energy[starts])])


class _Writer:
    """Writes songs' stems and collects Songs/Items into a test-set directory."""

    def __init__(self, out: Path, source: str, seed: int, problems: int, excerpt: tuple[float, float | None] | None = None):
        self.out, self.source, self.seed, self.problems, self.excerpt = Path(out), source, seed, problems, excerpt
        self.songs: list[Song] = []
        self.splits: dict[str, Split] = {}
        self.train_only: set[str] = set()  # songs that may go to train or val, never test (MUSDB's train tracks)
        self.files: dict[str, str] = {}

    def _cut(self, stems: dict[str, np.ndarray], sr: int, meta: dict) -> dict[str, np.ndarray]:
        seconds, start_s = self.excerpt
        start = int(round(start_s * sr)) if start_s is not None else loudest_start(stems, sr, seconds)
        n = max(x.shape[-1] for x in stems.values())
        if start >= n:
            raise EvalkitInputError(f"--excerpt-start {start_s} s is past the end of a {n / sr:.1f} s song; give an earlier start")
        meta["excerpt"] = {"start_s": round(start / sr, 3), "seconds": round(min(seconds, (n - start) / sr), 3),
                           "chosen": "given" if start_s is not None else "loudest"}
        return {k: x[:, start:start + int(round(seconds * sr))] for k, x in stems.items()}

    def add(self, song_id: str, stems: dict[str, np.ndarray], sr: int, reference_gains: dict[str, float], meta: dict,
            split: Split | None = None, *, train_only: bool = False) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", song_id)
        if any(s.id == safe for s in self.songs):
            raise EvalkitInputError(f"two songs are both named {safe!r} after cleaning their names; rename one")
        if self.excerpt:
            stems = self._cut(stems, sr, meta)
        peak = max((float(np.max(np.abs(x))) for x in stems.values() if x.size), default=0.0)
        scale = 0.99 / peak if peak > 0.99 else 1.0  # one factor for every stem: the balance, and so the truth, is kept
        if scale != 1.0:
            meta["import_gain_db"] = round(20 * float(np.log10(scale)), 2)
        rel = {}
        for stem in STEM_NAMES:
            if stems.get(stem) is None:
                continue
            path = write_audio(self.out / "songs" / safe / f"{stem}.wav", stems[stem] * scale, sr)
            rel[stem] = str(path.relative_to(self.out))
            self.files[rel[stem]] = sha256_file(path)
        self.songs.append(Song(id=safe, source=self.source, stems=rel, sample_rate=sr,
                               reference_gains_db={s: float(reference_gains.get(s, 0.0)) for s in rel}, meta=meta))
        if split is not None:
            self.splits[safe] = split
        if train_only:
            self.train_only.add(safe)

    def _assign_splits(self) -> dict[str, Split]:
        """Given splits stay; the rest are split by song, those marked train-only among train and val."""
        rng = np.random.default_rng([self.seed, 1])
        free = [s.id for s in self.songs if s.id not in self.splits and s.id not in self.train_only]
        splits = assign_splits(free, rng) if free else {}
        trainval = [s.id for s in self.songs if s.id in self.train_only and s.id not in self.splits]
        for rank, idx in enumerate(rng.permutation(len(trainval))):
            splits[trainval[idx]] = Split.val if rank < round(0.16 * len(trainval)) else Split.train
        splits.update(self.splits)
        return splits

    def finish(self) -> int:
        if not self.songs:
            raise EvalkitInputError(f"no songs found for {self.source}; check the path and layout (see `evalkit data import --help`)")
        splits = self._assign_splits()
        rng = np.random.default_rng(self.seed)
        items: list[Item] = []
        for song in self.songs:
            items += make_items(song, splits[song.id], rng, self.problems, 1, list(song.stems))
        (self.out / "items.jsonl").write_text("".join(i.model_dump_json() + "\n" for i in items))
        self.files["items.jsonl"] = sha256_file(self.out / "items.jsonl")
        manifest = {"generator": f"{GENERATOR_VERSION}/import-{self.source}", "seed": self.seed,
                    "parameters": {"source": self.source, "problems_per_song": self.problems,
                                   "excerpt": list(self.excerpt) if self.excerpt else None},
                    "songs": [s.model_dump(mode="json") for s in self.songs], "checksums": dict(sorted(self.files.items()))}
        (self.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return len(items)


def _read_gains_csv(path: Path | None) -> dict[str, dict[str, float]]:
    if path is None:
        return {}
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise EvalkitInputError(f"{path}: unreadable CSV ({exc})") from exc
    missing = {"track", "stem", "gain_db"} - set(df.columns)
    if missing:
        raise EvalkitInputError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected track,stem,gain_db")
    bad = set(df["stem"]) - set(STEM_NAMES)
    if bad:
        raise EvalkitInputError(f"{path}: unknown stem(s) {', '.join(sorted(map(str, bad)))}; use drums, bass, other, vocals")
    out: dict[str, dict[str, float]] = {}
    for row in df.itertuples(index=False):
        g = float(row.gain_db)
        if not np.isfinite(g) or abs(g) > 40:
            raise EvalkitInputError(f"{path}: gain_db {row.gain_db!r} for {row.track}/{row.stem} is not a plausible gain; give dB within ±40")
        out.setdefault(str(row.track), {})[str(row.stem)] = g
    return out


def _read_stem_mp4(mp4: Path) -> tuple[dict[str, np.ndarray], int]:
    """MUSDB18's .stem.mp4 (streams: mixture, drums, bass, other, vocals) through stempeg, which runs ffmpeg."""
    import shutil

    from evalkit.errors import require

    stempeg = require("stempeg", "data", "stempeg")
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise EvalkitInputError(f"{mp4}: reading .stem.mp4 needs ffmpeg and ffprobe on the PATH (e.g. `apt-get install ffmpeg`), "
                                "or convert MUSDB18 to the WAV layout of MUSDB18-HQ (`musdbconvert`)")
    audio, sr = stempeg.read_stems(str(mp4))  # (streams, samples, channels)
    if audio.shape[0] < 5:
        raise EvalkitInputError(f"{mp4}: {audio.shape[0]} streams; a MUSDB .stem.mp4 has 5 (mixture, drums, bass, other, vocals)")
    return {s: np.ascontiguousarray(audio[k + 1].T, dtype=np.float64) for k, s in enumerate(STEM_NAMES)}, int(sr)


def load_musdb(root: Path, writer: _Writer, gains_csv: Path | None = None, resample: bool = False) -> None:
    gains = _read_gains_csv(gains_csv)
    if not any((root / d).is_dir() for d in ("train", "test")):
        raise EvalkitInputError(f"{root}: no train/ or test/ folder; point at the MUSDB18(-HQ) root that holds them")
    for split_dir in ("train", "test"):
        base = root / split_dir
        if not base.is_dir():
            continue
        official = {"musdb_split": split_dir, "license": "MUSDB18 terms (research use)"}
        for track in sorted(p for p in base.iterdir() if p.is_dir()):
            paths = {s: track / f"{s}.wav" for s in STEM_NAMES}
            missing = [s for s, p in paths.items() if not p.exists()]
            if missing:
                raise EvalkitInputError(f"{track}: missing stem file(s) {', '.join(m + '.wav' for m in missing)} (MUSDB18-HQ layout)")
            stems, sr = load_stems(paths, resample=resample)
            writer.add(track.name, stems, sr, gains.get(track.name, {}), dict(official),
                       Split.test if split_dir == "test" else None, train_only=split_dir == "train")
        for mp4 in sorted(base.glob("*.stem.mp4")):
            stems, sr = _read_stem_mp4(mp4)
            name = mp4.name.removesuffix(".stem.mp4")
            writer.add(name, stems, sr, gains.get(name, {}), dict(official), Split.test if split_dir == "test" else None,
                       train_only=split_dir == "train")


def import_dataset(source: str, path: Path, out: Path, *, gains_csv: Path | None = None, seed: int = 0,
                   problems_per_song: int = 3, stem_map: Path | None = None, audio_root: Path | None = None,
                   resample: bool = False, excerpt: float | None = None, excerpt_start: float | None = None) -> int:
    """Import one dataset into a test set at ``out``; returns the number of items written."""
    path = Path(path)
    if not path.exists():
        raise EvalkitInputError(f"{path}: not found; point at the dataset on disk (nothing is downloaded)")
    if excerpt is not None and not (0 < excerpt <= 600):
        raise EvalkitInputError(f"--excerpt {excerpt}: give a length in seconds between 0 and 600")
    if excerpt_start is not None and (excerpt is None or excerpt_start < 0):
        raise EvalkitInputError("--excerpt-start needs --excerpt SECONDS and a start ≥ 0 s")
    if gains_csv is not None and source != "musdb":
        raise EvalkitInputError("--gains applies to musdb only; MixParams and MixologyDB carry the engineers' own gains")
    if stem_map is not None and source == "musdb":
        raise EvalkitInputError("--stem-map applies to mixparams and mixeval (multitracks with many named tracks); MUSDB's "
                                "stems are already drums, bass, other and vocals")
    mapping = read_stem_map(stem_map)
    writer = _Writer(Path(out), source, seed, problems_per_song, (excerpt, excerpt_start) if excerpt else None)
    extra_roots = [Path(audio_root)] if audio_root else []
    if source == "musdb":
        load_musdb(path, writer, gains_csv, resample)
    elif source == "mixparams":
        rows, root = mixparams_rows(path)
        import_mix_rows(rows, extra_roots + [root, root / "data"], writer, stem_map=mapping, resample=resample)
    elif source == "mixeval":
        json_file = path / "final-track-data.json" if path.is_dir() else path
        import_mix_rows(mixology_rows(json_file), extra_roots + [json_file.parent], writer, stem_map=mapping, resample=resample)
    else:
        raise EvalkitInputError(f"unknown source {source!r}: choose musdb, mixparams or mixeval")
    return writer.finish()


__all__ = ["import_dataset", "loudest_start"]
