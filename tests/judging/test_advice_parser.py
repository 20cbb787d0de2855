import json

import pytest

from evalkit.judging.advice_parser import parse_advice
from tests.conftest import run_cli
from tests.judging.advice_corpus import CORPUS


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 60


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
