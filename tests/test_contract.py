"""Nothing saved is ever lost, and every input gets the contract (issue #25).

A prepared test set, run (with judgments) and study (with answers) are fingerprinted: every file's bytes, every
store row. Each hostile case runs the real `evalkit` entry point in a fresh copy and must exit 2 with one line naming
the input, no traceback, and leave every byte and row as it was.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from evalkit.generate import generate
from evalkit.judging.rubrics import load_judge
from evalkit.judging.stage import judge_run
from evalkit.store import Store
from tests.conftest import ROOT, run_cli
from tests.test_generate import ANALYTIC


@pytest.fixture(scope="module")
def prepared(small_testset, tmp_path_factory):
    from evalkit.study.design import create_study
    from evalkit.study.simulate import simulate

    root = tmp_path_factory.mktemp("contract")
    ts = root / "ts"
    shutil.copytree(small_testset, ts)
    generate(ts, ANALYTIC, root / "run", show_progress=False)
    judge_run(Store(root / "run"), load_judge(ROOT / "judges" / "reference.yaml"), show_progress=False)
    create_study(root / "run", root / "study", ratings=1, trials_per_participant=4, headphone_check=False, show_progress=False)
    simulate(root / "study", participants=6, seed=1)
    return root


def _rows(db: Path) -> dict[str, list]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}
    finally:
        conn.close()


def fingerprint(root: Path) -> dict[str, object]:
    """Every file's bytes (stores by their rows: WAL files change on a read) under the prepared folders."""
    out: dict[str, object] = {}
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = str(f.relative_to(root))
        if f.name.startswith("store.sqlite-"):
            continue
        out[rel] = _rows(f) if f.name == "store.sqlite" else hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@pytest.fixture
def work(prepared, tmp_path):
    """A fresh copy of the prepared test set, run and study, with its fingerprint."""
    root = tmp_path / "w"
    shutil.copytree(prepared, root)  # the copies still name the prepared test set and run: read, never written
    return root, fingerprint(root)


def _refused(proc: subprocess.CompletedProcess, *words: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr[-1500:]}"
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in lines[0], f"{w!r} not in: {lines[0]}"
    return lines[0]


DESTROYERS = [
    ("sft-over-run-store", lambda w: ["data", "export-sft", w / "ts", "--out", w / "run" / "store.sqlite"], ["store.sqlite"]),
    ("sft-over-items", lambda w: ["data", "export-sft", w / "ts", "--out", w / "ts" / "items.jsonl"], ["items.jsonl"]),
    ("sft-over-foreign-file", lambda w: ["data", "export-sft", w / "ts", "--out", w / "study" / "consent.md"], ["consent.md", "--force"]),
    ("export-over-study-store", lambda w: ["study", "export", w / "study", "--out", w / "study" / "store.sqlite"], ["store.sqlite"]),
    ("export-over-study-json", lambda w: ["study", "export", w / "study", "--out", w / "study" / "study.json"], ["study.json"]),
    ("export-over-the-study", lambda w: ["study", "export", w / "study", "--out", w / "study"], ["study"]),
    ("synth-over-testset", lambda w: ["data", "synth", "--out", w / "ts", "--songs", "2", "--seconds", "2"], ["test set", "--force"]),
    ("synth-over-run", lambda w: ["data", "synth", "--out", w / "run", "--songs", "2", "--seconds", "2"], ["run store"]),
    ("synth-over-study", lambda w: ["data", "synth", "--out", w / "study", "--songs", "2", "--seconds", "2", "--force"], ["study"]),
    ("synth-over-other-files", lambda w: ["data", "synth", "--out", w / "study" / "stimuli", "--songs", "2", "--seconds", "2",
                                          "--force"], ["not empty"]),
    ("import-over-testset", lambda w: ["data", "import", "mixeval", w / "final-track-data.json", "--out", w / "ts"], ["test set", "--force"]),
    ("import-into-its-input", lambda w: ["data", "import", "musdb", w / "ts", "--out", w / "ts", "--force"], ["input"]),
    ("study-create-over-study", lambda w: ["study", "create", "--run", w / "run", "--out", w / "study"], ["study", "--force"]),
    ("study-create-over-run", lambda w: ["study", "create", "--run", w / "run", "--out", w / "run", "--force"], ["input"]),
    ("study-create-js-url", lambda w: ["study", "create", "--run", w / "run", "--out", w / "s2",
                                       "--completion-url", "javascript:alert(1)"], ["--completion-url", "https://"]),
    ("study-create-infinite-timeout", lambda w: ["study", "create", "--run", w / "run", "--out", w / "s2", "--slot-timeout", "inf"],
     ["--slot-timeout"]),
]


@pytest.mark.parametrize("case_id,build,words", DESTROYERS, ids=[c[0] for c in DESTROYERS])
def test_outputs_never_destroy_inputs(work, case_id, build, words):
    root, before = work
    _refused(run_cli(*build(root)), *words)
    assert fingerprint(root) == before


def test_export_replaces_its_own_earlier_export_and_writes_atomically(work):
    root, _ = work
    out = root / "answers.csv"
    run_cli("study", "export", root / "study", "--out", out, check=True)
    first = out.read_bytes()
    run_cli("study", "export", root / "study", "--out", out, check=True)  # ours: replaced without --force
    body = out.read_bytes().split(b"\n", 1)[1]  # line 1 is the banner, with the time it was written
    assert body == first.split(b"\n", 1)[1]
    assert not list(root.glob(".answers.csv.*"))  # no temporary left behind
    foreign = root / "notes.csv"
    foreign.write_text("my,own\n1,2\n")
    _refused(run_cli("study", "export", root / "study", "--out", foreign), "notes.csv", "--force")
    assert foreign.read_text() == "my,own\n1,2\n"
    run_cli("study", "export", root / "study", "--out", foreign, "--force", check=True)
    assert foreign.read_bytes().split(b"\n", 1)[1] == body


def test_synth_force_replaces_only_a_test_set(work):
    root, _ = work
    run_cli("data", "synth", "--out", root / "ts2", "--songs", "2", "--seconds", "2", "--sample-rate", "8000", check=True)
    run_cli("data", "synth", "--out", root / "ts2", "--songs", "3", "--seconds", "2", "--sample-rate", "8000", "--force", check=True)
    import json

    assert len(json.loads((root / "ts2" / "manifest.json").read_text())["songs"]) == 3
    assert not [p for p in root.iterdir() if p.name.startswith(".ts2")]


def test_run_refuses_to_resynthesize_under_its_advice(tmp_path):
    cfg = {"name": "x", "systems": [{"name": "g", "kind": "generic", "condition": "mix"}], "judges": [],
           "testset": {"synth": {"songs": 3, "seconds": 2, "sample_rate": 8000}}, "study": {"enabled": False}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run_cli("run", path, "--out", tmp_path / "out", "--quiet", check=True)
    before = fingerprint(tmp_path / "out")
    cfg["testset"]["synth"]["songs"] = 4
    path.write_text(yaml.safe_dump(cfg))
    _refused(run_cli("run", path, "--out", tmp_path / "out", "--quiet"), "songs 3 -> 4", "--force testset")
    assert fingerprint(tmp_path / "out") == before


# -- stores that are not what they claim to be ---------------------------------------------------------------------
def _store_case(kind: str, run: Path) -> None:
    db = run / "store.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file before it is broken
    conn.close()
    for extra in run.glob("store.sqlite-*"):
        extra.unlink()
    if kind == "truncated":
        db.write_bytes(db.read_bytes()[:1000])
    elif kind == "random":
        db.write_bytes(bytes(range(256)) * 64)
    elif kind == "foreign":
        db.unlink()
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
        conn.execute("INSERT INTO customers VALUES (1, 'ada')")
        conn.commit()
        conn.close()
    elif kind == "newer":
        conn = sqlite3.connect(db)
        conn.execute("INSERT INTO schema_migrations (version, description, applied_at) VALUES (99, 'from the future', 'now')")
        conn.commit()
        conn.close()
    elif kind == "directory":
        db.unlink()
        db.mkdir()


@pytest.mark.parametrize(("kind", "words"), [("truncated", ["store.sqlite"]), ("random", ["not an evalkit run store"]),
                                             ("foreign", ["another program", "customers"]),
                                             ("newer", ["newer evalkit", "99"]), ("directory", ["a folder"])])
@pytest.mark.parametrize("command", ["report", "judge", "generate"])
def test_a_store_that_is_not_ours_is_refused_untouched(work, kind, words, command):
    root, _ = work
    run = root / "run"
    _store_case(kind, run)
    before = (run / "store.sqlite").read_bytes() if (run / "store.sqlite").is_file() else "dir"
    args = {"report": ["report", run, "--out", root / "rep"],
            "judge": ["judge", "--run", run, "--judge", ROOT / "judges" / "reference.yaml"],
            "generate": ["generate", "--testset", root / "ts", "--systems", ROOT / "experiments" / "systems.yaml", "--out", run]}
    _refused(run_cli(*args[command]), *words)
    assert ((run / "store.sqlite").read_bytes() if (run / "store.sqlite").is_file() else "dir") == before


def _hold_lock(db: Path, mode: str) -> subprocess.Popen:
    """Another process holding a SQLite lock (EXCLUSIVE: no reader either; IMMEDIATE: a writer) for 60 s."""
    holder = subprocess.Popen([sys.executable, "-c", (
        f"import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN {mode}'); "
        "print('held', flush=True); time.sleep(60)"), str(db)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_locked_store_is_waited_for_a_bounded_time_then_refused(work):
    root, before = work
    holder = _hold_lock(root / "run" / "store.sqlite", "EXCLUSIVE")
    try:
        t = time.monotonic()
        proc = run_cli("judge", "--run", root / "run", "--judge", ROOT / "judges" / "reference.yaml",
                       env={"EVALKIT_LOCK_TIMEOUT_S": "2"}, timeout=120)
        waited = time.monotonic() - t
    finally:
        holder.kill()
        holder.wait()
    _refused(proc, "locked by another process", "EVALKIT_LOCK_TIMEOUT_S")
    assert waited < 60  # bounded: the holder would have kept it for 60 s
    assert fingerprint(root) == before


# -- files that attack the reader ----------------------------------------------------------------------------------
BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + k)}: &{chr(98 + k)} [{', '.join(['*' + chr(97 + k)] * 9)}]\n" for k in range(8)) + "systems: *i\n"


def _inputs(w: Path) -> Path:
    """Hostile files live beside the prepared folders, not in them (the fingerprint covers those)."""
    d = w.parent / "inputs"
    d.mkdir(exist_ok=True)
    return d


def _yaml_case(text: str):
    def build(w: Path) -> list:
        p = _inputs(w) / "systems.yaml"
        p.write_text(text)
        return ["generate", "--testset", w / "ts", "--systems", p, "--out", w / "r2"]
    return build


def _rubric_case(prompt: str):
    def build(w: Path) -> list:
        rubric = _inputs(w) / "bomb.yaml"
        doc = yaml.safe_load((ROOT / "rubrics" / "specificity.yaml").read_text())
        rubric.write_text(yaml.safe_dump({**doc, "name": "bomb", "prompt": prompt}))
        preset = _inputs(w) / "j.yaml"
        preset.write_text(yaml.safe_dump({"name": "j", "protocol": "absolute", "rubrics": [str(rubric)],
                                          "backend": {"name": "openai_compat", "model": "m", "base_url": "http://127.0.0.1:9/v1"}}))
        return ["judge", "--run", w / "run", "--judge", preset]
    return build


READERS = [
    ("yaml-billion-laughs", _yaml_case(BILLION_LAUGHS), ["systems.yaml", "alias"]),
    ("yaml-duplicate-key", _yaml_case("systems:\n  - {name: a, kind: generic, condition: mix, name: b}\n"),
     ["systems.yaml", "duplicate key"]),
    ("yaml-deep", _yaml_case("systems: " + "[" * 5000 + "]" * 5000 + "\n"), ["systems.yaml"]),
    ("yaml-huge", _yaml_case("# " + "x" * 3_000_000 + "\n"), ["systems.yaml", "bytes"]),
    ("yaml-empty-systems", _yaml_case("systems: []\n"), ["systems.yaml", "systems"]),
    ("rubric-megabytes", _rubric_case("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"),
     ["bomb.yaml"]),
    ("rubric-string-bomb", _rubric_case("{{ 'x' * 1000000000 }}"), ["bomb.yaml"]),
    ("rubric-macro-recursion", _rubric_case("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"), ["bomb.yaml", "recurs"]),
    ("rubric-unsafe", _rubric_case("{{ ''.__class__.__mro__[1].__subclasses__() }}"), ["bomb.yaml", "unsafe"]),
]


@pytest.mark.parametrize("case_id,build,words", READERS, ids=[c[0] for c in READERS])
def test_hostile_files_are_refused_fast(work, case_id, build, words):
    root, before = work
    _refused(run_cli(*build(root), timeout=60), *words)
    assert fingerprint(root) == before


def test_ascii_only_terminal_and_dash_text(work):
    proc = run_cli("advice", "parse", "-3 dB on the bass", env={"PYTHONIOENCODING": "ascii", "LANG": "C"})
    assert proc.returncode == 0 and '"stem": "bass"' in proc.stdout
    proc = run_cli("stats", "power", "--rate", "0.7", env={"PYTHONIOENCODING": "ascii", "LANG": "C"})
    assert proc.returncode == 0, proc.stderr


def _file(w: Path, name: str, text: str) -> Path:
    p = _inputs(w) / name
    p.write_text(text)
    return p


def _stem_outside(w: Path) -> list:
    import json

    ts = _inputs(w) / "ts"
    shutil.copytree(w / "ts", ts)
    m = json.loads((ts / "manifest.json").read_text())
    m["songs"][0]["stems"]["bass"] = "../../../../etc/hostname"
    (ts / "manifest.json").write_text(json.dumps(m))
    return ["data", "describe", ts]


PREFS_HEADER = "participant_id,item_id,system_a,system_b,choice\n"
CONFIGS = [
    ("layout-without-reference", lambda w: ["generate", "--testset", w / "ts", "--out", w / "r2", "--systems", _file(
        w, "s.yaml", "systems:\n  - {name: a, kind: analytic, conditions: [mix, stems], layout: difference}\n")],
     ["s.yaml", "stems+reference"]),
    ("contrast-on-a-condition-never-run", lambda w: ["run", _file(w, "e.yaml", yaml.safe_dump({
        "name": "x", "systems": [{"name": "a", "kind": "analytic", "conditions": ["mix", "stems"]}], "judges": [],
        "testset": {"path": str(w / "ts")}, "study": {"enabled": False},
        "analysis": {"contrasts": [{"system": "a", "condition": "stems+reference", "versus": "mix"}]}})), "--out", w / "r3"],
     ["never runs under stems+reference"]),
    ("judge-protocol-differs-from-rubric", lambda w: ["judge", "--run", w / "run", "--judge", _file(
        w, "j.yaml", "name: j\nprotocol: pairwise\nrubrics: [specificity]\nbackend: {name: openai_compat, model: m}\n")],
     ["j.yaml", "absolute", "pairwise"]),
    ("stem-path-outside-the-testset", _stem_outside, ["points outside the test set"]),
    ("study-store-url-not-a-url", lambda w: ["study", "create", "--run", w / "run", "--out", w / "s3", "--store-url", "notaurl"],
     ["--store-url", "postgresql://"]),
    ("study-duplicate-arm", lambda w: ["study", "create", "--run", w / "run", "--out", w / "s3", "--systems",
                                       "analytic/mix,analytic/mix"], ["named twice"]),
    ("study-one-arm", lambda w: ["study", "create", "--run", w / "run", "--out", w / "s3", "--systems", "analytic/mix"],
     ["one arm", "at least two"]),
    ("report-answers-of-another-run", lambda w: ["report", w / "run", "--out", w / "rep", "--answers", _file(
        w, "a.csv", PREFS_HEADER + "p1,x1,zeta/mix,omega/mix,a\n")], ["--answers", "zeta/mix", "another run"]),
    ("prefs-empty-file", lambda w: ["stats", "preferences", _file(w, "p.csv", ""), "--out", w / "o"], ["p.csv", "empty file"]),
    ("prefs-header-only", lambda w: ["stats", "preferences", _file(w, "p.csv", PREFS_HEADER), "--out", w / "o"],
     ["p.csv", "no rows"]),
    ("prefs-blank-system", lambda w: ["stats", "preferences", _file(w, "p.csv", PREFS_HEADER + "p1,i1,,b,a\n"), "--out", w / "o"],
     ["p.csv", "system_a"]),
    ("scores-non-numeric", lambda w: ["stats", "scores", _file(w, "s.csv", "item_id,system,score\ni,a,good\n"), "--out", w / "o"],
     ["s.csv", "'good'"]),
    ("scores-infinite", lambda w: ["stats", "scores", _file(w, "s.csv", "item_id,system,score\ni,a,inf\n"), "--out", w / "o"],
     ["s.csv", "finite"]),
    ("scores-duplicate-rows", lambda w: ["stats", "scores", _file(w, "s.csv", "item_id,system,score\ni,a,1\ni,a,2\n"),
                                         "--out", w / "o"], ["s.csv", "more than one score"]),
    ("power-tiny-effect", lambda w: ["stats", "power", "--rate", "0.5001"], ["0.5001", "--rate 0.6"]),
    ("describe-unknown-figure-type", lambda w: ["data", "describe", w / "ts", "--figure", w / "x.xyz"], ["--figure", ".png"]),
    ("synth-two-billion-songs", lambda w: ["data", "synth", "--out", w / "big", "--songs", "2000000000"], ["--songs", "10000"]),
    ("synth-negative-seed", lambda w: ["data", "synth", "--out", w / "big", "--seed", "-1"], ["--seed"]),
    ("study-json-corrupt", lambda w: (_file(w, "x", ""), (w / "study" / "study.json").write_text('{"study_id": '),
                                      ["study", "export", w / "study", "--out", _inputs(w) / "a.csv"])[2],
     ["study.json", "not valid JSON"]),
]


@pytest.mark.parametrize("case_id,build,words", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_refused_with_the_input_and_the_fix_named(work, case_id, build, words):
    root, before = work
    _refused(run_cli(*build(root), timeout=120), *words)
    if case_id != "study-json-corrupt":  # that case breaks a prepared file on purpose
        assert fingerprint(root) == before


def test_agreement_without_shared_items_is_refused(work):
    root, _ = work
    j = _file(root, "j.csv", PREFS_HEADER + "judge,i1,a/mix,a/stems,a\n")
    h = _file(root, "h.csv", PREFS_HEADER + "p1,i9,a/mix,a/stems,b\n")
    _refused(run_cli("stats", "agreement", j, h, "--out", root.parent / "o"), "no item in common")
    _refused(run_cli("stats", "preferences", h, "--out", root.parent / "o", "--seed", "-1"), "--seed")
