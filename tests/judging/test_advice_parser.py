import json
from pathlib import Path

import pytest

from evalkit.judging.advice_parser import parse_advice
from tests.conftest import run_cli
from tests.judging.advice_corpus import BY_STYLE, CORPUS, HELD_OUT


def test_corpus_is_large_enough_and_varied():
    assert len(CORPUS) >= 150
    assert {"terse", "chatty", "list", "table", "hedged", "listener"} <= set(BY_STYLE)


def _claims_f1(rows) -> tuple[int, int, int, float]:
    """(true positives, false positives, false negatives, F1) over (stem, direction, dB) claims."""
    tp = fp = fn = 0
    for text, want, _ in rows:
        got = {(c.stem, c.direction, c.db) for c in parse_advice(text).claims}
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    return tp, fp, fn, (2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)


def test_claims_f1_per_style_is_at_least_095(capsys):
    """The per-style report (printed with -s): micro-F1 over claims in each writing style, the held-out batch too."""
    styles = {**BY_STYLE, **{f"held-out {k}": v for k, v in HELD_OUT.items()}, "all": CORPUS}
    lines = ["| style | texts | TP | FP | FN | F1 |", "|---|---|---|---|---|---|"]
    scores = {}
    for style, rows in styles.items():
        tp, fp, fn, f1 = _claims_f1(rows)
        scores[style] = f1
        lines.append(f"| {style} | {len(rows)} | {tp} | {fp} | {fn} | {f1:.3f} |")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert all(f1 >= 0.95 for f1 in scores.values()), scores


@pytest.mark.parametrize("text,claims,leave", CORPUS, ids=[c[0][:40] for c in CORPUS])
def test_corpus(text, claims, leave):
    parsed = parse_advice(text)
    got = {(c.stem, c.direction, c.db) for c in parsed.claims}
    assert got == claims
    assert set(parsed.leave) == leave


def test_specificity_counts_quantified_claims():
    assert parse_advice("Raise the bass 3 dB, lower the vocals a bit, cut the drums 2 dB.").specificity == 2


def test_cli_prints_the_design_contract():
    out = run_cli("advice", "parse", "Raise the bass by 3 dB and slightly lower the vocals.", check=True)
    doc = json.loads(out.stdout)
    assert doc["claims"] == [{"stem": "bass", "direction": "up", "db": 3.0}, {"stem": "vocals", "direction": "down", "db": None}]


REAL_COMMENTS = Path(__file__).with_name("data") / "mixologydb_comments.jsonl"


def _direction_f1(rows) -> tuple[int, int, int, float]:
    """Micro-F1 over (stem, direction): listeners give no dB."""
    tp = fp = fn = 0
    for r in rows:
        want = {(c["stem"], c["direction"]) for c in r["claims"]}
        got = {(c.stem, c.direction) for c in parse_advice(r["text"]).claims}
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    return tp, fp, fn, (2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)


def test_real_listener_comments_reported_apart(capsys):
    """186 comments of real listeners (MixologyDB, two songs), labelled by hand: "dev" (comments 0-99) was read
    while fixing the reader, "held-out" (100-185) was labelled with it and measured once, after those fixes and
    before any fix for it. Measured then: dev 0.671 -> 0.894, held-out 0.610 -> 0.752 (tests/judging/data/README.md).
    The bounds below guard those numbers against regressions; they are not targets met by tuning on held-out."""
    rows = [json.loads(line) for line in REAL_COMMENTS.read_text().splitlines()]
    assert len(rows) == 186 and {r["batch"] for r in rows} == {"dev", "held-out"}
    scores = {}
    with capsys.disabled():
        print("\n| real comments | texts | TP | FP | FN | F1 |\n|---|---|---|---|---|---|")
        for batch in ("dev", "held-out"):
            tp, fp, fn, f1 = _direction_f1([r for r in rows if r["batch"] == batch])
            scores[batch] = f1
            print(f"| {batch} | {sum(r['batch'] == batch for r in rows)} | {tp} | {fp} | {fn} | {f1:.3f} |")
    assert scores["dev"] >= 0.88 and scores["held-out"] >= 0.74, scores


ISSUE_TABLE = [  # issue #20: how a new user's advice must read
    ("Drums -5 dB, other -2 dB", {("drums", "down", 5.0), ("other", "down", 2.0)}, []),
    ("Vocals +2, drums -2, bass +2, other -2 dB", {("vocals", "up", 2.0), ("drums", "down", 2.0), ("bass", "up", 2.0),
                                                   ("other", "down", 2.0)}, []),
    ("Lower the drums by 3 dB, or raise the drums by 3 dB.", set(), [("drums", "contradictory")]),
    ("The vocals could go up or down 4 dB", set(), [("vocals", "hedged")]),
    ("Cut 3 dB at 250 Hz on the bass.", set(), []),
    ("Pan the guitars 30% left.", set(), []),
    ("The kick is too loud but the snare is too quiet.", set(), [("drums", "ambiguous")]),
    ("Lower the drums by 0.1 dB.", {("drums", "down", 0.1)}, []),  # read as written; the judge treats it as no move
    ("drums sound far too back", {("drums", "up", None)}, []),
    ("vocals are too forward", {("vocals", "down", None)}, []),
    ("Bass not very present", {("bass", "up", None)}, []),
    ("Bit too bass-heavy", {("bass", "down", None)}, []),
    ("The voice sounds nice but should have a higher volume", {("vocals", "up", None)}, []),
    ("cool vox ambiance. could be louder.", {("vocals", "up", None)}, []),
    ("I would not raise the vocals; instead lower the drums 2 dB.", {("drums", "down", 2.0)}, []),
    ("Raise the vocals 3 dB. Actually, no, leave the vocals.", set(), []),
    ("Raise the vocals 3 dB. Actually, lower them 1 dB.", {("vocals", "down", 1.0)}, []),
    ("Send more reverb to the vocals and compress the bass.", set(), []),
    ("Add a high shelf at 10 kHz to the vocals, then raise the bass 2 dB.", {("bass", "up", 2.0)}, []),
    ("The reverb on the vocals is too loud.", set(), []),
]


@pytest.mark.parametrize("text,claims,flags", ISSUE_TABLE, ids=[t[:40] for t, _, _ in ISSUE_TABLE])
def test_reader_cannot_be_gamed(text, claims, flags):
    parsed = parse_advice(text)
    assert {(c.stem, c.direction, c.db) for c in parsed.claims} == claims
    assert [(f.stem, f.reason) for f in parsed.flagged] == flags


def test_a_level_shift_has_no_specificity_and_flags_are_in_the_json():
    assert parse_advice("Increase the gain of each stem by 10 dB.").specificity == 0
    assert parse_advice("Drums +3 dB, bass +3 dB, other +3 dB, vocals +5 dB.").specificity == 4  # not one shift
    out = run_cli("advice", "parse", "The vocals could go up or down 4 dB; pan the guitars left.", check=True)
    doc = json.loads(out.stdout)
    assert doc["claims"] == [] and doc["flagged"][0]["reason"] == "hedged" and doc["non_level"] == ["other"]
