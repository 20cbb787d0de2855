"""MixologyDB (the Mix Evaluation Dataset's mixes, as JSON) and MixParams (the same records as HF parquet).

Both publish one record per (mix, track): the engineer's fader ``gain`` in dB among the ``parameters``,
the track's instrument type, and its audio path (in MixologyDB under ``track-audio-features``). All mixes
of a song use the same raw multitracks, so a song's stems are its raw tracks summed at unity, and the
balanced reference is the engineers' consensus: per mix, each stem's level change from its tracks' faders
(power-weighted by the tracks' own levels), relative to the mean over stems; then the median over mixes.
The spread across engineers is kept in the song's meta (``engineer_gains_db``, ``engineer_spread_db``).

Tracks are matched across mixes by audio path (engineers rename tracks: "KickIn" in one mix is
"01_KickIn" in another). AUX and SIGNAL tracks have no audio and are skipped; their routing is not in
the data, so a bus fader's effect on its tracks cannot be counted.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.audio.io import read_audio
from evalkit.data.stem_map import instrument_to_stem
from evalkit.errors import EvalkitInputError
from evalkit.records import Split

HF_SPLITS = {"train": Split.train, "dev": Split.val, "validation": Split.val, "val": Split.val, "test": Split.test}
_HELD_OUT = [Split.test, Split.val, Split.train]  # a song found in several HF splits goes to the most held-out


def mixology_mixes(path: Path) -> list[Any]:
    """The ``mixes`` list of a MixologyDB-layout JSON file (a clear error for anything else)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        mixes = doc["mixes"]
        if not isinstance(mixes, list):
            raise TypeError("'mixes' is not a list")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise EvalkitInputError(f"{path}: not a MixologyDB-layout file with a top-level 'mixes' list ({exc}); "
                                "point at final-track-data.json of MixologyDB") from exc
    return mixes


def mixology_rows(path: Path) -> list[dict[str, Any]]:
    """MixologyDB JSON ``{"mixes": [{mix-name, song-name, tracks: [...]}]}`` as flat (mix, track) rows."""
    mixes = mixology_mixes(path)
    rows = []
    for k, mix in enumerate(mixes):
        try:
            for t in mix["tracks"]:
                feats = t.get("track-audio-features") or {}
                rows.append({"mix_name": mix.get("mix-name", f"mix{k}"), "song_name": mix["song-name"],
                             "artist_name": mix.get("artist-name", ""), "genre": mix.get("genre", ""),
                             "track_name": t.get("track-name", ""), "track_type": t.get("track-type", ""),
                             "track_instrument_type": t.get("track-instrument-type"),
                             "track_audio_path": feats.get("track-audio-path"),
                             "parameters": t.get("parameters") or {},
                             "evaluations": [e.get("track-semantic-eval") for e in mix.get("mix-evaluation") or []
                                             if isinstance(e, dict) and e.get("track-semantic-eval")]})
        except (KeyError, TypeError, AttributeError) as exc:
            raise EvalkitInputError(f"{path}: mixes[{k}] lacks field {exc}; each mix needs song-name and tracks") from exc
    return rows


def mixparams_rows(path: Path) -> tuple[list[dict[str, Any]], Path]:
    """MixParams parquet rows from a dataset root (``data/<split>-*.parquet``) or one parquet file; the HF
    split comes from the file name. Returns the rows and the dataset root (audio paths resolve there)."""
    path = Path(path)
    files = sorted(path.glob("data/*.parquet")) + sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise EvalkitInputError(f"{path}: no parquet files (expected data/train-*.parquet, data/dev-*.parquet, data/test-*.parquet)")
    root = path if path.is_dir() else (path.parent.parent if path.parent.name == "data" else path.parent)
    need = {"mix_name", "song_name", "track_name", "track_instrument_type", "track_audio_path", "parameters"}
    rows = []
    for f in files:
        try:
            df = pd.read_parquet(f)
        except Exception as exc:
            raise EvalkitInputError(f"{f}: unreadable parquet ({str(exc).splitlines()[0][:120]}); "
                                    "install pyarrow (`pip install 'evalkit[data]'`)") from exc
        missing = need - set(df.columns)
        if missing:
            raise EvalkitInputError(f"{f}: missing column(s) {', '.join(sorted(missing))} (MixParams layout)")
        m = re.match(r"(train|dev|validation|val|test)\b", f.name)
        for r in df.to_dict("records"):
            params = r["parameters"]
            try:
                r["parameters"] = json.loads(params) if isinstance(params, str) else dict(params or {})
            except (json.JSONDecodeError, TypeError, ValueError) as exc:
                raise EvalkitInputError(f"{f}: track {r['track_name']!r} of mix {r['mix_name']!r}: parameters are not JSON ({exc})") from exc
            r["hf_split"] = m.group(1) if m else None
            rows.append(r)
    return rows, root


def _resolve(rel: str, roots: list[Path]) -> Path:
    for base in roots:
        p = (base / rel).resolve()
        if p.exists():
            return p
    raise EvalkitInputError(f"{rel}: audio not found under {', '.join(map(str, roots))}; "
                            "put the audio where the dataset's paths point, or pass --audio-root DIR")


def _gain(params: dict[str, Any]) -> float:
    g = params.get("gain", 0.0)
    if isinstance(g, list):
        g = g[0] if g else 0.0
    try:
        g = float(g if g is not None else 0.0)
    except (TypeError, ValueError):
        return 0.0
    return g if np.isfinite(g) else 0.0


def _song_split(rows: list[dict[str, Any]]) -> Split | None:
    found = {HF_SPLITS[r["hf_split"]] for r in rows if r.get("hf_split") in HF_SPLITS}
    return next((s for s in _HELD_OUT if s in found), None)


def import_mix_rows(rows: list[dict[str, Any]], roots: list[Path], writer, *, stem_map: dict[str, str] | None = None,
                    resample: bool = False) -> None:
    """Write each song's stems (raw tracks summed at unity) with the engineers' consensus as reference."""
    songs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("track_audio_path") and str(r.get("track_type") or "AUDIO").upper() not in ("AUX", "SIGNAL"):
            songs[(str(r.get("artist_name") or ""), str(r["song_name"]))].append(r)
    if not songs and rows:
        raise EvalkitInputError("no track with audio (every track is AUX/SIGNAL or lacks an audio path)")
    for (artist, song), srows in sorted(songs.items()):
        tracks: dict[str, dict[str, Any]] = {}
        for r in srows:  # one entry per audio file; the first mix's name and type describe it
            tracks.setdefault(str(r["track_audio_path"]), r)
        stem_of = {p: instrument_to_stem(str(r["track_name"]), r.get("track_instrument_type"), stem_map) for p, r in tracks.items()}
        audio, power, sr = _read_tracks(list(tracks), roots, resample)
        stems = _sum_by_stem(audio, stem_of)
        per_mix = _mix_stem_gains(srows, stem_of, power)
        consensus = {s: round(float(np.median(v)), 2) for s, v in per_mix.items()}
        spread = {s: round(float(np.std(v, ddof=1)), 2) for s, v in per_mix.items() if len(v) > 1}
        mixes = sorted({str(r["mix_name"]) for r in srows})
        evals = [e for r in srows for e in (r.get("evaluations") or [])]
        meta = {"title": song, "artist": artist, "genre": srows[0].get("genre", ""), "mixes": len(mixes), "mix_names": mixes,
                "tracks": {str(tracks[p]["track_name"]): stem_of[p] for p in tracks},
                "engineer_gains_db": {s: [round(x, 2) for x in v] for s, v in per_mix.items()},
                "engineer_spread_db": spread, "comments": list(dict.fromkeys(evals))[:20]}
        split = _song_split(srows)
        if split is not None:
            meta["hf_split"] = sorted({r["hf_split"] for r in srows if r.get("hf_split")})
        writer.add(f"{artist} - {song}" if artist else song, stems, sr, consensus, meta, split)


def _read_tracks(paths: list[str], roots: list[Path], resample: bool) -> tuple[dict[str, np.ndarray], dict[str, float], int]:
    audio: dict[str, np.ndarray] = {}
    sr = None
    for rel in paths:
        x, sr = read_audio(_resolve(rel, roots), sample_rate=sr, resample=resample)
        audio[rel] = np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x
    power = {p: float(np.mean(x ** 2)) for p, x in audio.items()}
    return audio, power, int(sr)


def _sum_by_stem(audio: dict[str, np.ndarray], stem_of: dict[str, str]) -> dict[str, np.ndarray]:
    n = max(x.shape[-1] for x in audio.values())
    stems: dict[str, np.ndarray] = {}
    for p, x in audio.items():
        padded = np.pad(x, ((0, 0), (0, n - x.shape[-1])))
        stems[stem_of[p]] = stems[stem_of[p]] + padded if stem_of[p] in stems else padded
    return stems


def _mix_stem_gains(rows: list[dict[str, Any]], stem_of: dict[str, str], power: dict[str, float]) -> dict[str, list[float]]:
    """Per mix, each stem's level change from unity: 10·log10(Σ P_k·10^(g_k/10) / Σ P_k) over its tracks
    (P_k the track's power, g_k its fader), relative to the mean over the stems present in that mix."""
    by_mix: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        p = str(r["track_audio_path"])
        by_mix[str(r["mix_name"])][stem_of[p]].append((max(power[p], 1e-20), _gain(r["parameters"])))
    out: dict[str, list[float]] = defaultdict(list)
    for mix in sorted(by_mix):
        gains = {s: 10 * np.log10(sum(w * 10 ** (g / 10) for w, g in tg) / sum(w for w, _ in tg)) for s, tg in by_mix[mix].items()}
        mean = float(np.mean(list(gains.values())))
        for s, g in gains.items():
            out[s].append(float(g - mean))
    return dict(out)


__all__ = ["import_mix_rows", "mixology_mixes", "mixology_rows", "mixparams_rows"]
