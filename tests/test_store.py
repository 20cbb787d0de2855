import json
import sqlite3

import pytest

from evalkit.errors import StoreError
from evalkit.records import Advice, Condition, Item, Judgment, Preference
from evalkit.store import MIGRATIONS, Store


def _item(i: int) -> Item:
    return Item(id=f"it{i}", song_id="s1", split="test", offsets_db={"bass": 3.0}, correction_db={"bass": -3.0})


def test_migrations_are_applied_once(store_target):
    s1 = Store(store_target)
    assert s1.schema_version() == MIGRATIONS[-1][0]
    s1.dispose()
    s2 = Store(store_target)  # reopening does not re-apply or fail
    assert s2.count("schema_migrations") == len(MIGRATIONS)


def test_idempotent_writes_and_failure_then_success(store_target):
    s = Store(store_target)
    assert s.put_items([_item(1), _item(2)]) == 2
    assert s.put_items([_item(1)]) == 0
    assert [i.id for i in s.items("test")] == ["it1", "it2"]

    s.put_advice_failure("it1", "llm", "mix", "cfg", "timeout")
    s.put_advice_failure("it1", "llm", "mix", "cfg", "timeout again")
    frame = s.advice_frame()
    assert frame.loc[0, "status"] == "failed" and frame.loc[0, "attempts"] == 2
    ok = Advice(item_id="it1", system="llm", condition=Condition.mix, text="raise the bass 3 dB")
    s.put_advice(ok)
    s.put_advice_failure("it1", "llm", "mix", "cfg", "late failure must not clobber success")
    s.put_advice(Advice(item_id="it1", system="llm", condition=Condition.mix, text="different text"))
    got = s.advice()
    assert len(got) == 1 and got[0].text == "raise the bass 3 dB"


def test_judgments_and_preferences_are_written_once(store_target):
    s = Store(store_target)
    j = Judgment(advice_id="a", judge="ref", rubric="r", rubric_hash="h", protocol="absolute", score=3.0)
    assert s.put_judgments([j, j]) == 1
    assert s.judgment_keys("ref") == {j.key}
    p = Preference(participant_id="p1", trial_id="t1", item_id="i", advice_id_a="a", advice_id_b="b",
                   system_a="x", system_b="y", choice="a")
    assert s.put_preference(p) is True
    assert s.put_preference(p.model_copy(update={"choice": "b"})) is False
    assert [x.choice for x in s.preferences()] == ["a"]


def test_answers_stored_under_the_old_names_are_read_under_the_new(store_target):
    """A body written before the vocabulary was settled (docs/glossary.md): ``strength`` is read as ``confidence``, the
    always-"a" ``shown_left`` is dropped; a ``shown_left`` of "b" (never written by evalkit) is refused, not guessed."""
    from pydantic import ValidationError
    from sqlalchemy import update

    from evalkit.store.schema import preferences

    s = Store(store_target)
    p = Preference(participant_id="p1", trial_id="t1", item_id="i", advice_id_a="a", advice_id_b="b", system_a="x", system_b="y",
                   choice="tie", confidence=2)
    s.put_preference(p)
    old = {k: v for k, v in p.model_dump().items() if k != "confidence"} | {"strength": 2, "shown_left": "a"}
    with s.engine.begin() as conn:
        conn.execute(update(preferences).values(body=json.dumps(old)))
    assert s.preferences() == [p]
    with pytest.raises(ValidationError):
        Preference.model_validate(old | {"shown_left": "b"})


def test_every_call_is_logged(store_target):
    s = Store(store_target)
    s.log_call(stage="judge", backend="openai_compat", model="m", params={"temperature": 0}, prompt=[{"role": "user"}],
               prompt_hash="ph", response="{}", tokens_in=10, tokens_out=2, latency_s=0.1, cost_usd=0.0, error=None)
    calls = s.calls_frame()
    assert len(calls) == 1 and calls.loc[0, "tokens_in"] == 10 and calls.loc[0, "backend"] == "openai_compat"


def test_sqlite_uses_wal(tmp_path):
    Store(tmp_path / "run")
    con = sqlite3.connect(tmp_path / "run" / "store.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_read_only_directory_is_a_clear_error(tmp_path):
    import os

    if os.geteuid() == 0:
        # root ignores permission bits; a path under a regular file cannot be created by anyone
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(StoreError, match="cannot create"):
            Store(blocker / "run")
        return
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(StoreError):
        Store(ro / "run")


def test_concurrent_first_opens_migrate_once(store_target):
    """Several processes opening a new store at once (app workers, a killed and restarted stage)."""
    import subprocess
    import sys

    code = "import sys; from evalkit.store import Store; Store(sys.argv[1]).dispose()"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(store_target)], stderr=subprocess.PIPE) for _ in range(6)]
    errors = [p.communicate()[1].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert Store(store_target).count("schema_migrations") == len(MIGRATIONS)


def test_migration_3_tells_old_failed_calls_from_unparsed_answers(tmp_path):
    """A store written before migration 3 (no failure column): unparsed answers become 'parse', other
    unscored LLM judgments 'api' (and so are retried); parsed and reference rows stay as they were."""
    import sqlalchemy as sa

    from evalkit.records import Judgment

    store = Store(tmp_path / "old")
    base = dict(advice_id="x", judge="j", rubric="r", rubric_hash="h", protocol="absolute")
    store.put_judgments([Judgment(**base, sample_index=0, parsed=False, error="unparsed: no JSON object in output"),
                         Judgment(**base, sample_index=1, parsed=False, error="HTTP 500"),
                         Judgment(**base, sample_index=2, score=4.0)])
    with store.engine.begin() as c:  # make it look like a store from before migration 3
        c.execute(sa.text("ALTER TABLE judgments DROP COLUMN failure"))
        c.execute(sa.text("DELETE FROM schema_migrations WHERE version = 3"))
    store.dispose()
    again = Store(tmp_path / "old")
    with again.engine.connect() as c:
        rows = dict(c.execute(sa.text("SELECT sample_index, failure FROM judgments")).all())
    assert rows == {0: "parse", 1: "api", 2: None}
    assert len(again.judgment_keys("j")) == 2  # the failed call is not a judgment: it will be asked again
