import json

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
