"""The report's reference-judge section: every metric's formula with the settings used, and the engineers'
spread drawn only from data the user loaded (MixologyDB here), never from a number without a source."""

import json

import pandas as pd
import pytest

from evalkit.audio.io import write_audio
from evalkit.data.loaders import import_dataset
from evalkit.generate import generate
from evalkit.judging.rubrics import load_judge
from evalkit.judging.stage import judge_run
from evalkit.report.analysis import engineer_spread
from evalkit.report.build import write_report
from evalkit.store import Store
from evalkit.systems import parse_systems
from tests.data.test_loaders import _mix_json, _tone
from tests.test_generate import ANALYTIC


def test_definitions_carry_the_settings_and_the_spread_comes_from_loaded_mixes(tmp_path):
    base = tmp_path / "db"
    tracks = {"Kick": ("DRUMS", "a/kick.wav"), "Bass": ("BASS", "a/bass.wav"), "Keys": ("KEYS", "a/keys.wav"), "Vox": ("VOCALS", "a/vox.wav")}
    for k, (_, rel) in enumerate(tracks.values()):
        write_audio(base / rel, _tone(100 + 50 * k, amp=0.1, seconds=3.0, sr=22050), 22050)
    mixes = {"m1": {"Kick": 0, "Bass": 0, "Keys": 0, "Vox": 6}, "m2": {"Kick": 0, "Bass": 0, "Keys": 0, "Vox": 0}}
    import_dataset("mixeval", _mix_json(base, mixes, tracks), tmp_path / "ts", problems_per_song=2)
    run = tmp_path / "run"
    systems = parse_systems([{"name": "generic", "kind": "generic", "condition": "mix"},  # one song: no train split for analytic
                             {"name": "oracle", "kind": "oracle", "condition": "stems+own-reference"}], "t")
    generate(tmp_path / "ts", systems, run, show_progress=False)
    store = Store(run)
    judge_run(store, load_judge("judges/reference.yaml"), show_progress=False)
    # Hand calculation: equal track powers. m1: stems (0, 0, 0, 6) relative to their mean 1.5 -> (-1.5, -1.5, -1.5, 4.5); m2: zeros.
    # SD of two values = |a - b| / sqrt(2): 1.06 for drums, bass, other and 3.18 for vocals (rounded as stored);
    # pooled over stems: sqrt((3 * 1.06^2 + 3.18^2) / 4) = 1.836
    value, source = engineer_spread(store)
    assert value == pytest.approx(1.836, abs=0.002) and source == "engineers' spread (SD, 2 mixes of 1 songs)"
    write_report(store, tmp_path / "out", bootstrap=50)
    defs = pd.read_csv(tmp_path / "out" / "tables" / "reference_definitions.csv", comment="#")
    settings = defs.set_index("metric").definition["settings"]
    assert "frame = relative" in settings and "3 dB" in settings and "1.5 dB" in settings
    assert {"direction_accuracy", "wrong_claims", "balance_improvement_db", "db_error"} <= set(defs.metric)
    assert "What each metric is" in (tmp_path / "out" / "report" / "report.md").read_text()
    assert json.loads((tmp_path / "out" / "tables" / "provenance.json").read_text())["human_spread"]["source"] == source
    # a cited value given explicitly is what the figure uses, with its citation
    write_report(store, tmp_path / "cited", bootstrap=20, human_spread=(2.5, "a cited study, Table 3"))
    assert json.loads((tmp_path / "cited" / "tables" / "provenance.json").read_text())["human_spread"] == \
        {"db": 2.5, "source": "a cited study, Table 3"}


def test_no_spread_line_without_loaded_engineer_data(small_testset, tmp_path):
    generate(small_testset, ANALYTIC, tmp_path / "run", show_progress=False)
    assert engineer_spread(Store(tmp_path / "run")) is None
    write_report(Store(tmp_path / "run"), tmp_path / "out", bootstrap=20)
    assert json.loads((tmp_path / "out" / "tables" / "provenance.json").read_text())["human_spread"] is None
