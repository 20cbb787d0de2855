"""Reading and writing audio with the checks that keep bad files out of an experiment."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from evalkit.errors import AudioError

MAX_PEAK = 1000.0  # 60 dB over full scale: float files may exceed 1.0, never by this much


def read_audio(path: str | Path, *, sample_rate: int | None = None, resample: bool = False) -> tuple[np.ndarray, int]:
    """Read a file as float64 ``(channels, samples)``.

    Refuses (AudioError, naming the file) what would silently poison an analysis: a missing or
    unreadable file, zero samples, NaN/Inf, or a sample rate other than ``sample_rate`` unless
    ``resample`` is set, in which case it is resampled with a polyphase filter.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: audio file not found; check the path in the manifest")
    try:
        data, sr = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as exc:  # soundfile raises several types for corrupt input
        raise AudioError(f"{path}: unreadable audio ({str(exc).splitlines()[0][:120]}); re-export it as WAV or FLAC") from exc
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file has no samples; re-export it")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: audio contains NaN or Inf samples; re-render it")
    peak = float(np.max(np.abs(data)))
    if peak > MAX_PEAK:
        raise AudioError(f"{path}: peak {peak:.3g}, over {MAX_PEAK:g} times full scale ({20 * np.log10(peak):.0f} dBFS): "
                         "not a real recording level; re-render it")
    x = np.ascontiguousarray(data.T)
    if sample_rate is not None and sr != sample_rate:
        if not resample:
            raise AudioError(
                f"{path}: sample rate {sr} Hz, expected {sample_rate} Hz; resample the file, or import with `evalkit data import ... --resample`"
            )
        g = gcd(sr, sample_rate)
        from scipy.signal import (
            resample_poly,  # here, not at import: scipy.signal costs 0.6 s a CLI error need not pay
        )

        x = resample_poly(x, sample_rate // g, sr // g, axis=-1)
        sr = sample_rate
    return x, sr


def write_audio(path: str | Path, x: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write ``(channels, samples)`` audio; PCM_16 keeps synthetic sets byte-identical across machines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.atleast_2d(x)
    if subtype == "PCM_16":
        # Round ourselves so the bytes do not depend on libsndfile's float->int conversion.
        pcm = np.clip(np.round(x.T * 32767.0), -32768, 32767).astype("<i2")
        sf.write(str(path), pcm, sample_rate, subtype="PCM_16", format="WAV")
    else:
        sf.write(str(path), x.T, sample_rate, subtype=subtype)
    return path


def match_shapes(signals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pad stems of different lengths with silence and upmix mono to stereo when others are stereo."""
    for name, s in signals.items():
        if s.shape[0] > 2:
            raise AudioError(f"stem {name!r}: {s.shape[0]} channels; stems must be mono or stereo (downmix it first)")
    n = max(s.shape[-1] for s in signals.values())
    channels = max(s.shape[0] for s in signals.values())
    # One (stems, channels, samples) block whose rows are the stems: analysis reads it without a copy.
    block = np.zeros((len(signals), channels, n))
    for i, s in enumerate(signals.values()):
        block[i, :, : s.shape[-1]] = s  # a mono stem broadcasts to both channels
    return {name: block[i] for i, name in enumerate(signals)}


def as_block(stems: dict[str, np.ndarray]) -> np.ndarray:
    """The stems as one float64 ``(stems, channels, samples)`` array: the block they are rows of, as
    ``match_shapes`` leaves them, without copying; otherwise a stacked copy."""
    arrays = list(stems.values())
    base = arrays[0].base
    if (isinstance(base, np.ndarray) and base.dtype == np.float64 and base.flags.c_contiguous
            and base.shape == (len(arrays), *arrays[0].shape)
            and all(a.base is base and a.dtype == np.float64 and a.flags.c_contiguous
                    and a.ctypes.data == base.ctypes.data + i * a.nbytes for i, a in enumerate(arrays))):
        return base
    return np.stack([np.asarray(a, dtype=np.float64) for a in arrays])


def load_stems(paths: dict[str, str | Path], *, sample_rate: int | None = None, resample: bool = False) -> tuple[dict[str, np.ndarray], int]:
    """Read a song's stems, all at one rate, padded to one length."""
    if not paths:
        raise AudioError("song has no stems; the manifest must list at least one stem file")
    stems: dict[str, np.ndarray] = {}
    sr = sample_rate
    for name, p in paths.items():
        x, file_sr = read_audio(p, sample_rate=sr, resample=resample)
        sr = sr or file_sr
        stems[name] = x
    return match_shapes(stems), int(sr)
