"""Shared fixtures: a small synthetic test set (built once per session) and store URLs."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from evalkit.data.synth import synthesize

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_testset(tmp_path_factory) -> Path:
    """6 songs × (3 problem + 1 control) items, 4 s each at 22.05 kHz: quick but complete."""
    out = tmp_path_factory.mktemp("testset")
    synthesize(out, songs=6, seed=11, seconds=4.0, sample_rate=22050, progress=False)
    return out


def _pg_url() -> str | None:
    return os.environ.get("EVALKIT_TEST_PG_URL")


if _pg_url() and "PGPASSWORD" not in os.environ:
    # study.json keeps no password (evalkit/secrets.py); the study servers and CLI processes the tests start
    # find it where a deployed server would, in PGPASSWORD.
    from urllib.parse import urlsplit

    if urlsplit(_pg_url()).password:
        os.environ["PGPASSWORD"] = urlsplit(_pg_url()).password


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path):
    """A fresh store target: a run directory (SQLite) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield tmp_path / "run"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url():
    """A URL to a fresh, empty PostgreSQL database, dropped afterwards."""
    url = _pg_url()
    if not url:
        pytest.skip("PostgreSQL not configured: set EVALKIT_TEST_PG_URL (.ci/run does)")
    import sqlalchemy as sa

    name = f"evalkit_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run_cli(*args: str, check: bool = False, env: dict | None = None, timeout: float = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `evalkit` entry point in a subprocess (as a user would)."""
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"evalkit {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def judged_run(testset, out, systems=None, **generate_kw):
    """A run of ``systems`` (default: the analytic family with its bounds) on ``testset``, judged by the reference
    judge: what the report and manifest tests start from. Returns the run store."""
    from evalkit.generate import generate
    from evalkit.judging.rubrics import load_judge
    from evalkit.judging.stage import judge_run
    from evalkit.store import Store
    from tests.test_generate import ANALYTIC

    generate(testset, ANALYTIC if systems is None else systems, out, show_progress=False, **generate_kw)
    store = Store(out)
    judge_run(store, load_judge("judges/reference.yaml"), show_progress=False)
    return store


BROWSER_MODULES = {"test_browser", "test_gate_browser", "test_hostile_advice", "test_server_surface", "test_viewer_browser"}


def pytest_collection_modifyitems(config, items):
    """Mark what the fast lane leaves out, from what a test uses rather than by hand: `browser` for the modules that
    drive headless Chromium (also `slow`), `postgres` for every test that opens a PostgreSQL database (the
    postgresql parameter of `store_target`, or the `pg_url` fixture). The fast lane:
    `python -m pytest -m "not slow and not browser and not postgres"`; the README's command runs everything."""
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in BROWSER_MODULES:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "pg_url" in item.fixturenames or "postgresql" in params.values():
            item.add_marker(pytest.mark.postgres)
