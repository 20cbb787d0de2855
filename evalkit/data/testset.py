"""Loading a test-set directory (manifest.json + items.jsonl) with errors that name the bad line."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from evalkit.audio.features import SongAnalyzer, StemFeatures
from evalkit.audio.io import load_stems
from evalkit.audio.render import mixdown
from evalkit.config_io import first_error
from evalkit.data.verify import verify_checksums, verify_item, verify_songs
from evalkit.errors import EvalkitInputError
from evalkit.records import Item, Song


@dataclass
class TestSet:
    root: Path
    manifest: dict
    songs: dict[str, Song]
    items: list[Item]
    resample: bool = False
    _audio: dict = field(default_factory=dict, repr=False)

    __test__ = False  # not a pytest class

    @property
    def checksum(self) -> str:
        """One hash over every file's checksum: the test set's identity in reports."""
        return hashlib.sha256(json.dumps(self.manifest.get("checksums", {}), sort_keys=True).encode()).hexdigest()[:16]

    def split(self, name: str | None) -> list[Item]:
        """The items of one split (train, val, test) or all of them; an unknown name is refused, never an empty run."""
        if name not in (None, "all", "train", "val", "test"):
            raise EvalkitInputError(f"--split {name!r}: choose train, val, test or all")
        return [i for i in self.items if name in (None, "all") or i.split == name]

    def item(self, item_id: str) -> Item:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(item_id)

    def stems(self, song_id: str) -> tuple[dict[str, np.ndarray], int]:
        """The song's balanced stems (reference gains applied), cached per song."""
        if song_id not in self._audio:
            song = self.songs[song_id]
            stems, sr = load_stems({k: self.root / v for k, v in song.stems.items()},
                                   sample_rate=song.sample_rate, resample=self.resample)
            for k, v in stems.items():  # in place: the stems stay rows of one block (audio.io.as_block)
                v *= 10 ** (song.reference_gains_db.get(k, 0.0) / 20)
            if len(self._audio) >= 16:  # bound memory on large sets; songs are visited in order
                self._audio.clear()
            self._audio[song_id] = (stems, sr)
        return self._audio[song_id]

    def problem_mix(self, item: Item) -> tuple[np.ndarray, int]:
        stems, sr = self.stems(item.song_id)
        return mixdown(stems, item.offsets_db), sr

    def features(self, item: Item) -> dict[str, StemFeatures]:
        """Features of the problem stems and mix (cached per item)."""
        return _features_cached(self, item.id)

    def reference_features(self, song_id: str) -> dict[str, StemFeatures]:
        return _reference_cached(self, song_id)

    def __hash__(self) -> int:
        return id(self)


@lru_cache(maxsize=8)
def _analyzer(ts: TestSet, song_id: str) -> SongAnalyzer:
    """One song's filtered and transformed stems: every item of the song reuses them."""
    stems, sr = ts.stems(song_id)
    return SongAnalyzer(stems, sr)


@lru_cache(maxsize=4096)
def _features_cached(ts: TestSet, item_id: str) -> dict[str, StemFeatures]:
    item = ts.item(item_id)
    return _analyzer(ts, item.song_id).features(item.offsets_db)


@lru_cache(maxsize=1024)
def _reference_cached(ts: TestSet, song_id: str) -> dict[str, StemFeatures]:
    return _analyzer(ts, song_id).features()


def load_testset(root: str | Path, *, resample: bool = False) -> TestSet:
    root = Path(root)
    manifest_path = root / "manifest.json"
    items_path = root / "items.jsonl"
    if not manifest_path.exists():
        raise EvalkitInputError(f"{manifest_path}: not found; make a test set with `evalkit data synth --out {root}`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvalkitInputError(f"{manifest_path}: not valid JSON ({exc}); regenerate the test set") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("songs", []), list) \
            or not isinstance(manifest.get("checksums", {}), dict):
        raise EvalkitInputError(f"{manifest_path}: not a test-set manifest (expected an object with a songs list and a "
                                "checksums object); regenerate the test set")
    songs = {}
    for k, raw in enumerate(manifest.get("songs", [])):
        try:
            song = Song.model_validate(raw)
        except ValidationError as exc:
            raise EvalkitInputError(f"{manifest_path}: song {k}: {first_error(exc)}") from exc
        if song.id in songs:
            raise EvalkitInputError(f"{manifest_path}: song id {song.id!r} appears twice; song ids must be unique")
        songs[song.id] = song
    verify_songs(manifest_path, list(songs.values()))
    verify_checksums(root, manifest.get("checksums", {}))
    if not items_path.exists():
        raise EvalkitInputError(f"{items_path}: not found; the test set is incomplete, regenerate it")
    items: list[Item] = []
    seen: set[str] = set()
    try:
        lines = items_path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise EvalkitInputError(f"{items_path}: not UTF-8 text; regenerate the test set") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = Item.model_validate_json(line)
        except ValidationError as exc:
            raise EvalkitInputError(f"{items_path}:{n}: {first_error(exc)}") from exc
        if item.song_id not in songs:
            raise EvalkitInputError(f"{items_path}:{n}: song {item.song_id!r} is not in manifest.json")
        verify_item(f"{items_path}:{n}", item, songs[item.song_id], seen)
        items.append(item)
    if not items:
        raise EvalkitInputError(f"{items_path}: no items; the test set is empty")
    return TestSet(root=root, manifest=manifest, songs=songs, items=items, resample=resample)


__all__ = ["TestSet", "load_testset"]
