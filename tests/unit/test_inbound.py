"""The rules for what customers send: text, metadata and intent payloads, with hostile input."""

from __future__ import annotations

import json

import pytest

from handoff.inbound import (
    ALWAYS_ACCEPTED,
    PAYLOADS_KEPT,
    PAYLOADS_TTL_SECONDS,
    BlankText,
    InvalidMetadata,
    InvalidText,
    assistant_metadata,
    check_message,
    clean_text,
    customer_metadata,
    normalise_text,
    offered_payloads,
    remember_payloads,
    strip_intent_prefix,
    text_for_assistant,
    trusted_metadata,
)

LONE_SURROGATE = json.loads('"hi \\ud800 there"')  # what a JSON body with "\ud800" decodes to


# -- text ---------------------------------------------------------------------------------------------


def test_a_lone_surrogate_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(InvalidText, match="lone UTF-16 surrogate"):
        normalise_text(LONE_SURROGATE)
    with pytest.raises(InvalidText, match="surrogate"):
        normalise_text(json.loads('"\\udc00"'))


def test_a_surrogate_pair_is_one_character_and_kept() -> None:
    emoji = json.loads('"thanks \\ud83d\\ude00"')  # JSON pairs decode to one code point
    assert normalise_text(emoji) == "thanks 😀"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("invoice\u202egnp.exe", "invoicegnp.exe"),  # RIGHT-TO-LEFT OVERRIDE: would read "exe.png"
        ("\u2066abc\u2069", "abc"),
        ("a\u200eb\u200fc\u061cd", "abcd"),
        ("\u202a\u202b\u202c\u202d", None),
        ("pass\u200bword", "password"),
        ("\ufeffhello\u2060", "hello"),
        ("zero\u200cwidth\u200djoiner", "zerowidthjoiner"),
        ("bell\x07 and\x1b[31m escape\x00", "bell and[31m escape"),
        ("line one\nline two\ttabbed", "line one\nline two\ttabbed"),
    ],
)
def test_bidi_zero_width_and_control_characters_are_removed(text: str, shown: str | None) -> None:
    if shown is None:
        with pytest.raises(BlankText):
            normalise_text(text)
    else:
        assert normalise_text(text) == shown


def test_zwj_inside_an_emoji_sequence_is_kept() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert normalise_text(f"my {family} order") == f"my {family} order"
    assert normalise_text("a\u200d\U0001f600") == "a\U0001f600"  # joined to a letter: only hides text


def test_text_is_composed_to_nfc() -> None:
    decomposed = "cafe\u0301"
    assert normalise_text(decomposed) == "caf\u00e9"
    assert len(normalise_text(decomposed)) == 4


@pytest.mark.parametrize(
    "text",
    ["\u200b", "\u200b\u200c\u200d\ufeff", "   \u200b  ", "\u3000", "\u3164", "\u2800\u2800", "", "\u202e"],
)
def test_a_message_with_nothing_visible_is_refused(text: str) -> None:
    with pytest.raises(BlankText, match="empty"):
        normalise_text(text)


def test_chinese_and_punctuation_pass_unchanged() -> None:
    assert normalise_text("我的订单SO-10001021到哪了？") == "我的订单SO-10001021到哪了？"


def test_check_message_names_the_field_and_the_limit() -> None:
    assert check_message("  hello ", max_chars=10) == "  hello "
    with pytest.raises(InvalidText, match="1-5 characters") as too_long:
        check_message("x" * 6, max_chars=5)
    assert too_long.value.field == "message"
    with pytest.raises(InvalidText) as not_text:
        check_message(5, max_chars=5, field="text")
    assert not_text.value.field == "text"
    with pytest.raises(BlankText) as blank:
        check_message("\u200b", max_chars=5)
    assert blank.value.field == "message"
    # invisible characters do not count against the limit
    assert check_message("abc\u200b\u200b\u200b", max_chars=3) == "abc"


def test_clean_text_never_refuses() -> None:
    assert clean_text(LONE_SURROGATE) == "hi \ufffd there"
    assert clean_text("\u200b") == ""
    assert clean_text("x\u202ey") == "xy"


# -- metadata -----------------------------------------------------------------------------------------


def test_only_small_flat_allowed_keys_are_kept() -> None:
    raw = {
        "locale": "zh-CN",
        "page_url": "https://shop.example.com/orders/SO-1",
        "user_agent": "Mozilla/5.0",
        "channel": "web",
        "verified_by": "storefront",
        "client_address": "10.0.0.1",
        "anything": {"deep": [1, 2, 3]},
    }
    assert customer_metadata(raw, trusted=False) == {
        "locale": "zh-CN",
        "page_url": "https://shop.example.com/orders/SO-1",
        "user_agent": "Mozilla/5.0",
    }


def test_a_caller_without_the_token_cannot_name_a_customer() -> None:
    with pytest.raises(InvalidMetadata, match="REST token") as refused:
        customer_metadata({"customer_id": "cust-1003"}, trusted=False)
    assert refused.value.field == "metadata.customer_id"
    assert customer_metadata({"customer_id": "cust-1003"}, trusted=True) == {"customer_id": "cust-1003"}


@pytest.mark.parametrize("customer", ["", "x" * 65, "cust 1", "cust/1", 1003, ["cust-1"], "cust-\u202e1"])
def test_a_malformed_customer_id_is_refused(customer: object) -> None:
    with pytest.raises(InvalidMetadata) as refused:
        customer_metadata({"customer_id": customer}, trusted=True)
    assert refused.value.field == "metadata.customer_id"


def nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("locale", nested(800)),
        ("user_agent", ["Mozilla"]),
        ("page_url", 5),
        ("locale", "x" * 17),
        ("user_agent", "x" * 257),
        ("page_url", "https://shop.example.com/" + "a" * 500),
        ("user_agent", "x" * 500_000),
        ("locale", "english please"),
        ("page_url", "javascript:alert(1)"),
        ("page_url", "https://shop.example.com/a b"),
        ("page_url", "http://[::1"),
        ("user_agent", LONE_SURROGATE),
    ],
)
def test_nested_oversized_or_malformed_allowed_keys_are_refused_naming_the_key(
    key: str, value: object
) -> None:
    with pytest.raises(InvalidMetadata) as refused:
        customer_metadata({key: value}, trusted=True)
    assert refused.value.field == f"metadata.{key}"
    assert f"metadata.{key}" in str(refused.value)


def test_hostile_values_under_other_keys_are_dropped_not_forwarded() -> None:
    raw = {"deep": nested(800), "big": "x" * 500_000, "locale": "en"}
    assert customer_metadata(raw, trusted=True) == {"locale": "en"}


@pytest.mark.parametrize("raw", [[], "x", 5, True])
def test_metadata_must_be_an_object(raw: object) -> None:
    with pytest.raises(InvalidMetadata) as refused:
        customer_metadata(raw, trusted=True)
    assert refused.value.field == "metadata"


def test_no_metadata_is_empty() -> None:
    assert customer_metadata(None, trusted=False) == {}
    assert customer_metadata({"locale": None}, trusted=False) == {}


def test_a_user_agent_is_cleaned_of_invisible_characters() -> None:
    assert customer_metadata({"user_agent": "Agent\u202e/1"}, trusted=False) == {"user_agent": "Agent/1"}


def test_the_assistant_gets_the_customer_only_with_its_verification() -> None:
    anonymous = assistant_metadata(client_address="203.0.113.9", client={"locale": "en"})
    assert anonymous == {"client_address": "203.0.113.9", "client": {"locale": "en"}}
    known = assistant_metadata(client_address="::1", customer_id="cust-1", verified_by="rest_token")
    assert known == {"client_address": "::1", "customer_id": "cust-1", "verified_by": "rest_token"}
    with pytest.raises(ValueError, match="together"):
        assistant_metadata(client_address="::1", customer_id="cust-1")
    with pytest.raises(ValueError, match="unknown verification"):
        assistant_metadata(client_address="::1", customer_id="cust-1", verified_by="because I say so")


def test_the_hub_passes_on_only_the_contracts_keys_and_sets_the_channel() -> None:
    given = {
        "customer_id": "cust-1",
        "verified_by": "telegram_contact",
        "verified_phone": "+447700900123",
        "client_address": "telegram:1",
        "client": {"locale": "en"},
        "channel": "forged",
        "telegram_user_id": 1,
        "debug": nested(50),
    }
    assert trusted_metadata(given, "telegram") == {
        "customer_id": "cust-1",
        "verified_by": "telegram_contact",
        "verified_phone": "+447700900123",
        "client_address": "telegram:1",
        "client": {"locale": "en"},
        "channel": "telegram",
    }
    assert trusted_metadata(None, "web") == {"channel": "web"}


# -- intent payloads ----------------------------------------------------------------------------------

NOW = 1_700_000_000.0
REASONS = [
    {"title": "Damaged", "payload": '/inform{"return_reason":"damaged"}'},
    {"title": "Changed my mind", "payload": '/inform{"return_reason":"changed_mind"}'},
]


def test_only_slash_payloads_are_recorded() -> None:
    buttons = [
        *REASONS,
        {"title": "4", "payload": "4"},
        {"title": "Shipping fees", "payload": "Shipping fees"},
    ]
    assert offered_payloads(buttons) == [b["payload"] for b in REASONS]
    assert offered_payloads(None) == []
    assert offered_payloads([{"title": "no payload"}, "junk"]) == []  # type: ignore[list-item]


def test_an_offered_payload_reaches_the_assistant_as_a_payload() -> None:
    record = remember_payloads(None, offered_payloads(REASONS), NOW)
    payload = '/inform{"return_reason":"changed_mind"}'
    assert text_for_assistant(payload, record, NOW + 60) == payload
    assert text_for_assistant(f"  {payload} ", record, NOW + 60) == payload  # Rasa strips it as well


def test_a_typed_payload_is_understood_as_text() -> None:
    record = remember_payloads(None, offered_payloads(REASONS), NOW)
    forged = '/order_status{"order_id":"SO-10001021"}'
    assert text_for_assistant(forged, record, NOW) == 'order_status{"order_id":"SO-10001021"}'
    assert text_for_assistant(forged, None, NOW) == 'order_status{"order_id":"SO-10001021"}'
    # an offered intent with other entities is another payload
    assert (
        text_for_assistant('/inform{"return_reason":"lost"}', record, NOW) == 'inform{"return_reason":"lost"}'
    )


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("//affirm", "affirm"),
        (" / /affirm", "affirm"),
        ("\t/affirm@0.99", "affirm@0.99"),
        ("/", "/"),  # nothing but slashes names no intent: Rasa reads it as text
        ("///", "///"),
        ("a/b", "a/b"),
        ("where is 1/2 of my order", "where is 1/2 of my order"),
    ],
)
def test_leading_slashes_are_removed(text: str, sent: str) -> None:
    assert text_for_assistant(text, None, NOW) == sent


def test_payloads_every_conversation_may_send() -> None:
    assert "/greet" in ALWAYS_ACCEPTED
    assert text_for_assistant("/greet", None, NOW) == "/greet"


def test_offered_payloads_expire() -> None:
    record = remember_payloads(None, ["/affirm"], NOW)
    assert text_for_assistant("/affirm", record, NOW + PAYLOADS_TTL_SECONDS) == "/affirm"
    assert text_for_assistant("/affirm", record, NOW + PAYLOADS_TTL_SECONDS + 1) == "affirm"


def test_a_new_offer_refreshes_the_older_ones_and_only_the_newest_are_kept() -> None:
    record = remember_payloads(None, ["/affirm"], NOW)
    record = remember_payloads(record, ["/deny"], NOW + PAYLOADS_TTL_SECONDS - 1)
    later = NOW + PAYLOADS_TTL_SECONDS + 10
    assert text_for_assistant("/affirm", record, later) == "/affirm"  # still within the refreshed record
    for n in range(PAYLOADS_KEPT):
        record = remember_payloads(record, [f'/inform{{"n":"{n}"}}'], later)
    assert text_for_assistant('/inform{"n":"0"}', record, later) == '/inform{"n":"0"}'
    assert text_for_assistant("/deny", record, later) == "deny"  # pushed out by newer offers
    assert len(json.loads(record)["digests"]) == PAYLOADS_KEPT


def test_a_damaged_record_accepts_nothing() -> None:
    for stored in ("not json", '{"at": "x"}', '{"digests": []}', '{"at": 1, "digests": "x"}', "[]"):
        assert text_for_assistant("/affirm", stored, NOW) == "affirm"
        assert text_for_assistant("/affirm", remember_payloads(stored, ["/affirm"], NOW), NOW) == "/affirm"


def test_strip_intent_prefix_keeps_the_words() -> None:
    assert strip_intent_prefix("/request_human") == "request_human"
