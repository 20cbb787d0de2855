"""`evalkit run` (generate + judge + report) killed with SIGKILL at random points, ten times, then finished:
nothing lost, nothing duplicated, and the final tables equal those of an uninterrupted run."""

import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from evalkit.store import Store
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI
from tests.reliability.conftest import deterministic_script, experiment

pytestmark = pytest.mark.slow  # kills and restarts processes: the fast lane leaves it out

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


def test_a_judge_killed_against_a_faulty_endpoint_then_rerun_against_a_healthy_one(small_testset, tmp_path):
    """`evalkit judge` against an endpoint that fails every third call, SIGKILLed once some judgments are saved,
    then rerun against a healthy endpoint: every judgment scored, each once; the diagnostics count the failed
    calls apart from parse failures (none here), both while they are pending and afterwards from the log."""
    import yaml

    from evalkit.generate import generate
    from evalkit.judging.diagnostics import judge_diagnostics
    from tests.fake_openai import Reply
    from tests.test_generate import ANALYTIC

    run = tmp_path / "run"
    generate(small_testset, ANALYTIC, run, show_progress=False)
    verdict = '{"rationale": "scripted", "verdict": "A"}'

    def preset(url):
        path = tmp_path / "judge.yaml"
        path.write_text(yaml.safe_dump({"name": "api-judge", "protocol": "pairwise", "rubrics": ["pairwise"], "both_orders": True,
                                        "max_pairs": 40, "backend": {"name": "openai_compat", "model": "fake", "base_url": url,
                                                                     "max_concurrency": 2, "max_attempts": 1, "timeout_s": 2.0}}))
        return path

    with FakeOpenAI(lambda r, n: Reply(status=500, delay_s=0.05) if n % 3 == 0 else Reply(verdict, delay_s=0.05)) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "evalkit.cli", "judge", "--run", str(run), "--judge", str(preset(srv.base_url)),
                                 "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if Store(run).count("judgments") >= 12:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the judge finished before it could be killed; give it more work"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    pending = judge_diagnostics(Store(run)).set_index("judge").loc["api-judge"]
    assert pending.failed_calls > 0 and pending.unscored == 0 and pending.parse_failure_rate == 0
    with FakeOpenAI(lambda r, n: Reply(verdict)) as srv:
        run_cli("judge", "--run", run, "--judge", preset(srv.base_url), "--quiet", check=True)
    js = Store(run).judgments("api-judge")
    assert len(js) == 80 and len({j.key for j in js}) == 80 and all(j.parsed and j.failure is None for j in js)
    d = judge_diagnostics(Store(run)).set_index("judge").loc["api-judge"]
    assert d.failed_calls == 0 and d.unscored == 0 and d.failed_calls_logged >= pending.failed_calls
