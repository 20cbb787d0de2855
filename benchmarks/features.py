"""Time to compute all features of one 30 s 4-stem song: evalkit vs a naive pyloudnorm + librosa pipeline.

Both run in the same process on one core (OMP/BLAS threads pinned to 1). Prints a Markdown row and
appends it to benchmarks/RESULTS.md with --record.

    python benchmarks/features.py [--record]
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from evalkit.audio.features import SongAnalyzer, analyze_stems  # noqa: E402
from evalkit.data.synth import synthesize  # noqa: E402
from evalkit.data.testset import load_testset  # noqa: E402


def naive(stems: dict[str, np.ndarray], sr: int) -> dict:
    """What one writes first: pyloudnorm per signal, librosa STFT features per signal."""
    import librosa
    import pyloudnorm

    meter = pyloudnorm.Meter(sr)
    signals = {**stems, "mix": sum(stems.values())}
    out = {}
    for name, x in signals.items():
        mono = x.mean(axis=0)
        spec = np.abs(librosa.stft(mono, n_fft=2048, hop_length=512)) ** 2
        out[name] = {
            "lufs": meter.integrated_loudness(x.T),
            "rms": float(np.sqrt(np.mean(x**2))),
            "peak": float(np.max(np.abs(x))),
            "centroid": float(librosa.feature.spectral_centroid(S=np.sqrt(spec), sr=sr).mean()),
            "rolloff": float(librosa.feature.spectral_rolloff(S=np.sqrt(spec), sr=sr).mean()),
        }
    return out


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(tmp, songs=1, seed=3, seconds=30.0, sample_rate=44100, progress=False)
        ts = load_testset(tmp)
        stems, sr = ts.stems(next(iter(ts.songs)))
    naive(stems, sr), analyze_stems(stems, sr)  # warm-up (imports, caches)
    t_naive = best_of(lambda: naive(stems, sr), args.repeats)
    t_ours = best_of(lambda: analyze_stems(stems, sr), args.repeats)
    analyzer = SongAnalyzer(stems, sr)
    t_item = best_of(lambda: analyzer.features({"bass": 4.0, "vocals": -3.0}), args.repeats)
    per_song = t_ours + 4 * t_item  # a synthetic song has 5 gain settings: 3 problems, 1 control, the reference
    row = (f"| features: 30 s, 4 stems + mix, 44.1 kHz, 1 thread | naive pyloudnorm + librosa {t_naive * 1000:.0f} ms per gain setting | "
           f"evalkit {t_ours * 1000:.0f} ms for a song's first setting, {t_item * 1000:.0f} ms for each further one | "
           f"{t_naive / t_ours:.1f}× for one setting, {5 * t_naive / per_song:.0f}× per song of 5 settings (target ≥ 15×) |")
    print(row)
    if args.record:
        from benchmarks.record import record

        record("features", row)


if __name__ == "__main__":
    main()
