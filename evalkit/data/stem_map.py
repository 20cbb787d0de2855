"""Which of MUSDB's four stems a multitrack track belongs to.

In order: the user's mapping file (the researcher knows their session best), the dataset's instrument
type (MixologyDB / MixParams: DRUMS, BASS, GUITARS, KEYS, VOCALS, MISC), then rules for the names
engineers give tracks ("KickIn", "OH L", "BassDI", "LeadVox", "BV2"), else "other".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from evalkit.errors import EvalkitInputError
from evalkit.records import STEM_NAMES

# Instrument types that decide the stem on their own; MISC and empty fall through to the name rules.
INSTRUMENT_TYPES = {
    "DRUMS": "drums", "DRUM": "drums", "PERCUSSION": "drums",
    "BASS": "bass",
    "VOCALS": "vocals", "VOCAL": "vocals", "VOX": "vocals",
    "GUITARS": "other", "GUITAR": "other", "KEYS": "other", "KEYBOARDS": "other", "PIANO": "other", "SYNTH": "other",
    "STRINGS": "other", "BRASS": "other", "WOODWINDS": "other", "WINDS": "other", "ORCHESTRA": "other",
}

_NAME_RULES = {
    "vocals": r"vox|vocal|voice|sing|lead ?v|\bbv|\bbgv|backing|choir|harmony|\bvx\b|\bld\b|adlib|dbl",
    "bass": r"bass|\bdi\b|\bsub\b|synth ?bass|\bbs\b|\bbgtr\b",
    "drums": (r"kick|snare|\bsn\b|\bkik\b|\bbd\b|\bhats?\b|hihat|\bhh\b|\btoms?\b|cymbal|overhead|\boh\b|drum|\bkit\b|perc|clap"
              r"|\bride\b|crash|\broom\b"),
}


def _words(name: str) -> str:
    """'02_KickOut (Stereo)' -> '02 kick out stereo': numbers, case changes and separators become spaces."""
    s = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    s = re.sub(r"([A-Za-z])(\d)|(\d)([A-Za-z])", lambda m: " ".join(g for g in m.groups() if g), s)
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).strip()


def stem_from_name(name: str) -> str | None:
    """The stem a track name points to, or None when the name says nothing known."""
    words = _words(name)
    if re.search(_NAME_RULES["vocals"], words):
        return "vocals"
    if re.search(r"bass ?drum|kick", words):  # a bass drum is a drum
        return "drums"
    for stem in ("bass", "drums"):
        if re.search(_NAME_RULES[stem], words):
            return stem
    return None


def instrument_to_stem(name: str, instrument_type: str | None = None, mapping: dict[str, str] | None = None) -> str:
    """The stem of one track (see the module docstring for the order)."""
    if mapping and name in mapping:
        return mapping[name]
    typed = INSTRUMENT_TYPES.get(str(instrument_type or "").strip().upper())
    if typed:
        return typed
    return stem_from_name(f"{instrument_type or ''} {name}") or "other"


def read_stem_map(path: Path | None) -> dict[str, str]:
    """A user's track -> stem mapping: CSV with columns track,stem, or a JSON/YAML object {track: stem}."""
    if path is None:
        return {}
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            import pandas as pd

            df = pd.read_csv(path)
            if not {"track", "stem"} <= set(df.columns):
                raise EvalkitInputError(f"{path}: a stem map CSV needs columns track,stem")
            raw = dict(zip(df["track"].astype(str), df["stem"].astype(str), strict=True))
        else:
            from evalkit.config_io import parse_yaml, read_text_limited

            text = read_text_limited(path)
            raw = parse_yaml(text, path) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except EvalkitInputError:
        raise
    except Exception as exc:
        raise EvalkitInputError(f"{path}: unreadable stem map ({str(exc).splitlines()[0][:120]}); use CSV track,stem or a JSON/YAML object") from exc
    if not isinstance(raw, dict):
        raise EvalkitInputError(f"{path}: a stem map must be an object {{track name: stem}}")
    bad = sorted({str(v) for v in raw.values()} - set(STEM_NAMES))
    if bad:
        raise EvalkitInputError(f"{path}: unknown stem(s) {', '.join(bad)}; use drums, bass, other, vocals")
    return {str(k): str(v) for k, v in raw.items()}


__all__ = ["instrument_to_stem", "read_stem_map", "stem_from_name"]
