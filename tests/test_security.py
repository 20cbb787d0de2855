"""API keys never reach the store, the logs or the report; the study's own checks are in tests/study."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_cli
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


def test_a_key_in_a_config_is_refused_with_the_fix(small_testset, tmp_path):
    import yaml

    systems = tmp_path / "systems.yaml"
    systems.write_text(yaml.safe_dump({"systems": [{"name": "api", "kind": "llm", "condition": "mix",
                                                    "backend": {"name": "openai_compat", "model": "m", "api_key": KEY}}]}))
    proc = run_cli("generate", "--testset", small_testset, "--systems", systems, "--out", tmp_path / "run")
    assert proc.returncode == 2 and "OPENAI_API_KEY" in proc.stderr and "api_key" in proc.stderr
    assert KEY not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_credentials_in_a_base_url_are_masked_everywhere(small_testset, tmp_path):
    """A base_url that carries user:password (a proxy) is used as given but stored masked."""
    import yaml

    with FakeOpenAI(deterministic_script(0.0)) as srv:
        url = srv.base_url.replace("http://", "http://proxyuser:hunter2-SECRET@")
        systems = tmp_path / "systems.yaml"
        systems.write_text(yaml.safe_dump({"systems": [{"name": "api", "kind": "llm", "condition": "mix",
                                                        "backend": {"name": "openai_compat", "model": "m", "base_url": url}}]}))
        proc = run_cli("generate", "--testset", small_testset, "--systems", systems, "--out", tmp_path / "run")
        assert proc.returncode == 0, proc.stderr
        assert srv.requests  # the URL with credentials really worked
    assert "hunter2-SECRET" not in proc.stdout + proc.stderr
    leaks = [p for p in (tmp_path / "run").rglob("*") if p.is_file() and b"hunter2-SECRET" in p.read_bytes()]
    assert leaks == []


def test_mask_url_by_hand():
    from evalkit.secrets import mask_url, redact

    assert mask_url("postgresql://evalkit:pw@127.0.0.1:5432/db") == "postgresql://evalkit:***@127.0.0.1:5432/db"
    assert mask_url("see http://u:p@h/x and https://h/y") == "see http://u:***@h/x and https://h/y"
    assert redact({"backend": {"api_key": "k", "base_url": "http://a:b@h"}}) == {"backend": {"api_key": "***", "base_url": "http://a:***@h"}}


def test_keep_without_password_by_hand():
    from evalkit.secrets import keep_without_password, with_known_password

    assert keep_without_password("postgresql://evalkit:pw@127.0.0.1:5432/db") == "postgresql://evalkit@127.0.0.1:5432/db"
    assert with_known_password("postgresql://evalkit@127.0.0.1:5432/db") == "postgresql://evalkit:pw@127.0.0.1:5432/db"
    assert keep_without_password("sqlite:////tmp/x.sqlite") == "sqlite:////tmp/x.sqlite"


@pytest.mark.postgres
def test_a_study_on_postgresql_keeps_no_password_in_its_folder(small_testset, tmp_path, pg_url):
    """study.json names the database without the password; another process opens it with PGPASSWORD
    (as a deployed server would), and without any password it is refused with exit 2, password unprinted."""
    from urllib.parse import urlsplit

    password = urlsplit(pg_url).password
    assert password
    run_cli("generate", "--testset", small_testset, "--systems", ROOT / "experiments" / "systems.yaml", "--out", pg_url, check=True)
    run_cli("study", "create", "--run", pg_url, "--out", tmp_path / "s", "--store-url", pg_url, "--ratings", "1", check=True)
    leaks = [p for p in (tmp_path / "s").rglob("*") if p.is_file() and f":{password}@".encode() in p.read_bytes()]
    assert leaks == []
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "EVALKIT_STUDY_STORE_URL")}
    ok = subprocess.run([sys.executable, "-m", "evalkit.cli", "study", "export", str(tmp_path / "s"), "--out", str(tmp_path / "p.csv")],
                        env={**env, "PGPASSWORD": password}, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    home = tmp_path / "home"  # no ~/.pgpass there either
    home.mkdir()
    bad = subprocess.run([sys.executable, "-m", "evalkit.cli", "study", "export", str(tmp_path / "s"), "--out", str(tmp_path / "q.csv")],
                         env={**env, "HOME": str(home)}, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and f":{password}@" not in bad.stderr, bad.stderr
    assert "PGPASSWORD" in bad.stderr  # the fix is named
