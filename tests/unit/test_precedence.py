"""Several asks in one message: the documented precedence over the classifier's intent (data/policy)."""

from pathlib import Path

import pytest
import yaml

from bot.precedence import Precedence, PrecedenceError

RULES = Precedence.from_file(Path(__file__).resolve().parents[2] / "data" / "policy" / "precedence.yml")


@pytest.mark.parametrize(
    ("text", "classified", "expected"),
    [
        ("is this a bot? get me a real person", "bot_challenge", ("request_human", "person_request")),
        ("你是机器人吗？给我转人工", "bot_challenge", ("request_human", "person_request")),
        ("what's your customer service number, I want to call", "greet", ("request_human", "person_request")),
        ("where is SO-10001021? let me talk to someone", "order_status", ("request_human", "person_request")),
        ("is there a real person I can talk to?", "bot_challenge", ("request_human", "person_request")),
        ("有真人吗", "bot_challenge", ("request_human", "person_request")),  # someone there, not what we are
        ("人工在吗 我有事", "greet", ("request_human", "person_request")),
        # a number to call or a call back is a person by phone
        (
            "whats ur whatsapp or phone number, want to call about my refund",
            "refund_status",
            ("request_human", "person_request"),
        ),
        (
            "pls call me back on 07700 900123 about my order",
            "order_status",
            ("request_human", "person_request"),
        ),
        ("你们客服热线是多少", "ask_policy", ("request_human", "person_request")),
        ("能给个电话吗 退货的事打字说不清楚", "ask_policy", ("request_human", "person_request")),
        ("留个电话给我回电吧 物流的事", "order_status", ("request_human", "person_request")),
        # a complaint said in so many words is a complaint, however much is about the order
        (
            "SO-10009221 was due three days ago and still nothing, I want to make a complaint!",
            "order_status",
            ("complain", "complaint_request"),
        ),
        ("物流太慢了 说好三天前到 还没影 我要投诉！", "order_status", ("complain", "complaint_request")),
        ("my temu package is stuck in customs", "order_status", ("other_shop", "other_shop")),
        ("我在拼多多买的鞋子怎么退", "request_return", ("other_shop", "other_shop")),
    ],
)
def test_a_rule_overrides_the_topic(text: str, classified: str, expected: tuple[str, str]) -> None:
    assert RULES.decide(text, classified) == expected


@pytest.mark.parametrize(
    ("text", "classified"),
    [
        ("the kettle burned me, I want a real person NOW", "complain"),  # a complaint keeps its reason
        ("will you price-match amazon?", "promo_discount"),  # about our store
        ("my order from you is late", "order_status"),
        ("I bought a targeted serum", "inform"),  # no marketplace name as a whole word
        ("I have a question about humanity", "out_of_scope"),
        ("are you a real person or an AI?", "bot_challenge"),  # what the assistant is (a button offers one)
        ("你是真人吗", "bot_challenge"),
        ("my phone number is 07700 900123", "inform"),  # the customer's own number
        ("change the phone number on SO-10000001", "change_address"),
        ("the courier said he'd call me back but never did", "order_status"),  # someone else's call
        ("快递员没打电话就走了", "order_status"),
        ("快递员电话多少", "order_status"),
        ("修改收货人电话", "change_address"),
        ("I don't want to complain, but where is SO-10009221?", "order_status"),  # not a complaint
        ("我不是要投诉哈 就问下SO-10009221到哪了", "order_status"),
    ],
)
def test_no_rule_applies(text: str, classified: str) -> None:
    assert RULES.decide(text, classified) is None


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("my parcel is stuck in customs, SO-10000001", False),  # our own order's words
        ("the courier couldn't deliver, how do I rearrange it", False),
        ("I sent a parcel with DHL myself, where is it", True),  # a carrier is named
        ("bought it from another seller on a marketplace", True),
    ],
)
def test_other_shop_needs_a_named_shop_platform_or_carrier(text: str, kept: bool) -> None:
    decided = RULES.decide(text, "other_shop", runner_up="order_status")
    assert decided == (None if kept else ("order_status", "other_shop_unnamed"))


def test_a_malformed_file_is_named() -> None:
    with pytest.raises(PrecedenceError, match=r"rules\.yml"):
        Precedence.from_dict({"person_request": {}}, "rules.yml")


@pytest.mark.parametrize(
    ("classified", "risk", "expected"),
    [
        ("account_help", ["fraud"], ("complain", "risk_flag")),  # "someone changed my password and email"
        ("refund_status", ["legal", "repeat_contact"], ("complain", "risk_flag")),
        ("order_status", ["repeat_contact"], None),  # asked again about a parcel: still about the parcel
        ("complain", ["injury"], None),
        ("request_human", ["counterfeit"], None),  # a person is what both lead to
    ],
)
def test_harm_fraud_legal_and_counterfeit_flags_make_a_complaint(
    classified: str, risk: list[str], expected: tuple[str, str] | None
) -> None:
    assert RULES.decide("some message", classified, None, risk) == expected


@pytest.mark.parametrize(
    ("text", "classified", "expected"),
    [
        ("那算了，不用转人工了", "request_human", ("deny", "person_declined")),
        ("no need for a person, thanks", "request_human", ("deny", "person_declined")),
        ("不用帮我转人工了", "affirm", ("deny", "person_declined")),  # a person cue in the words
        ("不要等了转人工", "request_human", None),  # impatience, not a refusal
        ("I don't want a bot, I want a person", "request_human", None),
        ("I do not want to wait for an agent", "request_human", None),
    ],
)
def test_a_declined_person_is_a_no(text: str, classified: str, expected: tuple[str, str] | None) -> None:
    assert RULES.decide(text, classified) == expected


def test_a_malformed_declined_section_is_named() -> None:
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "data/policy/precedence.yml").read_text())
    raw["person_declined"]["gap"] = {"en": "wide"}
    with pytest.raises(PrecedenceError, match=r"rules\.yml"):
        Precedence.from_dict(raw, "rules.yml")
