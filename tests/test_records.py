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
