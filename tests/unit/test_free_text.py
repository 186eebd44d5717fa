"""Recognising sealed text, passing it through the domain, and rendering stored parties."""

from __future__ import annotations

import base64
import json
import os

import pytest

from application.free_text import FREE_TEXT, is_sealed
from application.history import parties_from
from domain.errors import InvalidCommand
from domain.grievance import Grievance
from domain.household import Household
from domain.record import SealedText, optional_text, require_text
from domain.visit import Visit


def token(size: int) -> str:
    return "v1." + base64.urlsafe_b64encode(os.urandom(size)).decode("ascii")


def test_a_token_of_nonce_tag_and_ciphertext_is_recognised_as_sealed() -> None:
    assert is_sealed(token(28))
    assert is_sealed(token(28 + 3000))


@pytest.mark.parametrize(
    "text",
    ["楼道灯坏了", "v1.", "v1.short", "v1." + "A" * 37, "V1." + "A" * 60, "v1." + "A" * 60 + " "],
)
def test_text_a_person_typed_is_not_taken_for_a_sealed_value(text: str) -> None:
    assert not is_sealed(text)


def test_the_domain_passes_sealed_text_through_whatever_its_length() -> None:
    sealed = SealedText(token(40_000))
    assert require_text(sealed, "notes", 10) is sealed
    assert optional_text(sealed, "notes", 10) is sealed


def test_the_domain_still_checks_clear_text() -> None:
    with pytest.raises(InvalidCommand):
        require_text("x" * 11, "notes", 10)
    with pytest.raises(InvalidCommand):
        require_text("a\x00b", "notes")


def test_every_field_named_as_free_text_is_a_field_of_its_event() -> None:
    events = {
        cls.TOPIC: cls
        for aggregate in (Household, Visit, Grievance)
        for cls in vars(aggregate).values()
        if isinstance(cls, type) and hasattr(cls, "TOPIC")
    }
    for topic, fields in FREE_TEXT.items():
        assert topic in events, topic
        for name in fields:
            assert name in events[topic].__annotations__, (topic, name)


def test_parties_in_today_s_shape_render_as_they_are() -> None:
    parties = ["张三", {"name": "李四", "age": 40, "resident": True, "note": None}]
    assert parties_from(json.dumps(parties)) == parties


def test_parties_nested_deeper_than_today_s_shape_render_as_null() -> None:
    deep: list[object] = ["张三"]
    for _ in range(899):
        deep = [deep]
    text = "[" * 100_000 + "]" * 100_000
    assert parties_from(json.dumps([deep, {"name": "李四", "kin": [{"x": 1}]}])) == [
        None,
        {"name": "李四", "kin": None},
    ]
    assert parties_from(text) is None
    assert parties_from('{"name": "张三"}') is None
    assert parties_from("not json") is None
    assert parties_from(None) is None
