"""API keys never reach the store, the logs or the report; the study's own checks are in tests/study."""

from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI
from tests.reliability.conftest import deterministic_script, experiment

KEY = "sk-evalkit-test-SECRET-4f9c2a"


def test_api_key_is_used_but_never_stored_logged_or_reported(small_testset, tmp_path):
    with FakeOpenAI(deterministic_script(0.0)) as srv:
        cfg = experiment(tmp_path, small_testset, srv.base_url)
        proc = run_cli("run", cfg, "--out", tmp_path / "out", env={"OPENAI_API_KEY": KEY})
        assert proc.returncode == 0, proc.stderr
        sent = [h.get("Authorization") or h.get("authorization") for h in srv.headers]
    assert sent and all(a == f"Bearer {KEY}" for a in sent)  # the key was really used
    assert KEY not in proc.stdout + proc.stderr
    leaks = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaks == []  # store.sqlite (and its WAL), tables, figures, report
