"""The reference pool: which other song an item is compared with under ``stems+reference``.

A mixing engineer balances against a *reference track* — another, well-balanced song in a similar
style — never against a balanced copy of the song being mixed (that copy is the answer). So the
reference for an item is drawn from the pool (the train split's songs), preferring the item's
style or genre when known, deterministically from the seed and the item id. It is never the item's
own song and never a song of the split being evaluated.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from evalkit.errors import ConfigError
from evalkit.records import Item, Song

POOL_SPLIT = "train"


def song_style(song: Song) -> str | None:
    """The song's style or genre as a lower-case label, if the data set has one."""
    for key in ("style", "genre"):
        value = song.meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return None


def reference_pool(songs: dict[str, Song], items: Iterable[Item]) -> list[str]:
    """Songs eligible as references: those whose items are all in the train split (sorted ids)."""
    split_of: dict[str, set[str]] = {}
    for i in items:
        split_of.setdefault(i.song_id, set()).add(str(i.split))
    return sorted(s for s, splits in split_of.items() if splits == {POOL_SPLIT} and s in songs)


def choose_reference(item: Item, songs: dict[str, Song], pool: list[str], seed: int = 0) -> str:
    """The reference song for ``item``: same style when the pool has one, else any pool song.

    Deterministic in (seed, item id), so reruns and every system under the condition see the same
    reference for the same item.
    """
    candidates = [s for s in pool if s != item.song_id]
    if not candidates:
        raise ConfigError(
            "stems+reference needs a reference pool: the test set has no train-split songs other than the item's "
            "own; build the test set with train songs (evalkit data synth splits by song) or use reference: own "
            "as a labelled upper bound")
    style = song_style(songs[item.song_id]) if item.song_id in songs else None
    same = [s for s in candidates if style is not None and song_style(songs[s]) == style]
    chosen_from = same or candidates
    return chosen_from[zlib.crc32(f"{seed}:{item.id}".encode()) % len(chosen_from)]


def pool_summary(songs: dict[str, Song], items: list[Item]) -> list[dict]:
    """One row per pool song (id, style, source) for `evalkit data describe`."""
    return [{"song_id": s, "style": song_style(songs[s]) or "-", "source": songs[s].source}
            for s in reference_pool(songs, items)]


__all__ = ["POOL_SPLIT", "choose_reference", "pool_summary", "reference_pool", "song_style"]
