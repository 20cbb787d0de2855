"""Each loader on a small fixture written in exactly that dataset's layout."""

import json

import numpy as np
import pandas as pd
import pytest

from evalkit.audio.io import write_audio
from evalkit.data.loaders import consensus_stem_gains, import_dataset, instrument_to_stem
from evalkit.data.testset import load_testset
from evalkit.errors import EvalkitInputError

SR = 8000


def _tone(freq, amp=0.1, seconds=2.0, channels=2):
    t = np.arange(int(SR * seconds)) / SR
    return np.tile(amp * np.sin(2 * np.pi * freq * t), (channels, 1))


def test_instrument_mapping():
    assert [instrument_to_stem(n) for n in ["Kick In", "Snare Top", "OH L", "Bass DI", "Lead Vox", "BV 2", "Piano", "Gtr"]] == \
        ["drums", "drums", "drums", "bass", "vocals", "vocals", "other", "other"]


def test_consensus_is_median_of_relative_power_sums():
    # Two tracks on drums at 0 dB each: power sum averaged = 0 dB; vocals +6 in mix 1, +2 in mix 2.
    track_stem = {"k": "drums", "s": "drums", "v": "vocals"}
    mixes = [{"k": 0, "s": 0, "v": 6}, {"k": 0, "s": 0, "v": 2}, {"k": 0, "s": 0, "v": 4}]
    g = consensus_stem_gains(mixes, track_stem)
    # hand calculation: per mix, stems (0, v) relative to their mean -> drums -v/2, vocals +v/2; median v = 4
    assert g == {"drums": -2.0, "vocals": 2.0}


def test_musdb_hq_layout_with_consensus_gains(tmp_path):
    root = tmp_path / "musdb18hq"
    for split, track in [("train", "A - One"), ("train", "B - Two"), ("test", "C - Three")]:
        d = root / split / track
        for k, stem in enumerate(["mixture", "drums", "bass", "other", "vocals"]):
            write_audio(d / f"{stem}.wav", _tone(110 * (k + 1)), SR)
    gains = tmp_path / "gains.csv"
    pd.DataFrame({"track": ["C - Three", "C - Three"], "stem": ["vocals", "bass"], "gain_db": [1.5, -2.0]}).to_csv(gains, index=False)
    n = import_dataset("musdb", root, tmp_path / "out", gains_csv=gains, seed=1, problems_per_song=2)
    ts = load_testset(tmp_path / "out")
    assert n == 9 and len(ts.songs) == 3
    song = ts.songs["C_-_Three"]
    assert song.reference_gains_db["vocals"] == 1.5 and song.reference_gains_db["bass"] == -2.0
    assert {i.split.value for i in ts.items if i.song_id == "C_-_Three"} == {"test"}  # MUSDB's test stays test


def test_musdb_missing_stem_is_a_clear_error(tmp_path):
    d = tmp_path / "m" / "train" / "X - Y"
    write_audio(d / "drums.wav", _tone(100), SR)
    with pytest.raises(EvalkitInputError, match="missing stem file"):
        import_dataset("musdb", tmp_path / "m", tmp_path / "out")


def test_mixparams_parquet(tmp_path):
    base = tmp_path / "mixparams"
    tracks = {"Kick": ("kick", 60), "Bass DI": ("bass", 80), "Keys": ("keys", 440), "Lead Vox": ("vocal", 300)}
    rows = []
    for name, (inst, f) in tracks.items():
        rel = f"audio/song1/{name.replace(' ', '_')}.wav"
        write_audio(base / rel, _tone(f, channels=1), SR)
        for mix, vox_gain in [("mix1", 3.0), ("mix2", 1.0)]:
            gain = vox_gain if inst == "vocal" else 0.0
            rows.append({"mix_name": mix, "song_name": "song1", "track_name": name, "track_instrument_type": inst,
                         "track_audio_path": rel, "track_audio_lufs": -20.0,
                         "parameters": json.dumps({"gain": gain, "pan": 0.0, "eq": []})})
    pd.DataFrame(rows).to_parquet(base / "mixparams.parquet")
    import_dataset("mixparams", base / "mixparams.parquet", tmp_path / "out", problems_per_song=1)
    ts = load_testset(tmp_path / "out")
    song = ts.songs["song1"]
    assert set(song.stems) == {"drums", "bass", "other", "vocals"}
    # relative to the 4-stem mean: vocals at +v*3/4 with median v = 2 -> 1.5
    assert song.reference_gains_db["vocals"] == pytest.approx(1.5)
    assert song.reference_gains_db["drums"] == pytest.approx(-0.5)


def test_mixeval_mixologydb_json(tmp_path):
    base = tmp_path / "mixeval"
    for name, f in [("kick", 60), ("vox", 300), ("gtr", 500)]:
        write_audio(base / "tracks" / f"{name}.wav", _tone(f), SR)
    doc = {"songs": [{"id": "Song-A", "title": "A", "tracks": [
        {"name": "kick", "instrument": "Kick", "path": "tracks/kick.wav"},
        {"name": "vox", "instrument": "Lead vocal", "path": "tracks/vox.wav"},
        {"name": "gtr", "instrument": "Guitar", "path": "tracks/gtr.wav"}],
        "mixes": [{"id": "m1", "engineer": "e1", "faders_db": {"kick": -3, "vox": 0, "gtr": -6},
                   "ratings": [{"rater": "r1", "score": 0.8, "comment": "vocal a bit loud"}]},
                  {"id": "m2", "engineer": "e2", "faders_db": {"kick": -3, "vox": 0, "gtr": -6}, "ratings": []}]}]}
    (base / "mixology.json").write_text(json.dumps(doc))
    import_dataset("mixeval", base / "mixology.json", tmp_path / "out")
    ts = load_testset(tmp_path / "out")
    song = ts.songs["Song-A"]
    assert song.reference_gains_db == {"drums": 0.0, "other": -3.0, "vocals": 3.0}
    assert song.meta["comments"] == ["vocal a bit loud"]
