"""Loaders for real multitrack data already on disk (nothing is downloaded).

Each turns a dataset into the same test-set layout as the synthesizer: four stems per song written
under ``out/songs/<id>/``, a balanced reference given by consensus gains (``reference_gains_db``),
and items that disturb that reference by known amounts.

- MUSDB18-HQ: ``{train,test}/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav``; MUSDB18
  ``.stem.mp4`` (streams: mixture, drums, bass, other, vocals) through ``stempeg`` when installed.
  An optional consensus-gains CSV ``track,stem,gain_db`` sets the reference balance.
- MixParams: a parquet file, one row per track (mix_name, song_name, track_name,
  track_instrument_type, track_audio_path, track_audio_lufs, ``parameters`` JSON with ``gain``…).
- Mix Evaluation Dataset as repackaged in MixologyDB JSON: ``{"songs": [{"id", "title",
  "tracks": [{"name", "instrument", "path"}], "mixes": [{"id", "engineer", "faders_db": {track: dB},
  "ratings": [{"rater", "score", "comment"}]}]}]}``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.audio.io import load_stems, read_audio, write_audio
from evalkit.data.synth import GENERATOR_VERSION, assign_splits, make_items, sha256_file
from evalkit.errors import EvalkitInputError
from evalkit.records import STEM_NAMES, Item, Song, Split

_STEM_WORDS = {
    "drums": r"kick|snare|hat|hh|tom|cymbal|overhead|\boh\b|drum|perc|clap|ride|crash|room",
    "bass": r"bass|\bdi\b|sub",
    "vocals": r"vox|vocal|voice|sing|lead ?v|bv|backing|choir|harmony",
}


def instrument_to_stem(name: str) -> str:
    """Map a track's instrument or name onto MUSDB's four stems (anything unknown is "other")."""
    low = name.lower()
    for stem in ("vocals", "bass", "drums"):
        if re.search(_STEM_WORDS[stem], low):
            return stem
    return "other"


def consensus_stem_gains(mixes: list[dict[str, float]], track_stem: dict[str, str]) -> dict[str, float]:
    """Median over mixes of each stem's power-summed fader gain, relative to the mean over stems.

    Relative gains are what engineers agree on; absolute fader positions depend on monitoring level.
    """
    per_mix = []
    for faders in mixes:
        stem_power: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for track, g in faders.items():
            stem = track_stem.get(track)
            if stem is None:
                continue
            stem_power[stem] += 10 ** (g / 10)
            counts[stem] += 1
        if not stem_power:
            continue
        gains = {s: 10 * np.log10(p / counts[s]) for s, p in stem_power.items()}
        mean = float(np.mean(list(gains.values())))
        per_mix.append({s: g - mean for s, g in gains.items()})
    if not per_mix:
        return {}
    stems = sorted({s for m in per_mix for s in m})
    return {s: round(float(np.median([m[s] for m in per_mix if s in m])), 2) for s in stems}


class _Writer:
    """Writes songs' stems and collects Songs/Items into a test-set directory."""

    def __init__(self, out: Path, source: str, seed: int, problems: int):
        self.out, self.source, self.seed, self.problems = Path(out), source, seed, problems
        self.songs: list[Song] = []
        self.splits: dict[str, Split] = {}
        self.files: dict[str, str] = {}

    def add(self, song_id: str, stems: dict[str, np.ndarray], sr: int, reference_gains: dict[str, float], meta: dict,
            split: Split | None = None) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", song_id)
        rel = {}
        for stem in STEM_NAMES:
            x = stems.get(stem)
            if x is None:
                continue
            peak = float(np.max(np.abs(x))) if x.size else 0.0
            scale = 0.99 / peak if peak > 0.99 else 1.0  # keep PCM in range; balance is in the gains
            path = write_audio(self.out / "songs" / safe / f"{stem}.wav", x * scale, sr)
            rel[stem] = str(path.relative_to(self.out))
            self.files[rel[stem]] = sha256_file(path)
        self.songs.append(Song(id=safe, source=self.source, stems=rel, sample_rate=sr,
                               reference_gains_db={s: float(reference_gains.get(s, 0.0)) for s in rel}, meta=meta))
        if split is not None:
            self.splits[safe] = split

    def finish(self) -> int:
        if not self.songs:
            raise EvalkitInputError(f"no songs found for {self.source}; check the path and layout (see `evalkit data import --help`)")
        splits = assign_splits([s.id for s in self.songs], np.random.default_rng([self.seed, 1]))
        splits.update(self.splits)
        rng = np.random.default_rng(self.seed)
        items: list[Item] = []
        for song in self.songs:
            items += make_items(song, splits[song.id], rng, self.problems, 1, list(song.stems))
        (self.out / "items.jsonl").write_text("".join(i.model_dump_json() + "\n" for i in items))
        self.files["items.jsonl"] = sha256_file(self.out / "items.jsonl")
        manifest = {"generator": f"{GENERATOR_VERSION}/import-{self.source}", "seed": self.seed,
                    "parameters": {"source": self.source, "problems_per_song": self.problems},
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
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for row in df.itertuples(index=False):
        out[str(row.track)][str(row.stem)] = float(row.gain_db)
    return out


def load_musdb(root: Path, writer: _Writer, gains_csv: Path | None = None) -> None:
    gains = _read_gains_csv(gains_csv)
    for split_dir in ("train", "test"):
        base = root / split_dir
        if not base.is_dir():
            continue
        for track in sorted(p for p in base.iterdir() if p.is_dir()):
            paths = {s: track / f"{s}.wav" for s in STEM_NAMES}
            missing = [s for s, p in paths.items() if not p.exists()]
            if missing:
                raise EvalkitInputError(f"{track}: missing stem file(s) {', '.join(m + '.wav' for m in missing)} (MUSDB18-HQ layout)")
            stems, sr = load_stems(paths)
            split = Split.test if split_dir == "test" else None  # MUSDB's own test split stays held out
            writer.add(track.name, stems, sr, gains.get(track.name, {}), {"musdb_split": split_dir, "license": "MUSDB18 terms"}, split)
        for mp4 in sorted(base.glob("*.stem.mp4")):
            from evalkit.errors import require

            stempeg = require("stempeg", "data", "stempeg")
            audio, sr = stempeg.read_stems(str(mp4))  # (streams, samples, channels)
            stems = {s: np.ascontiguousarray(audio[k + 1].T) for k, s in enumerate(STEM_NAMES)}
            name = mp4.name.removesuffix(".stem.mp4")
            writer.add(name, stems, int(sr), gains.get(name, {}), {"musdb_split": split_dir}, Split.test if split_dir == "test" else None)


def _sum_tracks(tracks: list[tuple[str, Path]], track_stem: dict[str, str], base: Path) -> tuple[dict[str, np.ndarray], int]:
    stems: dict[str, np.ndarray] = {}
    sr = None
    for name, rel in tracks:
        x, sr = read_audio(base / rel, sample_rate=sr)
        if x.shape[0] == 1:
            x = np.repeat(x, 2, axis=0)
        stem = track_stem[name]
        if stem in stems:
            n = max(stems[stem].shape[-1], x.shape[-1])
            stems[stem] = np.pad(stems[stem], ((0, 0), (0, n - stems[stem].shape[-1]))) + np.pad(x, ((0, 0), (0, n - x.shape[-1])))
        else:
            stems[stem] = x
    if sr is None:
        raise EvalkitInputError(f"{base}: a song with no tracks")
    n = max(v.shape[-1] for v in stems.values())
    return {k: np.pad(v, ((0, 0), (0, n - v.shape[-1]))) for k, v in stems.items()}, sr


def load_mixparams(path: Path, writer: _Writer) -> None:
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise EvalkitInputError(f"{path}: unreadable parquet ({exc}); install pyarrow (`pip install 'evalkit[data]'`)") from exc
    need = {"mix_name", "song_name", "track_name", "track_instrument_type", "track_audio_path", "parameters"}
    missing = need - set(df.columns)
    if missing:
        raise EvalkitInputError(f"{path}: missing column(s) {', '.join(sorted(missing))} (MixParams layout)")
    for song, g in df.groupby("song_name", sort=True):
        track_stem = {r.track_name: instrument_to_stem(f"{r.track_instrument_type} {r.track_name}") for r in g.itertuples()}
        mixes = []
        for _, m in g.groupby("mix_name"):
            faders = {}
            for r in m.itertuples():
                params = json.loads(r.parameters) if isinstance(r.parameters, str) else dict(r.parameters)
                faders[r.track_name] = float(params.get("gain", 0.0))
            mixes.append(faders)
        tracks = sorted({(r.track_name, r.track_audio_path) for r in g.itertuples()})
        stems, sr = _sum_tracks(tracks, track_stem, Path(path).parent)
        writer.add(str(song), stems, sr, consensus_stem_gains(mixes, track_stem), {"mixes": len(mixes), "tracks": len(tracks)})


def load_mixeval(path: Path, writer: _Writer) -> None:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        songs = doc["songs"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise EvalkitInputError(f"{path}: not MixologyDB JSON with a top-level 'songs' list ({exc})") from exc
    for k, song in enumerate(songs):
        try:
            track_stem = {t["name"]: instrument_to_stem(f"{t.get('instrument', '')} {t['name']}") for t in song["tracks"]}
            tracks = [(t["name"], t["path"]) for t in song["tracks"]]
            mixes = [m["faders_db"] for m in song.get("mixes", [])]
            ratings = [r for m in song.get("mixes", []) for r in m.get("ratings", [])]
        except (KeyError, TypeError) as exc:
            raise EvalkitInputError(f"{path}: songs[{k}] lacks field {exc}; each song needs tracks[name,path] and mixes[faders_db]") from exc
        stems, sr = _sum_tracks(tracks, track_stem, Path(path).parent)
        writer.add(str(song.get("id", f"song{k}")), stems, sr, consensus_stem_gains(mixes, track_stem),
                   {"title": song.get("title", ""), "mixes": len(mixes), "ratings": len(ratings),
                    "comments": [r.get("comment") for r in ratings if r.get("comment")][:20]})


def import_dataset(source: str, path: Path, out: Path, *, gains_csv: Path | None = None, seed: int = 0,
                   problems_per_song: int = 3) -> int:
    path = Path(path)
    if not path.exists():
        raise EvalkitInputError(f"{path}: not found; point at the dataset on disk (nothing is downloaded)")
    writer = _Writer(Path(out), source, seed, problems_per_song)
    if source == "musdb":
        load_musdb(path, writer, gains_csv)
    elif source == "mixparams":
        load_mixparams(path, writer)
    elif source == "mixeval":
        load_mixeval(path, writer)
    else:
        raise EvalkitInputError(f"unknown source {source!r}: choose musdb, mixparams or mixeval")
    return writer.finish()


__all__ = ["consensus_stem_gains", "import_dataset", "instrument_to_stem"]
