"""Personal data is masked before a customer message becomes a training example: order numbers, emails,
phones, cards and Chinese ID numbers, in English and Chinese, full-width digits included; prices, dates,
sizes and quantities stay as they are."""

from __future__ import annotations

import pytest

from common.patterns import find_entities, normalise_order_id
from handoff.studio.masking import (
    CARD_PHRASE,
    CARD_REDACTED,
    FAKE_CN_MOBILE,
    FAKE_EMAIL,
    FAKE_PHONE,
    ID_PHRASE,
    ID_REDACTED,
    luhn_valid,
    mask,
)

MASKED = [
    # order numbers: the written form stays, the digits become the store's example
    ("where is my order SO-28471930?", "where is my order SO-12345678?", ("order_id",)),
    ("track SO19384726", "track SO12345678", ("order_id",)),
    ("when will so 63920184 be delivered", "when will so 12345678 be delivered", ("order_id",)),
    ("can you check order #73028461 for me", "can you check order #12345678 for me", ("order_id",)),
    ("where is 48201937", "where is 12345678", ("order_id",)),
    ("my order is 48201937.", "my order is 12345678.", ("order_id",)),
    ("订单号29384756发货了吗", "订单号12345678发货了吗", ("order_id",)),
    ("帮我查下SO-48213377到哪了", "帮我查下SO-12345678到哪了", ("order_id",)),
    ("订单１２３４５６７９怎么还没到", "订单12345678怎么还没到", ("order_id",)),
    ("orders 11112222 and 33334444", "orders 12345678 and 12345678", ("order_id",)),
    # emails
    ("my email is John.Smith+shop@Gmail.com thanks", f"my email is {FAKE_EMAIL} thanks", ("email",)),
    ("我的邮箱是abc123@qq.com谢谢", f"我的邮箱是{FAKE_EMAIL}谢谢", ("email",)),
    ("邮箱：ｔｏｍ＠ｅｘａｍｐｌｅ．ｏｒｇ", f"邮箱：{FAKE_EMAIL}", ("email",)),
    ("qq邮箱12345678@qq.com", f"qq邮箱{FAKE_EMAIL}", ("email",)),  # its digits are not an order number
    # phones: mainland mobile, North American, international, national with a trunk 0
    ("手机13812345678，订单号29384756", f"手机{FAKE_CN_MOBILE}，订单号12345678", ("order_id", "phone")),
    ("手机号：１３８１２３４５６７８", f"手机号：{FAKE_CN_MOBILE}", ("phone",)),
    ("call +86 138 1234 5678 please", f"call {FAKE_CN_MOBILE} please", ("phone",)),
    ("电话138-1234-5678", f"电话{FAKE_CN_MOBILE}", ("phone",)),
    ("call me on (415) 555-2671", f"call me on {FAKE_PHONE}", ("phone",)),
    ("my number is 415.555.2671.", f"my number is {FAKE_PHONE}.", ("phone",)),
    ("reach me at +1 415 555 2671", f"reach me at {FAKE_PHONE}", ("phone",)),
    ("text 4155552671", f"text {FAKE_PHONE}", ("phone",)),
    ("1-800-555-0199 is their line", f"{FAKE_PHONE} is their line", ("phone",)),
    ("my UK number +44 20 7946 0958", f"my UK number {FAKE_PHONE}", ("phone",)),
    ("call 0044 20 7946 0958", f"call {FAKE_PHONE}", ("phone",)),
    ("Germany: +49 (30) 1234567", f"Germany: {FAKE_PHONE}", ("phone",)),
    ("ring 020 7946 0958 after six", f"ring {FAKE_PHONE} after six", ("phone",)),
    ("座机010-12345678", f"座机{FAKE_PHONE}", ("phone",)),
    ("公司电话0755-12345678转分机", f"公司电话{FAKE_PHONE}转分机", ("phone",)),
    # cards: Luhn-valid, grouped or not; after words naming the card the sentence keeps its shape
    (
        "my card 4111 1111 1111 1111 was charged twice",
        f"my card {CARD_REDACTED} was charged twice",
        ("card",),
    ),
    ("card number: 5500-0000-0000-0004", f"card number: {CARD_REDACTED}", ("card",)),
    ("you charged 4111111111111111 twice", f"you charged {CARD_PHRASE['en']} twice", ("card",)),
    ("amex 3782 822463 10005 declined", f"amex {CARD_PHRASE['en']} declined", ("card",)),
    ("卡号6222021234567890123被扣了两次", f"卡号{CARD_REDACTED}被扣了两次", ("card",)),  # UnionPay
    ("用４１１１１１１１１１１１１１１１付的款", f"用{CARD_PHRASE['zh']}付的款", ("card",)),
    # Chinese resident ID numbers (checksum)
    ("身份证号110101199003074514", f"身份证号{ID_REDACTED}", ("id_number",)),
    ("我的是11010119900307109X", f"我的是{ID_PHRASE['zh']}", ("id_number",)),
    # several kinds at once
    (
        "order SO-55102987, email a.b@c.io, phone 415-555-2671",
        f"order SO-12345678, email {FAKE_EMAIL}, phone {FAKE_PHONE}",
        ("email", "order_id", "phone"),
    ),
    (
        "订单55102987没到，联系我13912345678或者li@163.com",
        f"订单12345678没到，联系我{FAKE_CN_MOBILE}或者{FAKE_EMAIL}",
        ("email", "order_id", "phone"),
    ),
]

UNCHANGED = [
    # prices and amounts
    "it cost $129.99",
    "I paid ¥1299 for it",
    "退我1299元",
    "收了我45块钱运费",
    "refund 1,299.00 dollars",
    "$12345678 is a lot",
    "i paid 12345678元",
    "15% off",
    # dates and times
    "ordered on 2024-05-01 at 10:30",
    "arrived 12/25/2024",
    "delivered 05.01.2024",
    "5月20日买的，30天内能退吗",
    "2024年5月1日下的单",
    "between 9:00-17:30",
    # sizes, quantities, models
    "size 42, EU 38, US 10.5",
    "2 pairs, 3件, x2",
    "iPhone 15 Pro Max 256GB",
    "120x60x75cm desk",
    "RTX 4090 graphics card",
    "model A2894",
    "3-5 business days",
    "30 day returns",
    # tracking numbers with letters, short numbers, order-like but too long or short
    "tracking 1Z999AA10123456784",
    "ref 1234567",
    "code 123456789",
    "4111 1111 1111 1112 is not a valid card",
    # already fake values
    f"{FAKE_EMAIL} {FAKE_PHONE} {FAKE_CN_MOBILE} SO-12345678 {CARD_PHRASE['en']} {CARD_REDACTED}",
    "",
    "hello",
    "你好，我想退货",
]


@pytest.mark.parametrize(("text", "expected", "kinds"), MASKED)
def test_personal_data_is_replaced_with_fake_values_of_its_kind(
    text: str, expected: str, kinds: tuple[str, ...]
) -> None:
    masked = mask(text)
    assert masked.text == expected
    assert masked.kinds == kinds


@pytest.mark.parametrize("text", UNCHANGED)
def test_prices_dates_sizes_and_quantities_are_kept(text: str) -> None:
    assert mask(text) == (text, ())


@pytest.mark.parametrize("text", [c[0] for c in MASKED] + UNCHANGED)
def test_masking_twice_changes_nothing_more(text: str) -> None:
    once = mask(text)
    assert mask(once.text) == (once.text, ())


def test_the_fake_values_are_what_the_pattern_extractor_recognises() -> None:
    """So an example still teaches "a message with an order number / email / phone"."""
    masked = mask("order #73028461, mail jo@home.net, call 13812345678 or (415) 555-2671").text
    found = {(m.entity, m.value) for m in find_entities(masked)}
    assert found == {
        ("order_id", "SO-12345678"),
        ("email", FAKE_EMAIL),
        ("phone", FAKE_CN_MOBILE),
        ("phone", "2025550100"),
    }
    assert normalise_order_id(mask("so 70815243 还在路上吗").text) == "SO-12345678"


def test_no_original_digit_run_survives() -> None:
    text = "SO-28471930 / 13812345678 / 4111 1111 1111 1111 / 110101199003074514 / a@b.cn"
    masked = mask(text).text
    for secret in ("28471930", "13812345678", "4111", "110101199003074514", "a@b.cn"):
        assert secret not in masked


def test_the_card_phrase_follows_the_language_of_the_message() -> None:
    assert mask("付款用的4111111111111111").text == f"付款用的{CARD_PHRASE['zh']}"
    assert mask("paid with 4111111111111111").text == f"paid with {CARD_PHRASE['en']}"
    assert mask("ID 110101199003074514 please").text == f"ID {ID_REDACTED} please"
    assert mask("here: 110101199003074514").text == f"here: {ID_PHRASE['en']}"


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_a_long_message_is_masked_quickly() -> None:
    """No pattern backtracks badly on long digit runs or separators."""
    import time

    text = ("1 2 3 4 5 6 7 8 9 0 " * 200) + ("9" * 3000) + (" -" * 500)
    started = time.perf_counter()
    mask(text)
    assert time.perf_counter() - started < 1.0
