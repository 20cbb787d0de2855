"""Bad input at every CLI entry point: exit code 2, one line naming the input and the fix, no
traceback, and nothing already saved lost. Each case builds its broken input, runs the real
`evalkit` entry point, and checks the one line it prints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from evalkit.generate import generate
from evalkit.store import Store
from tests.conftest import ROOT, run_cli
from tests.test_generate import ANALYTIC

SYSTEMS = ROOT / "experiments" / "systems.yaml"


@pytest.fixture(scope="module")
def base(small_testset, tmp_path_factory):
    """A good test set, run and study that cases copy and break."""
    from evalkit.study.design import create_study

    root = tmp_path_factory.mktemp("bad-inputs")
    run = root / "run"
    generate(small_testset, ANALYTIC, run, show_progress=False)
    create_study(run, root / "study", ratings=1, trials_per_participant=4, headphone_check=False, show_progress=False)
    return {"testset": small_testset, "run": run, "study": root / "study"}


def _copy_testset(base, tmp):
    dst = tmp / "ts"
    shutil.copytree(base["testset"], dst)
    return dst


def _stem_path(ts: Path, stem: str = "bass") -> Path:
    return ts / json.loads((ts / "manifest.json").read_text())["songs"][0]["stems"][stem]


def _write(tmp, name, text, mode="w"):
    p = tmp / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def _prefs(tmp, rows=None, **cols):
    df = pd.DataFrame(rows or [{"participant_id": "p", "item_id": "i", "system_a": "x", "system_b": "y", "choice": "a"}])
    for k, v in cols.items():
        df[k] = v
    p = tmp / "prefs.csv"
    df.to_csv(p, index=False)
    return p


# Each case: (id, builder(base, tmp) -> argv, words the one-line message must contain)
def _rehash(ts):
    """Write the manifest's checksums for the files as they are now: the case then reaches the check behind
    the checksum (a changed file with the old checksum is its own case, 'audio-changed')."""
    import hashlib
    import json

    manifest = json.loads((ts / "manifest.json").read_text())
    manifest["checksums"] = {rel: hashlib.sha256((ts / rel).read_bytes()).hexdigest() if (ts / rel).exists() else h
                             for rel, h in manifest["checksums"].items()}
    (ts / "manifest.json").write_text(json.dumps(manifest))


def _broken_audio(kind, rehash=True):
    def build(base, tmp):
        ts = _copy_testset(base, tmp)
        target = _stem_path(ts)
        if kind == "corrupt":
            target.write_bytes(b"RIFF....WAVEfmt garbage")
        elif kind == "empty":
            sf.write(target, np.zeros((0, 2)), 22050)
        elif kind == "nan":
            sf.write(target, np.full((2000, 2), np.nan), 22050, subtype="FLOAT")
        elif kind == "rate":
            sf.write(target, np.zeros((2000, 2)) + 0.1, 48000)
        elif kind == "missing":
            target.unlink()
        elif kind == "channels":
            sf.write(target, np.zeros((2000, 3)) + 0.1, 22050)
        if rehash:
            _rehash(ts)
        return ["data", "describe", ts]
    return build


def _manifest(edit):
    def build(base, tmp):
        ts = _copy_testset(base, tmp)
        edit(ts)
        return ["data", "describe", ts]
    return build


def _items_line(line):
    def edit(ts):
        (ts / "items.jsonl").write_text(line + "\n")
        _rehash(ts)
    return _manifest(edit)


def _systems_yaml(doc, text=None):
    def build(base, tmp):
        p = _write(tmp, "systems.yaml", text if text is not None else yaml.safe_dump(doc))
        return ["generate", "--testset", base["testset"], "--systems", p, "--out", tmp / "run"]
    return build


def _judge_yaml(doc):
    def build(base, tmp):
        p = _write(tmp, "judge.yaml", yaml.safe_dump(doc))
        return ["judge", "--run", base["run"], "--judge", p]
    return build


def _rubric_unknown_field(base, tmp):
    rubric = yaml.safe_load((ROOT / "rubrics" / "specificity.yaml").read_text())
    rubric["colour"] = "red"
    r = _write(tmp, "bad_rubric.yaml", yaml.safe_dump(rubric))
    j = _write(tmp, "judge.yaml", yaml.safe_dump({"name": "j", "protocol": "absolute", "rubrics": [str(r)],
                                                   "backend": {"name": "openai_compat", "model": "m", "base_url": "http://127.0.0.1:9/v1"}}))
    return ["judge", "--run", base["run"], "--judge", j]


def _precomputed(text_or_bytes, name="advice.csv"):
    def build(base, tmp):
        p = _write(tmp, name, text_or_bytes, "wb" if isinstance(text_or_bytes, bytes) else "w")
        s = _write(tmp, "systems.yaml", yaml.safe_dump({"systems": [{"name": "pre", "kind": "precomputed", "condition": "mix", "path": str(p)}]}))
        return ["generate", "--testset", base["testset"], "--systems", s, "--out", tmp / "run"]
    return build


def _mixparams_missing_columns(base, tmp):
    p = tmp / "mp.parquet"
    pd.DataFrame({"song_name": ["s"], "track_name": ["t"]}).to_parquet(p)
    return ["data", "import", "mixparams", p, "--out", tmp / "out"]


def _musdb_missing_stem(base, tmp):
    d = tmp / "musdb" / "train" / "A - B"
    d.mkdir(parents=True)
    shutil.copy(_stem_path(base["testset"], "drums"), d / "drums.wav")
    return ["data", "import", "musdb", tmp / "musdb", "--out", tmp / "out"]


def _gains_csv_columns(base, tmp):
    d = tmp / "musdb" / "test" / "A - B"
    d.mkdir(parents=True)
    for s in ("mixture", "drums", "bass", "other", "vocals"):
        shutil.copy(_stem_path(base["testset"], "drums"), d / f"{s}.wav")
    g = _write(tmp, "gains.csv", "track,instrument,gain\nA - B,bass,3\n")
    return ["data", "import", "musdb", tmp / "musdb", "--out", tmp / "out", "--gains", g]


def _busy_port(base, tmp):
    """A port some other server already listens on (kept open for the test's lifetime)."""
    import socket

    sock = socket.create_server(("127.0.0.1", 0))
    _KEEP.append(sock)
    return ["study", "serve", base["study"], "--port", str(sock.getsockname()[1])]


_KEEP: list = []


def _run_config(doc):
    def build(base, tmp):
        return ["run", _write(tmp, "exp.yaml", yaml.safe_dump(doc)), "--out", tmp / "out"]
    return build


CASES = [
    ("synth-zero-songs", lambda b, t: ["data", "synth", "--out", t / "x", "--songs", "0"], ["--songs", "greater than or equal to 1"]),
    ("synth-too-short", lambda b, t: ["data", "synth", "--out", t / "x", "--seconds", "0.5"], ["--seconds"]),
    ("synth-bad-renderer", lambda b, t: ["data", "synth", "--out", t / "x", "--renderer", "piano"], ["--renderer", "builtin"]),
    ("synth-out-under-a-file", lambda b, t: ["data", "synth", "--out", _write(t, "f", "x") / "sub"], ["cannot create"]),
    ("audio-changed", _broken_audio("corrupt", rehash=False), ["bass.wav", "changed since the test set was built"]),
    ("audio-corrupt", _broken_audio("corrupt"), ["bass.wav", "unreadable"]),
    ("audio-empty", _broken_audio("empty"), ["bass.wav", "no samples"]),
    ("audio-nan", _broken_audio("nan"), ["bass.wav", "NaN"]),
    ("audio-wrong-rate", _broken_audio("rate"), ["bass.wav", "48000", "22050"]),
    ("audio-missing-stem", _broken_audio("missing"), ["bass.wav", "not found"]),
    ("audio-three-channels", _broken_audio("channels"), ["bass", "channels"]),
    ("testset-missing", lambda b, t: ["data", "describe", t / "nowhere"], ["manifest.json", "evalkit data synth"]),
    ("manifest-not-json", _manifest(lambda ts: (ts / "manifest.json").write_text("{not json")), ["manifest.json", "not valid JSON"]),
    ("items-unknown-field", _items_line('{"id": "x", "song_id": "s", "split": "test", "offsets_db": {}, "correction_db": {}, "colour": 1}'),
     ["items.jsonl:1", "colour"]),
    ("items-wrong-type", _items_line('{"id": "x", "song_id": "s", "split": "test", "offsets_db": {"bass": "loud"}, "correction_db": {}}'),
     ["items.jsonl:1", "offsets_db.bass"]),
    ("items-unknown-song", _items_line('{"id": "x", "song_id": "nope", "split": "test", "offsets_db": {}, "correction_db": {}}'),
     ["items.jsonl:1", "nope"]),
    ("systems-unknown-split", lambda b, t: ["generate", "--testset", b["testset"], "--systems", SYSTEMS, "--out", t / "r", "--split", "tset"],
     ["--split", "'tset'", "test"]),
    ("sft-bad-split", lambda b, t: ["data", "export-sft", b["testset"], "--split", "banana", "--out", t / "x.jsonl"], ["--split", "train"]),
    ("import-unknown-source", lambda b, t: ["data", "import", "medleydb", b["testset"], "--out", t / "o"], ["unknown source", "musdb"]),
    ("import-missing-path", lambda b, t: ["data", "import", "musdb", t / "nowhere", "--out", t / "o"], ["not found", "nothing is downloaded"]),
    ("import-musdb-missing-stem", _musdb_missing_stem, ["missing stem file", "bass.wav"]),
    ("import-gains-csv-columns", _gains_csv_columns, ["gains.csv", "missing column", "gain_db"]),
    ("import-mixparams-columns", _mixparams_missing_columns, ["mp.parquet", "missing column", "mix_name"]),
    ("import-mixeval-not-json", lambda b, t: ["data", "import", "mixeval", _write(t, "m.json", "[1, 2"), "--out", t / "o"],
     ["m.json", "MixologyDB"]),
    ("systems-typo", _systems_yaml({"systems": [{"name": "o", "kind": "oracle", "condition": "mix", "colour": "red"}]}), ["systems.0.colour"]),
    ("systems-wrong-type", _systems_yaml({"systems": [{"name": "o", "kind": "oracle", "condition": "mix", "max_tokens": "lots"}]}),
     ["max_tokens", "integer"]),
    ("systems-unknown-condition", _systems_yaml({"systems": [{"name": "o", "kind": "oracle", "condition": "sideways"}]}), ["condition"]),
    ("systems-not-yaml", _systems_yaml(None, text="systems: [\n  - {name: x"), ["systems.yaml", "not valid YAML"]),
    ("systems-llm-no-backend", _systems_yaml({"systems": [{"name": "l", "kind": "llm", "condition": "mix"}]}), ["no backend"]),
    ("systems-unknown-backend", _systems_yaml({"systems": [{"name": "l", "kind": "llm", "condition": "mix", "backend": {"name": "skynet"}}]}),
     ["unknown backend", "openai_compat"]),
    ("precomputed-columns", _precomputed("item,advice\nx,y\n"), ["advice.csv", "missing column", "item_id"]),
    ("precomputed-not-utf8", _precomputed("item_id,system,text\nx,pre,caf\xe9 tr\xe8s\n".encode("latin-1")), ["advice.csv", "UTF-8"]),
    ("precomputed-enormous-text", _precomputed("item_id,system,text\nx,pre," + "raise the bass " * 2000 + "\n"), ["advice.csv", "20000"]),
    ("judge-no-run", lambda b, t: ["judge", "--run", t / "empty", "--judge", "judges/reference.yaml"], ["no run store", "evalkit generate"]),
    ("judge-preset-typo", _judge_yaml({"name": "j", "protocol": "reference", "tempreature": 0}), ["tempreature"]),
    ("judge-preset-wrong-type", _judge_yaml({"name": "j", "protocol": "pairwise", "samples": "many",
                                              "backend": {"name": "openai_compat", "model": "m"}}), ["samples"]),
    ("judge-no-backend", _judge_yaml({"name": "j", "protocol": "pairwise", "rubrics": ["pairwise"]}), ["needs a backend"]),
    ("judge-unknown-rubric", _judge_yaml({"name": "j", "protocol": "pairwise", "rubrics": ["charisma"],
                                          "backend": {"name": "openai_compat", "model": "m"}}), ["charisma.yaml", "not found"]),
    ("rubric-unknown-field", _rubric_unknown_field, ["bad_rubric.yaml", "colour"]),
    ("judge-bad-pairs", lambda b, t: ["judge", "--run", b["run"], "--judge", "judges/reference.yaml", "--pairs", "some"], ["--pairs", "vs:SYSTEM"]),
    ("judge-pairs-unknown-system", lambda b, t: ["judge", "--run", b["run"], "--judge", "judges/reference.yaml", "--pairs", "vs:nobody"],
     ["vs:nobody", "no advice"]),
    ("advice-enormous", lambda b, t: ["advice", "parse", "x" * 30000], ["30000 characters"]),
    ("prefs-missing-file", lambda b, t: ["stats", "preferences", t / "nope.csv", "--out", t / "o"], ["nope.csv", "not found"]),
    ("prefs-missing-columns", lambda b, t: ["stats", "preferences", _write(t, "p.csv", "participant,item,winner\n1,2,a\n"), "--out", t / "o"],
     ["p.csv", "missing column", "participant_id"]),
    ("prefs-unknown-choice", lambda b, t: ["stats", "preferences", _prefs(t, choice="maybe"), "--out", t / "o"], ["unknown choice", "maybe"]),
    ("prefs-not-utf8", lambda b, t: ["stats", "preferences", _write(t, "p.csv", "participant_id,item_id,system_a,system_b,choice\n\xff\xfe,i,x,y,a\n".encode("latin-1"), "wb"),
                                     "--out", t / "o"], ["p.csv", "UTF-8"]),
    ("prefs-bad-ties", lambda b, t: ["stats", "preferences", _prefs(t), "--out", t / "o", "--ties", "coin"], ["--ties", "davidson"]),
    ("prefs-self-comparison", lambda b, t: ["stats", "preferences", _prefs(t, system_b="x"), "--out", t / "o"], ["itself"]),
    ("scores-missing-column", lambda b, t: ["stats", "scores", _write(t, "s.csv", "item_id,system\n1,a\n"), "--out", t / "o"],
     ["s.csv", "score"]),
    ("power-pilot-without-system", lambda b, t: ["stats", "power", "--pilot", _prefs(t)], ["--pilot needs --system"]),
    ("power-rate-half", lambda b, t: ["stats", "power", "--rate", "0.5"], ["preference rate"]),
    ("study-create-unknown-system", lambda b, t: ["study", "create", "--run", b["run"], "--out", t / "s", "--systems", "oracle,hal9000"],
     ["hal9000", "not in the run"]),
    ("study-create-no-run", lambda b, t: ["study", "create", "--run", t / "nowhere", "--out", t / "s"], ["no run store"]),
    ("study-export-not-a-study", lambda b, t: ["study", "export", t, "--out", t / "p.csv"], ["study.json", "evalkit study create"]),
    ("study-simulate-not-a-study", lambda b, t: ["study", "simulate", t], ["study.json"]),
    ("report-bad-answers", lambda b, t: ["report", b["run"], "--out", t / "r", "--answers", _write(t, "a.csv", "who,what\n1,2\n")],
     ["a.csv", "missing column"]),
    ("run-config-typo", _run_config({"name": "x", "systems": str(SYSTEMS), "judgez": []}), ["judgez"]),
    ("run-config-wrong-type", _run_config({"name": "x", "systems": str(SYSTEMS), "testset": {"synth": {"songs": "eight"}}}),
     ["testset.synth.songs"]),
    ("run-config-missing", lambda b, t: ["run", t / "none.yaml"], ["none.yaml", "not found"]),
    # usage: the command line itself is wrong (click/typer errors), still exit 2 and one line
    ("usage-unknown-option", lambda b, t: ["data", "describe", b["testset"], "--colour", "red"], ["--colour", "evalkit data describe --help"]),
    ("usage-unknown-command", lambda b, t: ["data", "sinth"], ["sinth", "evalkit data --help"]),
    ("usage-missing-option", lambda b, t: ["data", "import", "musdb", t], ["--out", "evalkit data import --help"]),
    ("usage-not-a-number", lambda b, t: ["data", "synth", "--out", t / "x", "--songs", "many"], ["--songs", "integer"]),
    ("usage-out-of-range", lambda b, t: ["data", "import", "musdb", t, "--out", t / "o", "--problems", "0"], ["--problems", "1"]),
    ("import-excerpt-negative", lambda b, t: ["data", "import", "musdb", t, "--out", t / "o", "--excerpt", "-2"], ["--excerpt", "seconds"]),
    ("import-excerpt-start-alone", lambda b, t: ["data", "import", "musdb", t, "--out", t / "o", "--excerpt-start", "3"], ["--excerpt-start", "--excerpt SECONDS"]),
    ("import-mixeval-invented-schema", lambda b, t: ["data", "import", "mixeval", _write(t, "m.json", '{"songs": []}'), "--out", t / "o"],
     ["m.json", "'mixes'", "final-track-data.json"]),
    ("import-stem-map-unknown-stem", lambda b, t: ["data", "import", "mixeval", _write(t, "m.json", '{"mixes": []}'), "--out", t / "o",
                                                   "--stem-map", _write(t, "map.csv", "track,stem\nShaker,percussion\n")], ["map.csv", "unknown stem"]),
    ("usage-power-alpha-out-of-range", lambda b, t: ["stats", "power", "--alpha", "2"], ["--alpha", "0.5"]),
    ("usage-report-negative-bootstrap", lambda b, t: ["report", b["run"], "--out", t / "r", "--bootstrap", "-5"], ["--bootstrap", "0"]),
    ("usage-simulate-share-over-one", lambda b, t: ["study", "simulate", b["study"], "--inattentive", "2"], ["--inattentive", "1"]),
    ("usage-synth-sample-rate", lambda b, t: ["data", "synth", "--out", t / "x", "--sample-rate", "100"], ["--sample-rate", "8000"]),
    ("study-release-unknown-participant", lambda b, t: ["study", "release", b["study"], "nobody-42"], ["nobody-42", "study export"]),
    ("report-spread-without-source", lambda b, t: ["report", b["run"], "--out", t / "r", "--human-spread-db", "3.4"],
     ["--human-spread-source", "source"]),
    # outputs where they cannot go
    ("output-demo-out-is-a-file", lambda b, t: ["demo", "--out", _write(t, "taken", "x"), "--quiet"], ["taken"]),
    ("output-stats-out-is-a-file", lambda b, t: ["stats", "preferences", _prefs(t), "--out", _write(t, "taken", "x")], ["taken", "--out"]),
    ("output-report-out-is-a-file", lambda b, t: ["report", b["run"], "--out", _write(t, "taken", "x")], ["taken", "--out"]),
    ("output-export-into-a-file", lambda b, t: ["study", "export", b["study"], "--out", _write(t, "taken", "x") / "p.csv"], ["taken"]),
    # ports
    ("study-serve-port-out-of-range", lambda b, t: ["study", "serve", b["study"], "--port", "70000"], ["--port", "65535"]),
    ("study-serve-port-busy", _busy_port, ["--port", "cannot listen"]),
]


def test_there_are_at_least_thirty_cases_over_every_command():
    assert len(CASES) >= 30
    families = {c[0].split("-")[0] for c in CASES}
    # data synth/describe/export-sft/import, generate, judge (+ rubrics), advice, stats, study, report, run
    assert {"synth", "audio", "sft", "import", "systems", "precomputed", "judge", "rubric", "advice", "prefs", "scores",
            "power", "study", "report", "run", "usage", "output"} <= families


@pytest.mark.parametrize("case_id,build,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input(base, tmp_path, case_id, build, words):
    store = Store(base["run"])
    before = (store.count("advice"), store.count("judgments"), store.count("llm_calls"))
    store.dispose()
    proc = run_cli(*build(base, tmp_path))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr[-800:]}"
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], f"{w!r} not in: {lines[0]}"
    store = Store(base["run"])
    assert (store.count("advice"), store.count("judgments"), store.count("llm_calls")) == before  # nothing saved is lost
