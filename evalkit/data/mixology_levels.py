"""Per-mix stem levels from a MixologyDB-layout file, with no audio: each track's measured loudness plus its fader.

MixologyDB publishes, for every mix of a song, each track's fader ``gain`` (dB) and its raw audio's integrated
loudness (``track-audio-lufs``), and the listeners' ratings (``track-num-eval``, 0–1) and comments
(``track-semantic-eval``) of the whole mix. A stem's level in a mix is the power sum of its tracks' loudness
after the fader, 10·log10 Σ_k 10^((LUFS_k + g_k)/10), taken relative to the same power sum over every track
of the mix. (Loudness adds as power only approximately: integrated loudness gates quiet passages. The error is
the same for every mix of a song, and the truth check compares mixes of one song.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.data.json_fields import finite_number, typed_field
from evalkit.data.mix_tables import mixology_mixes
from evalkit.data.stem_map import instrument_to_stem
from evalkit.errors import EvalkitInputError


@dataclass
class Evaluation:
    rating: float | None  # 0–1
    comment: str


@dataclass
class MixLevels:
    song: str
    mix: str
    levels_db: dict[str, float]  # stem -> level relative to the whole mix (dB)
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def mean_rating(self) -> float | None:
        r = [e.rating for e in self.evaluations if e.rating is not None]
        return sum(r) / len(r) if r else None


def _power_db(levels: list[float]) -> float:
    """Power sum in dB, computed around the largest level (no overflow for any finite input)."""
    top = max(levels)
    return top + 10 * math.log10(sum(10 ** ((x - top) / 10) for x in levels))


def _mix_levels(mix: dict[str, Any], where: str, stem_map: dict[str, str] | None) -> dict[str, float]:
    by_stem: dict[str, list[float]] = {}
    for k, t in enumerate(typed_field(mix, "tracks", list, where)):
        if not isinstance(t, dict) or str(t.get("track-type") or "AUDIO").upper() in ("AUX", "SIGNAL"):
            continue
        lufs = finite_number(typed_field(t, "track-audio-features", dict, f"{where}.tracks[{k}]").get("track-audio-lufs"))
        if lufs is None:
            continue  # a track with no measured audio (silent, or no file) adds nothing
        raw_gain = typed_field(t, "parameters", dict, f"{where}.tracks[{k}]").get("gain", 0.0)
        gain = finite_number(raw_gain)
        if gain is None and raw_gain is not None:
            raise EvalkitInputError(f"{where}: tracks[{k}] ({t.get('track-name')!r}) has gain {raw_gain!r}, not a number in dB; "
                                    "fix or remove that track")
        if abs(lufs) > 200 or abs(gain or 0.0) > 200:
            raise EvalkitInputError(f"{where}: tracks[{k}] ({t.get('track-name')!r}) has loudness {lufs:g} LUFS and gain "
                                    f"{gain or 0.0:g} dB, beyond ±200: not a real level; fix or remove that track")
        stem = instrument_to_stem(str(t.get("track-name") or ""), t.get("track-instrument-type"), stem_map)
        by_stem.setdefault(stem, []).append(lufs + (gain or 0.0))
    if not by_stem:
        return {}
    total = _power_db([x for v in by_stem.values() for x in v])
    return {s: _power_db(v) - total for s, v in by_stem.items()}


def _evaluations(mix: dict[str, Any]) -> list[Evaluation]:
    out = []
    for e in mix.get("mix-evaluation") if isinstance(mix.get("mix-evaluation"), list) else []:
        if isinstance(e, dict):
            rating = finite_number(e.get("track-num-eval"))
            out.append(Evaluation(rating if rating is not None and 0 <= rating <= 1 else None, str(e.get("track-semantic-eval") or "")))
    return out


def read_mix_levels(path: str | Path, stem_map: dict[str, str] | None = None) -> list[MixLevels]:
    """Every mix of a MixologyDB-layout JSON file with its stem levels and its listeners' ratings and comments."""
    path = Path(path)
    mixes = mixology_mixes(path)
    out = []
    for k, mix in enumerate(mixes):
        if not isinstance(mix, dict) or not mix.get("song-name"):
            raise EvalkitInputError(f"{path}: mixes[{k}] has no song-name; each mix needs song-name and tracks")
        levels = _mix_levels(mix, f"{path}: mixes[{k}]", stem_map)
        if levels:
            out.append(MixLevels(str(mix["song-name"]), str(mix.get("mix-name") or f"mix{k}"), levels, _evaluations(mix)))
    if not out:
        raise EvalkitInputError(f"{path}: no mix has a track with measured loudness (track-audio-lufs); nothing to check")
    return out


__all__ = ["Evaluation", "MixLevels", "read_mix_levels"]
