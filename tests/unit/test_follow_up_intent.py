"""A reply to the assistant's proactive message: a short "where is it?" means the news's follow-up intent,
while anything the customer says clearly keeps its own intent."""

from __future__ import annotations

import pytest

from bot.precedence import FOLLOW_UP_INTENTS, follow_up_intent


@pytest.mark.parametrize(
    ("trigger", "ranking", "expected"),
    [
        # "到哪了？" / "where is it?" after "your parcel is late": the classifier hears a greeting
        ("late_shipment", [("greet", 0.40), ("order_status", 0.34), ("out_of_scope", 0.06)], "order_status"),
        ("delivery_exception", [("out_of_scope", 0.3), ("order_status", 0.18)], "order_status"),
        ("refund_processed", [("nlu_fallback", 0.3), ("refund_status", 0.25)], "refund_status"),
        # unsure of a topic, with the follow-up close behind
        ("return_received", [("ask_policy", 0.42), ("refund_status", 0.3)], "refund_status"),
        # already the follow-up: nothing to change
        ("late_shipment", [("order_status", 0.41), ("greet", 0.23)], None),
        # a clear other ask keeps its intent
        ("late_shipment", [("cancel_order", 0.91), ("order_status", 0.05)], None),
        ("late_shipment", [("request_human", 0.45), ("order_status", 0.3)], None),
        ("late_shipment", [("complain", 0.35), ("order_status", 0.3)], None),
        ("late_shipment", [("thank", 0.8), ("order_status", 0.1)], None),
        # the follow-up not among the best three: the message is about something else
        ("late_shipment", [("greet", 0.5), ("goodbye", 0.2), ("thank", 0.1), ("order_status", 0.05)], None),
        # no news, or news of a kind the assistant does not know
        (None, [("greet", 0.4), ("order_status", 0.34)], None),
        ("price_drop", [("greet", 0.4), ("order_status", 0.34)], None),
        ("late_shipment", [], None),
    ],
)
def test_follow_up_intent(trigger: object, ranking: list[tuple[str, float]], expected: str | None) -> None:
    assert follow_up_intent(trigger, ranking) == expected


def test_every_trigger_of_the_hub_has_a_follow_up() -> None:
    from handoff.proactive.triggers import Trigger

    assert set(FOLLOW_UP_INTENTS) == {t.value for t in Trigger}
