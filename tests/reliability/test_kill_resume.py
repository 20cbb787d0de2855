"""`evalkit run` (generate + judge + report) killed with SIGKILL at random points, ten times, then finished:
nothing lost, nothing duplicated, and the final tables equal those of an uninterrupted run."""

import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd

from evalkit.store import Store
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI
from tests.reliability.conftest import deterministic_script, experiment

TABLES = ["reference_scores", "rubric_scores", "judge_diagnostics", "advice_counts", "primary_contrasts"]


def _tables(out):
    return {t: pd.read_csv(out / "tables" / f"{t}.csv") for t in TABLES}


def _rows(out):
    s = Store(out)
    advice = sorted((a.id, a.text) for a in s.advice())
    judgments = sorted((j.key, j.score, j.verdict, j.parsed) for j in s.judgments())
    return advice, judgments


def test_ten_random_kills_then_identical_results(small_testset, tmp_path):
    rng = random.Random(7)
    with FakeOpenAI(deterministic_script(0.03)) as srv:
        clean = tmp_path / "clean"
        run_cli("run", experiment(tmp_path, small_testset, srv.base_url), "--out", clean, "--quiet", check=True)
        killed = tmp_path / "killed"
        args = [sys.executable, "-m", "evalkit.cli", "run", str(experiment(tmp_path, small_testset, srv.base_url)),
                "--out", str(killed), "--quiet"]
        kills = 0
        for _ in range(10):
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            time.sleep(rng.uniform(0.5, 5.0))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
        assert kills >= 8, "most kills should land while the run is still going"
        run_cli("run", experiment(tmp_path, small_testset, srv.base_url), "--out", killed, "--quiet", check=True)
    clean_rows, killed_rows = _rows(clean), _rows(killed)
    assert killed_rows == clean_rows  # the same advice and judgments, each exactly once
    a, b = _tables(clean), _tables(killed)
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=False, rtol=1e-9)
