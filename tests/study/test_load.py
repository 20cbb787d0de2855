"""Load: 50 concurrent participants × 40 answers with double submits and reloads: exactly one row per trial.
Latency is measured in benchmarks/study_load.py, not asserted here."""


from benchmarks.study_load import run


def test_sqlite_exactly_once_under_load():
    r = run(participants=50, answers=40, processes=1)
    assert r["expected"] == 50 * 40
    assert r["rows"] == r["unique"] == r["expected"] and r["saves"] == 2 * r["expected"]


def test_two_processes_sharing_postgresql_exactly_once(pg_url):
    r = run(participants=50, answers=40, processes=2, store_url=pg_url)  # runs in its own fresh database beside pg_url
    assert r["backend"] == "postgresql"
    assert r["rows"] == r["unique"] == r["expected"] == 50 * 40
