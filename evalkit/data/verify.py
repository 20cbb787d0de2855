"""Checks a test set must pass before anything runs on it: the files are the ones the manifest
hashed, and the items are well-formed (finite, plausible gains on stems the song has; unique ids).

A changed file or a bad item is an input error naming the file (or line) and the fix, never a run
that quietly measures something else. Hashes are cached per (path, size, mtime) within a process,
so a pipeline that loads the test set at every stage hashes each file once.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache
from pathlib import Path

from evalkit.errors import EvalkitInputError
from evalkit.records import STEM_NAMES, Item, Song

MAX_ABS_DB = 40.0  # a stem knocked off by more than this is not a balance problem, it is a broken file


@lru_cache(maxsize=4096)
def _sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime are the cache key
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksums(root: Path, checksums: dict[str, str]) -> None:
    """Every file the manifest lists exists and hashes to what it recorded."""
    for rel, expected in sorted(checksums.items()):
        path = root / rel
        if not path.is_file():
            raise EvalkitInputError(f"{path}: not found (listed in manifest.json); restore it or rebuild the test set")
        st = path.stat()
        if _sha256(str(path), st.st_size, st.st_mtime_ns) != expected:
            raise EvalkitInputError(f"{path}: changed since the test set was built (checksum differs from manifest.json); "
                                    "restore the original or rebuild the test set (results would not be comparable)")


def verify_songs(manifest_path: Path, songs: list[Song]) -> None:
    """Stems are the four evalkit knows (a dataset's own names are mapped at import)."""
    for song in songs:
        unknown = sorted(set(song.stems) - set(STEM_NAMES))
        if unknown:
            raise EvalkitInputError(f"{manifest_path}: song {song.id!r} has unknown stem(s) {', '.join(unknown)}; "
                                    f"use {', '.join(STEM_NAMES)}")
        root = manifest_path.parent.resolve()
        for stem, rel in song.stems.items():
            target = (root / rel).resolve()
            if Path(rel).is_absolute() or not target.is_relative_to(root):
                raise EvalkitInputError(f"{manifest_path}: song {song.id!r} stem {stem}: {rel!r} points outside the test set; "
                                        "stem paths are relative to the test-set folder and stay inside it")


def verify_item(where: str, item: Item, song: Song, seen: set[str]) -> None:
    """One item: a unique id, finite and plausible gains, and no gain change on a stem its song lacks."""
    if item.id in seen:
        raise EvalkitInputError(f"{where}: item id {item.id!r} appears twice; item ids must be unique")
    seen.add(item.id)
    for field in ("offsets_db", "correction_db"):
        for stem, value in getattr(item, field).items():
            if stem not in song.stems and value != 0:  # a zero for an absent stem changes nothing
                raise EvalkitInputError(f"{where}: {field}.{stem}: song {song.id!r} has no stem {stem!r} (it has "
                                        f"{', '.join(sorted(song.stems))})")
            if not math.isfinite(value):
                raise EvalkitInputError(f"{where}: {field}.{stem} is {value}; gains must be finite numbers of dB")
            if abs(value) > MAX_ABS_DB:
                raise EvalkitInputError(f"{where}: {field}.{stem} = {value} dB is outside ±{MAX_ABS_DB:g} dB; "
                                        "check the units (dB, not linear gain) or the sign")


__all__ = ["MAX_ABS_DB", "verify_checksums", "verify_item", "verify_songs"]
