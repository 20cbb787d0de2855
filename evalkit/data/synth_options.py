"""The synthetic test set's settings and their defaults, in one place: `evalkit data synth`, an experiment's
``testset: synth:`` block and `synthesize()` all take their defaults from here (they once disagreed: 12 s at 44.1 kHz
on the command line, 8 s at 22.05 kHz in YAML). Kept free of audio imports so the command line starts fast."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SynthOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    songs: int = Field(8, ge=1, le=10000, description="number of songs")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="random seed; the same seed gives byte-identical files")
    seconds: float = Field(12.0, ge=2, le=600, description="length of each song in seconds")
    sample_rate: int = Field(44100, ge=8000, le=192000, description="sample rate in Hz")
    problems_per_song: int = Field(3, ge=0, le=50, description="problem items (stem gains knocked off balance) per song")
    controls_per_song: int = Field(1, ge=0, le=50, description="already-balanced control items per song")
    renderer: str = Field("builtin", description="builtin (no system packages) or fluidsynth")


SYNTH_DEFAULTS = SynthOptions()

__all__ = ["SYNTH_DEFAULTS", "SynthOptions"]
