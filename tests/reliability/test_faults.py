"""A local endpoint injecting 20% faults (429, 500, timeouts, malformed JSON, truncated bodies):
every item ends generated or failed, every judgment scored, unscored (an answer that did not parse) or a
failed call (retried on the next run), each with its reason, and the report counts them apart."""

import pandas as pd

from evalkit.store import Store
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI, faulty
from tests.reliability.conftest import deterministic_script, experiment


def test_twenty_percent_faults_are_all_accounted_for(small_testset, tmp_path):
    with FakeOpenAI(faulty(deterministic_script(0.0), rate=0.2, seed=3, timeout_s=1.5)) as srv:
        out = tmp_path / "out"
        proc = run_cli("run", experiment(tmp_path, small_testset, srv.base_url, max_attempts=1), "--out", out, "--quiet")
        assert proc.returncode == 0, proc.stderr
        n_calls = len(srv.requests)
    s = Store(out)
    frame = s.advice_frame()
    llm = frame[frame.system == "api-llm"]
    n_items = len(s.items("test"))
    assert len(llm) == n_items  # every item ends as advice or as a recorded failure
    failed = llm[llm.status == "failed"]
    assert len(failed) > 0 and failed.error.str.len().gt(0).all()
    judgments = s.judgments("api-judge")
    not_scored = [j for j in judgments if not j.parsed]
    assert not_scored and all(j.error and j.failure in ("parse", "api") for j in not_scored)
    failed_calls = [j for j in not_scored if j.failure == "api"]
    unparsed = [j for j in not_scored if j.failure == "parse"]
    assert failed_calls  # transport faults are failed calls, not unscored answers
    assert all(j.raw_output for j in unparsed)  # an unscored answer keeps what the judge said
    assert len(s.calls_frame()) == n_calls  # every call, failed or not, is in the log
    diag = pd.read_csv(out / "tables" / "judge_diagnostics.csv").set_index("judge")
    assert diag.loc["api-judge", "unscored"] == len(unparsed)
    assert diag.loc["api-judge", "failed_calls"] == len(failed_calls)
    failures = pd.read_csv(out / "tables" / "advice_failures.csv")
    assert len(failures) == len(failed)
    report = (out / "report" / "report.md").read_text()
    assert "Recorded generation failures" in report and "unscored" in report
