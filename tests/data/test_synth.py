import json

import numpy as np

from evalkit.audio.features import integrated_loudness
from evalkit.data.synth import synthesize
from evalkit.data.testset import load_testset
from evalkit.records import STEM_NAMES


def test_same_seed_gives_identical_checksums(tmp_path):
    a = synthesize(tmp_path / "a", songs=2, seed=5, seconds=3, sample_rate=16000, progress=False)
    b = synthesize(tmp_path / "b", songs=2, seed=5, seconds=3, sample_rate=16000, progress=False)
    c = synthesize(tmp_path / "c", songs=2, seed=6, seconds=3, sample_rate=16000, progress=False)
    ma, mb, mc = (json.loads((p / "manifest.json").read_text()) for p in (a, b, c))
    assert ma["checksums"] == mb["checksums"]
    assert ma["checksums"] != mc["checksums"]


def test_items_splits_and_truth(small_testset):
    ts = load_testset(small_testset)
    assert len(ts.songs) == 6 and len(ts.items) == 24
    by_song = {}
    for item in ts.items:
        by_song.setdefault(item.song_id, set()).add(item.split)
        assert set(item.offsets_db) == set(STEM_NAMES)
        for s in STEM_NAMES:
            assert item.correction_db[s] == -item.offsets_db[s] or (item.offsets_db[s] == 0 and item.correction_db[s] == 0)
        moved = [v for v in item.offsets_db.values() if v]
        if item.kind == "control":
            assert not moved
        else:
            assert 1 <= len(moved) <= 3 and all(2 <= abs(v) <= 12 for v in moved)
    assert all(len(s) == 1 for s in by_song.values()), "a song must never span two splits"
    assert {"train", "test"} <= {next(iter(s)).value for s in by_song.values()}


def test_reference_balance_puts_vocals_on_top_on_average(small_testset):
    ts = load_testset(small_testset)
    rel = {s: [] for s in STEM_NAMES}
    for sid in ts.songs:
        f = ts.reference_features(sid)
        for s in STEM_NAMES:
            rel[s].append(f[s].loudness_lufs)
    means = {s: float(np.mean(v)) for s, v in rel.items()}
    assert means["vocals"] >= max(means["bass"], means["other"])


def test_songs_have_variety(small_testset):
    ts = load_testset(small_testset)
    styles = {s.meta["style"] for s in ts.songs.values()}
    tempos = {s.meta["tempo_bpm"] for s in ts.songs.values()}
    assert len(styles) >= 4 and len(tempos) >= 4
    # arrangement: at least one song has a section with no vocals
    assert any(any(name in ("intro", "breakdown") for name, *_ in s.meta["sections"]) for s in ts.songs.values())


def test_problem_mix_is_derived_from_stems(small_testset):
    ts = load_testset(small_testset)
    item = next(i for i in ts.items if i.kind == "problem")
    mix, sr = ts.problem_mix(item)
    stems, _ = ts.stems(item.song_id)
    loud_stem = max(item.offsets_db, key=lambda s: abs(item.offsets_db[s]))
    from evalkit.audio.render import mixdown

    only = mixdown({loud_stem: stems[loud_stem]}, item.offsets_db)
    assert integrated_loudness(only, sr) - integrated_loudness(stems[loud_stem], sr) == \
        __import__("pytest").approx(item.offsets_db[loud_stem], abs=0.01)
    assert mix.shape == stems["drums"].shape


def test_fluidsynth_renderer_writes_four_stems(tmp_path):
    import shutil

    import pytest

    from evalkit.data.synth_render import find_soundfont

    if not shutil.which("fluidsynth") or not find_soundfont():
        pytest.skip("fluidsynth and a GM soundfont are not installed (.ci/run installs them)")
    out = synthesize(tmp_path / "fs", songs=1, seed=2, seconds=3, sample_rate=22050, renderer="fluidsynth", progress=False)
    ts = load_testset(out)
    stems, sr = ts.stems(next(iter(ts.songs)))
    assert set(stems) == set(STEM_NAMES) and sr == 22050
    assert all(np.isfinite(integrated_loudness(x, sr)) for x in stems.values())


def test_midi_writer_round_trips_note_count(tmp_path):
    from evalkit.data.compose import Note
    from evalkit.data.synth_render import write_midi

    path = tmp_path / "x.mid"
    write_midi(path, [Note(0.0, 0.5, 60, 0.8), Note(0.5, 0.5, 64, 0.8)], tempo=120, channel=0, program=0)
    data = path.read_bytes()
    assert data[:4] == b"MThd" and data.count(bytes([0x90, 60])) == 1 and data.count(bytes([0x80, 64])) == 1
