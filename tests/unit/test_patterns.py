import pytest

from common.language import detect_language, language_after
from common.patterns import find_entities, normalise_order_id


@pytest.mark.parametrize(
    "text",
    [
        "SO-12345678",
        "so12345678",
        "SO 12345678",
        "#12345678",
        "12345678",
        "订单号12345678",
        "订单SO-12345678的物流",
        "return the jacket from SO-12345678. keeping the rest",
        "my order is 12345678.",
        "订单SO-12345678。谢谢",
    ],
)
def test_every_written_form_of_an_order_number_normalises(text: str) -> None:
    assert normalise_order_id(text) == "SO-12345678"
    assert [(m.entity, m.value) for m in find_entities(text)] == [("order_id", "SO-12345678")]


@pytest.mark.parametrize(
    "text", ["1234567", "123456789", "v1.12345678", "SO-1234", "12345678.90", "paid 12345678.5 in total"]
)
def test_numbers_of_other_lengths_are_not_order_numbers(text: str) -> None:
    assert normalise_order_id(text) is None


def test_phone_digits_are_not_read_as_an_order_number() -> None:
    found = {(m.entity, m.value) for m in find_entities("call 13812345678 about SO-87654321")}
    assert found == {("phone", "13812345678"), ("order_id", "SO-87654321")}


def test_email_and_amounts() -> None:
    found = [(m.entity, m.value) for m in find_entities("Refund $49.99 to Ann.Lee@Example.com, 退了99元")]
    assert ("email", "ann.lee@example.com") in found
    assert ("amount", "49.99") in found
    assert ("amount", "99") in found


def test_spans_point_at_the_text() -> None:
    text = "my order is so 11112222 thanks"
    (match,) = find_entities(text)
    assert text[match.start : match.end] == "so 11112222"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("where is my order", "en"),
        ("我的订单到哪了", "zh"),
        ("我的order怎么还没到", "zh"),
        ("refund 什么时候到", "zh"),
        ("can I return the 耳机 I bought last week", "en"),
        ("SO-12345678", None),  # an order number is not language
        ("my order is SO-12345678", "en"),
        ("订单SO-12345678", "zh"),
        ("12345678", None),
        ("👍", None),
    ],
)
def test_language_detection(text: str, language: str | None) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("text", "current", "after"),
    [
        ("ok thx", "zh", None),  # a short Latin reply in a Chinese conversation keeps Chinese
        ("yes pls", "zh", None),
        ("can you answer in english please", "zh", "en"),
        ("好的", "en", "zh"),
        ("ok thx", "en", None),
        ("ok thx", None, "en"),
        ("SO-12345678", "zh", None),
    ],
)
def test_the_conversation_language_after_a_message(text: str, current: str | None, after: str | None) -> None:
    assert language_after(text, current) == after
