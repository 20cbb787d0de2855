"""Audio I/O, analysis (BS.1770 loudness, levels, spectra, masking) and rendering."""

from evalkit.audio.features import (
    StemFeatures,
    analyze_stems,
    integrated_loudness,
    short_term_loudness,
)
from evalkit.audio.io import load_stems, read_audio, write_audio
from evalkit.audio.render import apply_gains, loudness_match, mixdown

__all__ = [
    "StemFeatures",
    "analyze_stems",
    "apply_gains",
    "integrated_loudness",
    "load_stems",
    "loudness_match",
    "mixdown",
    "read_audio",
    "short_term_loudness",
    "write_audio",
]
