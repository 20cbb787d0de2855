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
from evalkit.data.json_fields import finite_number, typed_field
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
        where = f"{path}: mixes[{k}]"
        if not isinstance(mix, dict) or mix.get("song-name") in (None, ""):
            raise EvalkitInputError(f"{where} has no song-name; each mix needs song-name and tracks")
        evaluations = [e.get("track-semantic-eval") for e in typed_field(mix, "mix-evaluation", list, where)
                       if isinstance(e, dict) and e.get("track-semantic-eval")]
        for j, t in enumerate(typed_field(mix, "tracks", list, where)):
            if not isinstance(t, dict):
                raise EvalkitInputError(f"{where}.tracks[{j}] is a {type(t).__name__}, not a track object; fix or remove it")
            feats = typed_field(t, "track-audio-features", dict, f"{where}.tracks[{j}]")
            rows.append({"mix_name": str(mix.get("mix-name") or f"mix{k}"), "song_name": str(mix["song-name"]),
                         "artist_name": str(mix.get("artist-name") or ""), "genre": str(mix.get("genre") or ""),
                         "track_name": str(t.get("track-name") or ""), "track_type": t.get("track-type") or "",
                         "track_instrument_type": t.get("track-instrument-type"),
                         "track_audio_path": feats.get("track-audio-path") if isinstance(feats.get("track-audio-path"), str) else None,
                         "parameters": t.get("parameters") if t.get("parameters") is not None else {},
                         "evaluations": evaluations})
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


def _gain(row: dict[str, Any]) -> float:
    """The track's fader gain in dB. Absent means unity (0 dB); anything present must be a finite number: a gain of
    "loud" or NaN read as 0 dB would change the truth without a word."""
    params = row.get("parameters")
    if not isinstance(params, dict):
        raise EvalkitInputError(f"mix {row.get('mix_name')!r}, track {row.get('track_name')!r}: parameters is a "
                                f"{type(params).__name__}, not an object; fix or remove that track")
    raw = params.get("gain")
    gain = finite_number(raw)
    if gain is None and raw is not None and raw != []:
        raise EvalkitInputError(f"mix {row.get('mix_name')!r}, track {row.get('track_name')!r}: gain {raw!r} is not a "
                                "number in dB; fix or remove that track")
    return gain or 0.0


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
        names: dict[str, list[str]] = defaultdict(list)
        for r in srows:  # one entry per audio file; the first mix's name and type describe it
            tracks.setdefault(str(r["track_audio_path"]), r)
            names[str(r["track_audio_path"])].append(str(r["track_name"]))
        # engineers rename tracks: a user's map may name the track as any mix named it
        mapped = {p: next((n for n in names[p] if stem_map and n in stem_map), str(r["track_name"])) for p, r in tracks.items()}
        stem_of = {p: instrument_to_stem(mapped[p], r.get("track_instrument_type"), stem_map) for p, r in tracks.items()}
        audio, power, sr, resampled = _read_tracks(list(tracks), roots, resample)
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
        if resampled:  # what was done to the user's audio, on record
            meta["resampled_to_hz"] = sr
            meta["resampled_from_hz"] = {str(tracks[p]["track_name"]): r for p, r in resampled.items()}
        writer.add(f"{artist} - {song}" if artist else song, stems, sr, consensus, meta, split)


def _read_tracks(paths: list[str], roots: list[Path], resample: bool) -> tuple[dict[str, np.ndarray], dict[str, float], int,
                                                                          dict[str, int]]:
    """Every track of a song at the song's majority sample rate (MixologyDB mixes 44.1 and 96 kHz tracks within one
    song), mono tracks doubled to stereo. Returns the audio, each track's power, the rate, and the tracks that were
    resampled with their original rate (the import says so). ``resample`` is kept for the CLI flag; mixed rates
    within a song are always resampled, as an audio editor would."""
    import soundfile as sf

    files = {rel: _resolve(rel, roots) for rel in paths}
    rates = {}
    for rel, f in files.items():
        try:
            rates[rel] = int(sf.info(str(f)).samplerate)
        except Exception as exc:  # soundfile raises several types for corrupt input
            raise EvalkitInputError(f"{f}: unreadable audio ({str(exc).splitlines()[0][:100]}); re-export it as WAV or FLAC") from exc
    sr = max(set(rates.values()), key=lambda r: (list(rates.values()).count(r), r))
    audio: dict[str, np.ndarray] = {}
    for rel, f in files.items():
        x, _ = read_audio(f, sample_rate=sr, resample=True)
        if x.shape[0] > 2:
            raise EvalkitInputError(f"{f}: {x.shape[0]} channels; evalkit takes mono or stereo tracks: export it as stereo")
        audio[rel] = np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x
    power = {p: float(np.mean(x ** 2)) for p, x in audio.items()}
    return audio, power, int(sr), {rel: r for rel, r in rates.items() if r != sr}


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
        by_mix[str(r["mix_name"])][stem_of[p]].append((max(power[p], 1e-20), _gain(r)))
    out: dict[str, list[float]] = defaultdict(list)
    for mix in sorted(by_mix):
        gains = {s: 10 * np.log10(sum(w * 10 ** (g / 10) for w, g in tg) / sum(w for w, _ in tg)) for s, tg in by_mix[mix].items()}
        mean = float(np.mean(list(gains.values())))
        for s, g in gains.items():
            out[s].append(float(g - mean))
    return dict(out)


__all__ = ["import_mix_rows", "mixology_mixes", "mixology_rows", "mixparams_rows"]
