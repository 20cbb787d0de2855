import pytest
from pydantic import ValidationError

from evalkit.records import Advice, Condition, Item, Judgment, content_hash


def test_content_hash_is_order_independent_and_sensitive():
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_extra_fields_are_errors():
    with pytest.raises(ValidationError, match="extra"):
        Item(id="x", song_id="s", split="test", offsets_db={}, correction_db={}, colour="red")


def test_advice_id_depends_on_item_system_condition_only():
    a = Advice(item_id="i", system="oracle", condition=Condition.mix, text="one")
    b = Advice(item_id="i", system="oracle", condition="mix", text="two")
    c = Advice(item_id="i", system="oracle", condition="stems", text="one")
    assert a.id == b.id != c.id


def test_judgment_key_changes_with_rubric_version_and_order():
    base = dict(advice_id="a", judge="j", rubric="specificity", protocol="pairwise", advice_id_b="b")
    k1 = Judgment(**base, rubric_hash="h1", order="ab").key
    assert k1 != Judgment(**base, rubric_hash="h2", order="ab").key
    assert k1 != Judgment(**base, rubric_hash="h1", order="ba").key


def test_judgment_metrics_are_read_typed_per_judge_kind():
    """Issue #26: a judgment's metrics were a grab-bag dict; each judge kind now writes and reads one model, so a
    misspelt metric is an error where it is written, not a None where it is read."""
    import pytest
    from pydantic import ValidationError

    from evalkit.judging.reference import judge_reference, reference_pair_judgment
    from evalkit.records import Advice, Condition, Item, LLMJudgeMetrics, ReferenceMetrics

    item = Item(id="s1-p0", song_id="s1", split="test", offsets_db={"bass": -6.0, "drums": 0.0, "other": 0.0, "vocals": 0.0},
                correction_db={"bass": 6.0, "drums": 0.0, "other": 0.0, "vocals": 0.0})
    a = Advice(item_id=item.id, system="x", condition=Condition.mix, text="Raise the bass by 6 dB.", config_hash="h")
    b = Advice(item_id=item.id, system="y", condition=Condition.mix, text="Lower the vocals by 3 dB.", config_hash="h")
    ja, jb = judge_reference(a, item), judge_reference(b, item)
    m = ja.reference_metrics
    assert isinstance(m, ReferenceMetrics) and m.direction_accuracy == 1.0 and m.gains_db["bass"] == 6.0
    # relative frame by hand: truth bass +6 (others 0) minus its median 0; advice b: vocals −3, median 0 → no right move
    assert jb.reference_metrics.direction_accuracy == 0.0
    assert reference_pair_judgment(ja, jb).pair_metrics.margin_db == pytest.approx(ja.score - jb.score)
    with pytest.raises(ValidationError):
        ReferenceMetrics(**{**m.model_dump(), "balance_improvment_db": 1.0})
    assert LLMJudgeMetrics.model_validate({"temperature": 0.0, "shown_verdict": "A"}).shown_verdict == "A"
