import itertools
import json
from collections import Counter

import pandas as pd
import pytest

from evalkit.errors import EvalkitInputError
from evalkit.study.simulate import simulate
from evalkit.study.store import StudyStore
from tests.conftest import run_cli


def test_design_is_counterbalanced_and_balanced(study_dir):
    cfg = json.loads((study_dir / "study.json").read_text())
    study = StudyStore(study_dir)
    comps, orders, loads = Counter(), Counter(), Counter()
    for slot in range(cfg["n_slots"]):
        pid = f"p{slot}"
        study.participant(pid)
        trials = study.trials(pid)
        loads[slot] = sum(not t.gold for t in trials)
        assert sum(t.gold for t in trials) == 1
        seen = set()
        for t in trials:
            if t.gold:
                continue
            pair = tuple(sorted((t.left["system"], t.right["system"])))
            assert (t.item_id, pair) not in seen, "a slot never sees the same (item, pair) twice"
            seen.add((t.item_id, pair))
            comps[(t.item_id, pair)] += 1
            orders[(t.item_id, pair, t.left["system"])] += 1
    n_pairs = len(list(itertools.combinations(cfg["systems"], 2)))
    assert len(comps) == len(cfg["items"]) * n_pairs and set(comps.values()) == {2}  # every (item, pair) rated twice
    assert set(orders.values()) == {1}  # ... once in each order
    assert max(loads.values()) - min(loads.values()) <= 1


def test_answers_are_saved_once_resume_and_isolation(study_dir):
    study = StudyStore(study_dir)
    trials = study.trials("alice")
    assert study.save_answer("alice", trials[0].trial_id, "A") is True
    assert study.save_answer("alice", trials[0].trial_id, "B") is False  # a double submit changes nothing
    nxt, done, total = study.next_trial("alice")
    assert nxt.trial_id == trials[1].trial_id and done == 1 and total == len(trials)
    bob = study.participant("bob")
    assert bob["slot"] != study.participant("alice")["slot"]
    with pytest.raises(EvalkitInputError, match="not one of participant bob's trials"):
        study.save_answer("bob", trials[0].trial_id, "A")
    assert [p.choice for p in study.store.preferences()] == ["a"]


@pytest.mark.parametrize("pid", [None, "", "../../etc", "a" * 65, "x y", "<script>"])
def test_bad_participant_ids_are_refused(study_dir, pid):
    with pytest.raises(EvalkitInputError, match="participant id"):
        StudyStore(study_dir).participant(pid)


@pytest.mark.parametrize("rel", ["../study.json", "stimuli/../study.json", "/etc/passwd", "store.sqlite", "stimuli/nope.wav"])
def test_audio_is_served_only_from_the_studys_stimuli(study_dir, rel):
    with pytest.raises(EvalkitInputError, match="not a stimulus"):
        StudyStore(study_dir).audio_path(rel)


def test_stimuli_are_loudness_matched(study_dir):
    from evalkit.audio.features import integrated_loudness
    from evalkit.audio.io import read_audio

    study = StudyStore(study_dir)
    t = next(t for t in study.trials("carol") if not t.gold)
    x, sr = read_audio(study.audio_path(t.mix_audio))
    assert integrated_loudness(x, sr) == pytest.approx(-23.0, abs=0.3)  # PCM_16 rounding and peak ceiling aside


def test_simulate_export_and_stats_contract(study_dir, tmp_path):
    saved = simulate(study_dir, participants=12, seed=3)
    assert saved > 0
    out = run_cli("study", "export", study_dir, "--out", tmp_path / "prefs.csv", check=True)
    assert "answers" in out.stdout
    df = pd.read_csv(tmp_path / "prefs.csv")
    assert list(df.columns[:5]) == ["participant_id", "item_id", "system_a", "system_b", "choice"]
    assert df.simulated.all() and not df.system_a.str.startswith("gold").any()
    run_cli("stats", "preferences", tmp_path / "prefs.csv", "--out", tmp_path / "stats", "--bootstrap", "100", check=True)
    bt = pd.read_csv(tmp_path / "stats" / "bradley_terry.csv")
    tests = pd.read_csv(tmp_path / "stats" / "pairwise_tests.csv")
    assert list(bt.columns) == ["system", "score", "ci_low", "ci_high"]
    # the DESIGN contract's columns first; p_value is the participant-level test, the vote-level one beside it
    assert list(tests.columns[:7]) == ["system_a", "system_b", "wins_a", "wins_b", "ties", "p_value", "p_holm"]
    assert {"p_value_votes", "n_participants", "ci_low", "ci_high"} <= set(tests.columns)
    scores = bt.set_index("system").score
    oracle = scores["oracle/stems+own-reference"]
    assert oracle > scores["generic/mix"] and oracle > scores["analytic/mix"]
    # simulate is idempotent per seed: the same raters answer nothing twice
    assert simulate(study_dir, participants=12, seed=3) == 0


def test_after_audio_of_the_oracle_is_the_balanced_reference(analytic_run, tmp_path):
    """'After' stimuli apply each advice's parsed gains: following the oracle restores the reference balance."""
    import numpy as np

    from evalkit.audio.io import read_audio
    from evalkit.audio.render import loudness_match
    from evalkit.data.testset import load_testset
    from evalkit.store import Store
    from evalkit.study.design import create_study

    create_study(analytic_run, tmp_path / "s", systems=["oracle", "generic"], ratings=1, trials_per_participant=8,
                 after_audio=True, headphone_check=False, show_progress=False)
    study = StudyStore(tmp_path / "s")
    ts = load_testset(Store(analytic_run).get_meta("testset_path"))
    checked = 0
    for slot in range(study.config["n_slots"]):
        for t in study.trials(f"after-{slot}"):
            oracle = "oracle/stems+own-reference"  # study systems are arms: a system under one condition
            side = t.left if t.left["system"] == oracle else t.right if t.right["system"] == oracle else None
            if side is None or ts.item(t.item_id).kind != "problem":
                continue
            after, sr = read_audio(study.audio_path(side["after_audio"]))
            stems, _ = ts.stems(ts.item(t.item_id).song_id)
            reference = loudness_match(sum(stems.values()), sr, -23.0)
            # equal up to 16-bit rounding and the oracle's rounding of gains to 0.5 dB
            assert np.corrcoef(after.ravel(), reference.ravel())[0, 1] > 0.999
            checked += 1
    assert checked > 0
