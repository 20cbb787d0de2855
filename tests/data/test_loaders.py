"""Each loader on fixtures written in that dataset's public layout; MixologyDB on a verbatim excerpt of the real file.

tests/data/fixtures/mixologydb-excerpt.json: two mixes of one song from MixologyDB's final-track-data.json
(MIT, tests/data/fixtures/mixologydb-LICENSE). Audio is not redistributed: the tests write tones at its paths.
"""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.audio.io import read_audio, write_audio
from evalkit.data.loaders import import_dataset
from evalkit.data.stem_map import instrument_to_stem
from evalkit.data.testset import load_testset
from evalkit.errors import EvalkitInputError

SR = 8000
FIXTURES = Path(__file__).parent / "fixtures"


def _tone(freq, amp=0.1, seconds=2.0, channels=2, sr=SR):
    t = np.arange(int(sr * seconds)) / sr
    return np.tile(amp * np.sin(2 * np.pi * freq * t), (channels, 1))


def _rms_db(path):
    x, _ = read_audio(path)
    return 10 * np.log10(np.mean(x ** 2))


def test_stems_from_instrument_type_then_names_then_the_users_map():
    assert instrument_to_stem("Hammond (Stereo)", "KEYS") == "other"
    assert instrument_to_stem("LeadVox", "VOCALS") == "vocals"
    assert instrument_to_stem("Rainstick", "MISC") == "other"  # MISC falls through to the names, which know nothing
    names = ["Kick In", "01_KickIn", "SnareUp", "OH L", "Overheads (Stereo)", "BassDI", "Bass DI", "LeadVox", "BV 2", "BGV3",
             "Piano", "ElecGtr1", "Bass Drum", "Synth Bass"]
    assert [instrument_to_stem(n) for n in names] == ["drums", "drums", "drums", "drums", "drums", "bass", "bass", "vocals",
                                                     "vocals", "vocals", "other", "other", "drums", "bass"]
    assert instrument_to_stem("Rainstick", "MISC", {"Rainstick": "drums"}) == "drums"


def _musdb(root, tracks, sr=SR):
    for split, track in tracks:
        for k, stem in enumerate(["mixture", "drums", "bass", "other", "vocals"]):
            write_audio(root / split / track / f"{stem}.wav", _tone(110 * (k + 1), sr=sr), sr)


def test_musdb_keeps_the_official_split_and_reads_consensus_gains(tmp_path):
    root = tmp_path / "musdb18hq"
    train = [("train", f"T{k} - Song") for k in range(7)]
    _musdb(root, train + [("test", "C - Three")])
    gains = tmp_path / "gains.csv"
    pd.DataFrame({"track": ["C - Three", "C - Three"], "stem": ["vocals", "bass"], "gain_db": [1.5, -2.0]}).to_csv(gains, index=False)
    n = import_dataset("musdb", root, tmp_path / "out", gains_csv=gains, seed=1, problems_per_song=2)
    ts = load_testset(tmp_path / "out")
    assert n == 8 * 3 and len(ts.songs) == 8
    assert ts.songs["C_-_Three"].reference_gains_db == {"drums": 0.0, "bass": -2.0, "other": 0.0, "vocals": 1.5}
    split = {i.song_id: i.split.value for i in ts.items}
    assert split["C_-_Three"] == "test"  # MUSDB's test stays test
    trained = {v for k, v in split.items() if k != "C_-_Three"}
    assert "test" not in trained and trained == {"train", "val"}  # MUSDB's train tracks never leak into test


def test_musdb_other_rate_is_refused_with_a_flag_that_exists_then_resampled(tmp_path):
    root = tmp_path / "m"
    _musdb(root, [("test", "A - B")])
    write_audio(root / "test" / "A - B" / "vocals.wav", _tone(300, sr=2 * SR), 2 * SR)
    with pytest.raises(EvalkitInputError, match="--resample"):
        import_dataset("musdb", root, tmp_path / "out")
    import_dataset("musdb", root, tmp_path / "out2", resample=True)
    assert load_testset(tmp_path / "out2").songs["A_-_B"].sample_rate == SR


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg writes the .stem.mp4 fixture (.ci/run installs it)")
def test_musdb_stem_mp4_through_stempeg(tmp_path):
    pytest.importorskip("stempeg")
    src = tmp_path / "wav"
    freqs = {"mixture": 100, "drums": 200, "bass": 300, "other": 400, "vocals": 500}
    for name, f in freqs.items():
        write_audio(src / f"{name}.wav", _tone(f, sr=44100), 44100)
    mp4 = tmp_path / "musdb" / "test" / "X - Y.stem.mp4"
    mp4.parent.mkdir(parents=True)
    # Five AAC streams in MUSDB's order, written by ffmpeg itself (not by the code under test).
    cmd = ["ffmpeg", "-loglevel", "error", "-y"] + sum((["-i", str(src / f"{n}.wav")] for n in freqs), [])
    cmd += sum((["-map", f"{k}:a"] for k in range(5)), []) + ["-c:a", "aac", "-b:a", "128k", str(mp4)]
    subprocess.run(cmd, check=True)
    import_dataset("musdb", tmp_path / "musdb", tmp_path / "out")
    song = load_testset(tmp_path / "out").songs["X_-_Y"]
    x, sr = read_audio(tmp_path / "out" / song.stems["vocals"])
    segment = x[0, 4410:48510]
    peak_hz = np.argmax(np.abs(np.fft.rfft(segment))) * sr / len(segment)
    assert sr == 44100 and peak_hz == pytest.approx(500, abs=2)  # the vocals stream (500 Hz), not the mixture (100 Hz)


def test_musdb_missing_stem_is_a_clear_error(tmp_path):
    d = tmp_path / "m" / "train" / "X - Y"
    write_audio(d / "drums.wav", _tone(100), SR)
    with pytest.raises(EvalkitInputError, match="missing stem file"):
        import_dataset("musdb", tmp_path / "m", tmp_path / "out")


def _excerpt_with_tones(base: Path, amps: dict[str, float] | None = None) -> dict:
    doc = json.loads((FIXTURES / "mixologydb-excerpt.json").read_text())
    paths = {t["track-audio-features"]["track-audio-path"] for m in doc["mixes"] for t in m["tracks"] if t.get("track-audio-features")}
    for k, rel in enumerate(sorted(paths)):
        write_audio(base / rel, _tone(80 + 20 * k, amp=(amps or {}).get(rel, 0.05), channels=1), SR)
    return doc


def test_mixologydb_real_layout(tmp_path):
    base = tmp_path / "mixologydb"
    doc = _excerpt_with_tones(base)
    shutil.copy(FIXTURES / "mixologydb-excerpt.json", base / "final-track-data.json")
    import_dataset("mixeval", base, tmp_path / "out", problems_per_song=1)
    ts = load_testset(tmp_path / "out")
    [song] = ts.songs.values()
    assert song.meta["artist"] == "Louis Cressy Band" and song.meta["genre"] == "ROCK" and song.meta["mixes"] == 2
    assert set(song.stems) == {"drums", "bass", "other", "vocals"}
    tracks = song.meta["tracks"]
    assert tracks["KickIn"] == "drums" and tracks["Rainstick"] == "other" and tracks["Hammond (Stereo)"] == "other"
    assert tracks["LeadVox"] == "vocals" and tracks["Bass"] == "bass"
    # tracks are matched across mixes by audio path: "KickIn" and "01_KickIn" are one file; AUX tracks have none
    n_files = len({t["track-audio-features"]["track-audio-path"] for m in doc["mixes"] for t in m["tracks"] if t.get("track-audio-features")})
    assert len(tracks) == n_files
    assert all(len(v) == 2 for v in song.meta["engineer_gains_db"].values())
    assert set(song.meta["engineer_spread_db"]) == set(song.stems)
    # the consensus is the median (of two mixes: their mean) of each mix's stem gains
    for stem, gains in song.meta["engineer_gains_db"].items():
        assert song.reference_gains_db[stem] == pytest.approx(np.median(gains), abs=0.011)


def _mix_json(base, mixes, tracks, artist="Band"):
    """MixologyDB-shaped JSON: tracks {name: (instrument type, audio path)}, mixes {mix: {name: gain}}."""
    doc = {"mixes": [{"mix-name": m, "song-name": "Song", "artist-name": artist, "genre": "POP", "mix-evaluation": [],
                      "tracks": [{"track-name": n, "track-type": "AUDIO", "track-instrument-type": tracks[n][0],
                                  "parameters": {"gain": g}, "track-audio-features": {"track-audio-path": tracks[n][1]}}
                                 for n, g in faders.items()]} for m, faders in mixes.items()]}
    (base / "final-track-data.json").write_text(json.dumps(doc))
    return base / "final-track-data.json"


def test_consensus_is_the_median_of_power_weighted_stem_gains(tmp_path):
    base = tmp_path / "db"
    amps = {"kick": 0.2, "snare": 0.1, "bass": 0.1, "vox": 0.1}
    tracks = {"kick": ("DRUMS", "a/kick.wav"), "snare": ("DRUMS", "a/snare.wav"), "bass": ("BASS", "a/bass.wav"), "vox": ("VOCALS", "a/vox.wav")}
    for n, (_, rel) in tracks.items():
        write_audio(base / rel, _tone({"kick": 60, "snare": 200, "bass": 100, "vox": 300}[n], amp=amps[n], seconds=1.0), SR)
    mixes = {"m1": {"kick": 0, "snare": 0, "bass": 0, "vox": 6}, "m2": {"kick": 0, "snare": 0, "bass": 0, "vox": 0},
             "m3": {"kick": 3, "snare": 0, "bass": 0, "vox": 0}}
    import_dataset("mixeval", _mix_json(base, mixes, tracks), tmp_path / "out", problems_per_song=1)
    song = load_testset(tmp_path / "out").songs["Band_-_Song"]
    # Hand calculation. m1: stems (drums 0, bass 0, vocals 6), mean 2 -> (-2, -2, +4).  m2: all 0.
    # m3: kick has 4x the snare's power, so drums = 10·log10((4·10^0.3 + 1)/5) = 2.543 dB; mean 0.848 -> (+1.696, -0.848, -0.848).
    # Medians: drums median(-2, 0, 1.696) = 0; bass median(-2, 0, -0.848) = -0.848; vocals median(4, 0, -0.848) = 0.
    assert song.reference_gains_db == pytest.approx({"drums": 0.0, "bass": -0.85, "vocals": 0.0}, abs=0.011)
    assert song.meta["engineer_gains_db"]["drums"] == pytest.approx([-2.0, 0.0, 1.7], abs=0.011)
    # sample SD of the vocals' (4, 0, -0.848): mean 1.051, SD = sqrt((2.949² + 1.051² + 1.899²)/2) = 2.587
    assert song.meta["engineer_spread_db"]["vocals"] == pytest.approx(2.59, abs=0.011)


def test_a_users_stem_map_wins_and_missing_audio_names_the_path(tmp_path):
    base = tmp_path / "db"
    tracks = {"Shaker": ("MISC", "a/shaker.wav"), "Vox": ("VOCALS", "a/vox.wav")}
    for _, rel in tracks.values():
        write_audio(base / rel, _tone(200, seconds=1.0), SR)
    path = _mix_json(base, {"m1": {"Shaker": 0, "Vox": 0}}, tracks)
    stem_map = tmp_path / "map.csv"
    stem_map.write_text("track,stem\nShaker,drums\n")
    import_dataset("mixeval", path, tmp_path / "out", stem_map=stem_map, problems_per_song=1)
    assert set(load_testset(tmp_path / "out").songs["Band_-_Song"].stems) == {"drums", "vocals"}
    (base / "a" / "vox.wav").unlink()
    with pytest.raises(EvalkitInputError, match=r"a/vox.wav.*--audio-root"):
        import_dataset("mixeval", path, tmp_path / "out2")
    bad = tmp_path / "bad.csv"
    bad.write_text("track,stem\nShaker,percussion\n")
    with pytest.raises(EvalkitInputError, match="unknown stem"):
        import_dataset("mixeval", path, tmp_path / "out3", stem_map=bad)


def test_an_invented_schema_is_refused_with_the_real_one_named(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"songs": []}))
    with pytest.raises(EvalkitInputError, match="top-level 'mixes' list"):
        import_dataset("mixeval", tmp_path / "x.json", tmp_path / "out")


def _mixparams(base: Path, split_of: dict[str, str], amp: float = 0.1):
    """HF layout: data/<split>-00000-of-00001.parquet, audio paths relative to the dataset root."""
    rows = {s: [] for s in set(split_of.values())}
    for song, split in split_of.items():
        for name, inst, f in [("Kick", "DRUMS", 60), ("Bass DI", "BASS", 80), ("Keys", "KEYS", 440), ("Lead Vox", "VOCALS", 300)]:
            rel = f"./audio/{song}/{name.replace(' ', '_')}.wav"
            write_audio(base / rel, _tone(f, amp=amp, channels=1), SR)
            for mix, vox_gain in [("mix1", 3.0), ("mix2", 1.0)]:
                rows[split].append({"mix_name": f"{song}-{mix}", "song_name": song, "artist_name": "Artist", "genre": "JAZZ",
                                    "track_name": name, "track_type": "AUDIO", "track_instrument_subtype": "", "track_instrument_type": inst,
                                    "channel_mode": "MONO", "track_audio_path": rel, "track_audio_sample_rate": SR, "track_audio_lufs": -20.0,
                                    "parameters": json.dumps({"gain": vox_gain if inst == "VOCALS" else 0.0, "pan": [0], "eq": []})})
    (base / "data").mkdir(parents=True, exist_ok=True)
    for split, r in rows.items():
        pd.DataFrame(r).to_parquet(base / "data" / f"{split}-00000-of-00001.parquet")


def test_mixparams_hf_layout_keeps_split_and_genre(tmp_path):
    base = tmp_path / "mixparams"
    _mixparams(base, {"song1": "train", "song2": "test", "song3": "dev"})
    import_dataset("mixparams", base / "data" / "test-00000-of-00001.parquet", tmp_path / "one", problems_per_song=1)
    assert set(load_testset(tmp_path / "one").songs) == {"Artist_-_song2"}  # one parquet file: paths still resolve
    import_dataset("mixparams", base, tmp_path / "out", problems_per_song=1)
    ts = load_testset(tmp_path / "out")
    split = {i.song_id: i.split.value for i in ts.items}
    assert split == {"Artist_-_song1": "train", "Artist_-_song2": "test", "Artist_-_song3": "val"}
    song = ts.songs["Artist_-_song1"]
    assert song.meta["genre"] == "JAZZ" and song.meta["hf_split"] == ["train"]
    # equal track powers; vocals +3 and +1 over four stems: relative +2.25 and +0.75, median 1.5; drums -0.75/-0.25 -> -0.5
    assert song.reference_gains_db["vocals"] == pytest.approx(1.5) and song.reference_gains_db["drums"] == pytest.approx(-0.5)


def test_clipping_is_fixed_by_one_gain_for_all_stems(tmp_path):
    base = tmp_path / "mixparams"
    _mixparams(base, {"loud": "test"}, amp=0.9)
    # a second kick track at full scale: the drum stem's sum peaks near 1.8 and must come down
    rows = pd.read_parquet(base / "data" / "test-00000-of-00001.parquet")
    extra = rows[rows.track_name == "Kick"].assign(track_name="Kick 2", track_audio_path="./audio/loud/Kick_2.wav")
    write_audio(base / "audio" / "loud" / "Kick_2.wav", _tone(60, amp=0.9, channels=1), SR)
    pd.concat([rows, extra]).to_parquet(base / "data" / "test-00000-of-00001.parquet")
    import_dataset("mixparams", base, tmp_path / "out", problems_per_song=1)
    song = load_testset(tmp_path / "out").songs["Artist_-_loud"]
    out = tmp_path / "out"
    assert song.meta["import_gain_db"] < -5
    # the two kicks are the same tone, so the drum stem is +6.02 dB over the bass stem: kept after the common gain
    assert _rms_db(out / song.stems["drums"]) - _rms_db(out / song.stems["bass"]) == pytest.approx(6.02, abs=0.1)


def test_excerpt_takes_the_loudest_window_or_a_given_start(tmp_path):
    root = tmp_path / "m"
    quiet, loud = _tone(200, amp=0.01, seconds=6.0), _tone(200, amp=0.5, seconds=6.0)
    song = np.concatenate([quiet[:, : 3 * SR], loud[:, : 2 * SR], quiet[:, : SR]], axis=1)  # loud from 3 s to 5 s
    for stem in ["mixture", "drums", "bass", "other", "vocals"]:
        write_audio(root / "test" / "A - B" / f"{stem}.wav", song, SR)
    import_dataset("musdb", root, tmp_path / "out", excerpt=2.0)
    s = load_testset(tmp_path / "out").songs["A_-_B"]
    assert s.meta["excerpt"] == {"start_s": 3.0, "seconds": 2.0, "chosen": "loudest"}
    x, _ = read_audio(tmp_path / "out" / s.stems["drums"])
    assert x.shape[-1] == 2 * SR and np.max(np.abs(x)) > 0.4
    import_dataset("musdb", root, tmp_path / "out2", excerpt=1.0, excerpt_start=0.5)
    assert load_testset(tmp_path / "out2").songs["A_-_B"].meta["excerpt"]["start_s"] == 0.5
    with pytest.raises(EvalkitInputError, match="--excerpt"):
        import_dataset("musdb", root, tmp_path / "out3", excerpt=-1)


def test_real_audio_just_works_mixed_rates_depths_lengths_and_channels(tmp_path):
    """What engineers' sessions hold: an 8-bit WAV, a 96 kHz track beside 44.1 kHz ones, tracks of slightly different
    lengths, mono beside stereo. Imported at the song's majority rate (44.1 kHz), padded to the longest, mono doubled;
    the resampled track is named in the song's meta."""
    import soundfile as sf

    base = tmp_path / "db"
    tracks = {"kick": ("DRUMS", "a/kick.wav"), "bass": ("BASS", "a/bass.wav"), "vox": ("VOCALS", "a/vox.wav"),
              "gtr": ("GUITAR", "a/gtr.wav")}
    (base / "a").mkdir(parents=True)
    sf.write(base / "a/kick.wav", _tone(60, seconds=1.0, sr=44100).T, 44100, subtype="PCM_U8")   # 8-bit
    sf.write(base / "a/bass.wav", _tone(100, seconds=1.0, sr=96000).T, 96000, subtype="PCM_24")  # 96 kHz
    sf.write(base / "a/vox.wav", _tone(300, seconds=1.02, channels=1, sr=44100).T, 44100)        # mono, 20 ms longer
    sf.write(base / "a/gtr.wav", _tone(500, seconds=0.99, sr=44100).T, 44100, subtype="FLOAT")   # float, shorter
    mixes = {"m1": dict.fromkeys(tracks, 0.0), "m2": {**dict.fromkeys(tracks, 0.0), "vox": 2.0}}
    import_dataset("mixeval", _mix_json(base, mixes, tracks), tmp_path / "out", problems_per_song=1)
    ts = load_testset(tmp_path / "out")
    song = ts.songs["Band_-_Song"]
    assert song.sample_rate == 44100 and song.meta["resampled_from_hz"] == {"bass": 96000}
    lengths = {s: read_audio(tmp_path / "out" / p)[0].shape for s, p in song.stems.items()}
    assert set(lengths.values()) == {(2, 44982)}  # 1.02 s at 44.1 kHz, every stem stereo


@pytest.mark.parametrize(("gain", "words"), [("loud", "'loud'"), (float("nan"), "nan"), ([], None)])
def test_a_gain_that_is_not_a_number_is_refused_not_read_as_zero(tmp_path, gain, words):
    base = tmp_path / "db"
    tracks = {"kick": ("DRUMS", "a/kick.wav"), "bass": ("BASS", "a/bass.wav")}
    for n, (_, rel) in tracks.items():
        write_audio(base / rel, _tone(60 if n == "kick" else 100, seconds=1.0), SR)
    path = _mix_json(base, {"m1": {"kick": 0.0, "bass": gain}, "m2": {"kick": 0.0, "bass": 0.0}}, tracks)
    if words is None:  # an empty parameter list is "no gain given": unity, as an absent gain
        import_dataset("mixeval", path, tmp_path / "out", problems_per_song=1)
        return
    with pytest.raises(EvalkitInputError, match=r"mix 'm1', track 'bass': gain .* not a number"):
        import_dataset("mixeval", path, tmp_path / "out", problems_per_song=1)


def test_three_channels_and_absurd_levels_are_refused_at_import(tmp_path):
    import soundfile as sf

    base = tmp_path / "db"
    tracks = {"kick": ("DRUMS", "a/kick.wav"), "bass": ("BASS", "a/bass.wav")}
    (base / "a").mkdir(parents=True)
    sf.write(base / "a/kick.wav", _tone(60, seconds=1.0, channels=3).T, SR)
    sf.write(base / "a/bass.wav", _tone(100, seconds=1.0).T, SR)
    path = _mix_json(base, {"m1": {"kick": 0.0, "bass": 0.0}}, tracks)
    with pytest.raises(EvalkitInputError, match="kick.wav: 3 channels"):
        import_dataset("mixeval", path, tmp_path / "out", problems_per_song=1)
    sf.write(base / "a/kick.wav", (_tone(60, seconds=1.0) * 1e30).T, SR, subtype="FLOAT")
    with pytest.raises(EvalkitInputError, match="kick.wav: peak 1e"):
        import_dataset("mixeval", path, tmp_path / "out2", problems_per_song=1)


def test_a_stem_map_matches_a_track_by_any_mix_name_and_is_refused_for_musdb(tmp_path):
    """Mix m2's engineer renamed the kick "01_KickIn"; a map naming it so still applies (it is one audio file)."""
    base = tmp_path / "db"
    tracks = {"kick": ("OTHER", "a/kick.wav"), "bass": ("BASS", "a/bass.wav")}
    for n, (_, rel) in tracks.items():
        write_audio(base / rel, _tone(60 if n == "kick" else 100, seconds=1.0), SR)
    path = _mix_json(base, {"m1": {"kick": 0.0, "bass": 0.0}, "m2": {"kick": 1.0, "bass": 0.0}}, tracks)
    doc = json.loads(path.read_text())
    doc["mixes"][1]["tracks"][0]["track-name"] = "01_KickIn"
    path.write_text(json.dumps(doc))
    stem_map = tmp_path / "map.csv"
    stem_map.write_text("track,stem\n01_KickIn,drums\n")
    import_dataset("mixeval", path, tmp_path / "out", stem_map=stem_map, problems_per_song=1)
    assert "drums" in load_testset(tmp_path / "out").songs["Band_-_Song"].stems
    with pytest.raises(EvalkitInputError, match="--stem-map applies to mixparams and mixeval"):
        import_dataset("musdb", tmp_path, tmp_path / "o2", stem_map=stem_map)
