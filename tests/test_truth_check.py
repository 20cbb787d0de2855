"""`evalkit data check-truth` (issue #20): the engineers' consensus checked against listeners, on a tiny file whose
numbers are worked out by hand below, and on the real two-song MixologyDB file."""

from __future__ import annotations

import json

import pytest

from evalkit.report.truth_check import check_truth
from tests.conftest import ROOT, judged_run, run_cli

TWO_SONGS = ROOT.parent / "shared" / "data" / "mixologydb-two-songs.json"


def _track(name: str, kind: str, gain: float, lufs: float = -20.0) -> dict:
    return {"track-name": name, "track-type": "AUDIO", "track-instrument-type": kind, "parameters": {"gain": gain},
            "track-audio-features": {"track-audio-path": f"./{name}.wav", "track-audio-lufs": lufs}}


def _mix(song: str, name: str, drums_gain: float, evaluations: list[tuple[float, str]]) -> dict:
    return {"mix-name": name, "song-name": song, "tracks": [_track("Kick", "DRUMS", drums_gain), _track("Lead Vox", "VOCALS", 0.0),
                                                            {"track-name": "FX", "track-type": "AUX", "parameters": {"gain": 3}}],
            "mix-evaluation": [{"track-num-eval": r, "track-semantic-eval": c} for r, c in evaluations]}


def tiny(songs=("A", "B")) -> dict:
    """Per song three mixes; drums and vocals tracks of equal loudness, the drums fader moved. With two stems and two
    other mixes, a mix's deviation is d~_drums = (Δ_m − mean of the others' Δ)/2, Δ = drums gain − vocals gain:
    A: Δ = 0, 2, 4 -> d~_drums = -1.5, 0, +1.5;  B: Δ = 0, 6, 3 -> d~_drums = -2.25, +2.25, 0."""
    mixes = []
    for k, song in enumerate(songs):
        b = k % 2  # odd songs are laid out like B
        mixes += [_mix(song, f"{song}1", 0, [(0.4, "The drums are too quiet."), (0.4, "Vocals too quiet.")] if not b
                       else [(0.5, "The bass is too loud.")]),
                  _mix(song, f"{song}2", 6 if b else 2, [(0.3, "The vocals are buried.")] if b else [(0.8, "Drums too loud.")]),
                  _mix(song, f"{song}3", 3 if b else 4, [(0.9, "")] if b else [(0.6, "The drums are too loud.")])]
    return {"mixes": mixes}


def test_numbers_by_hand(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny()))
    doc = check_truth(path)
    dev = {(m["song"], m["mix"]): m for m in doc["mixes"]}
    assert dev[("A", "A1")]["deviation_db"]["drums"] == pytest.approx(-1.5)
    assert dev[("A", "A1")]["deviation_db"]["vocals"] == pytest.approx(1.5)
    assert dev[("B", "B2")]["distance_db"] == pytest.approx(2.25) and dev[("B", "B3")]["distance_db"] == pytest.approx(0)
    # comments: A1 drums up (drums at -1.5: agrees), A1 vocals up (vocals at +1.5: disagrees), A2 at 0 dB deviation (not
    # scored), A3 drums down (+1.5: agrees), B2 vocals up (-2.25: agrees), B1 bass (no bass stem: not scored) -> 3 of 4
    assert doc["comment_claims"] == 4 and doc["comment_agreement"] == pytest.approx(0.75)
    assert doc["comment_agreement_ci"] is None and "too few mixes" in doc["comment_agreement_note"]  # 3 mixes
    bands = {b["group"]: b for b in doc["agreement_by_band"]}
    assert bands["deviation ≥ 2 dB"]["claims"] == 1 and bands["deviation ≥ 3 dB"]["claims"] == 0
    # within-song centred: x = (.5, -1, .5, .75, .75, -1.5), y = (-.2, .2, 0, -.0667, -.2667, .3333);
    # r = Σxy / sqrt(Σx² Σy²) = -1.05 / sqrt(4.875 × 0.26667) = -0.9209
    assert doc["rating_r"] == pytest.approx(-1.05 / (4.875 * 0.8 / 3) ** 0.5, abs=1e-4)
    assert doc["rating_r_ci"] is None and doc["rating_r_note"] == "too few songs for an interval (k = 2)"
    assert (doc["n_mixes"], doc["n_songs"], doc["n_ratings"]) == (6, 2, 7)
    assert "too few" in doc["verdict"]


def test_with_enough_songs_intervals_are_drawn_and_contain_their_estimate(tmp_path):
    path = tmp_path / "six.json"
    path.write_text(json.dumps(tiny(songs=("A", "B", "C", "D", "E", "F"))))
    doc = check_truth(path)
    lo, hi = doc["rating_r_ci"]
    assert lo <= doc["rating_r"] <= hi and -1 <= lo and hi <= 1
    assert doc["rating_r"] == pytest.approx(-0.9209, abs=1e-3)  # copies of the two songs: the same pooled r
    assert doc["comment_agreement_ci"] is not None and doc["comment_agreement_ci"][0] <= 0.75 <= doc["comment_agreement_ci"][1]


def test_cli_on_the_real_two_song_file(tmp_path):
    out = run_cli("data", "check-truth", TWO_SONGS, "--out", tmp_path / "tc", check=True)
    doc = json.loads((tmp_path / "tc" / "truth_check.json").read_text())
    for key in ("n_mixes", "n_songs", "n_ratings", "rating_r", "rating_r_ci", "comment_claims", "comment_agreement",
                "comment_agreement_ci"):
        assert key in doc
    assert (doc["n_mixes"], doc["n_songs"]) == (10, 2) and doc["n_ratings"] >= 180 and doc["comment_claims"] > 50
    assert doc["rating_r_ci"] is None  # two songs: no interval
    for name in ("truth_check.md", "distance_vs_rating.png", "agreement_by_band.png"):
        assert (tmp_path / "tc" / name).stat().st_size > 0
    assert doc["verdict"].split(".")[0] in out.stdout


@pytest.mark.parametrize("content, words", [("not json", "not a MixologyDB-layout file"), ('{"mixes": {}}', "not a list"),
                                            ('{"mixes": [{"tracks": []}]}', "song-name"),
                                            ('{"mixes": [{"song-name": "x", "tracks": []}]}', "no mix has a track")])
def test_bad_files_exit_2_naming_the_file(tmp_path, content, words):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = run_cli("data", "check-truth", bad, "--out", tmp_path / "o")
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr


def test_a_gain_that_is_not_a_number_is_refused_not_read_as_zero(tmp_path):
    doc = tiny()
    doc["mixes"][0]["tracks"][0]["parameters"]["gain"] = "loud"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    out = run_cli("data", "check-truth", bad, "--out", tmp_path / "o")
    assert out.returncode == 2 and "'loud'" in out.stderr and "Kick" in out.stderr


def test_import_from_mixologydb_checks_the_truth_and_the_report_shows_it(small_testset, tmp_path):
    """`data import mixeval` writes TESTSET/truth_check/; a report of a run on that test set has the section. (The run
    here is on a synthetic set with the two-song check copied in: the section's wiring, not the import's audio.)"""
    import shutil

    from evalkit.report.build import write_report
    from tests.data.test_loaders import FIXTURES, _excerpt_with_tones

    base = tmp_path / "mixologydb"
    _excerpt_with_tones(base)
    shutil.copy(FIXTURES / "mixologydb-excerpt.json", base / "final-track-data.json")
    out = run_cli("data", "import", "mixeval", base, "--out", tmp_path / "imported", "--problems", "1", check=True)
    assert "truth check" in out.stdout and (tmp_path / "imported" / "truth_check" / "truth_check.json").exists()

    ts = tmp_path / "ts"
    shutil.copytree(small_testset, ts)
    run_cli("data", "check-truth", TWO_SONGS, "--out", ts / "truth_check", check=True)
    store = judged_run(ts, tmp_path / "run")
    write_report(store, tmp_path / "run", bootstrap=50)
    md = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "## Is the truth what listeners hear?" in md and "not distinguishable from chance" in md
    assert (tmp_path / "run" / "figures" / "agreement_by_band.png").exists()
