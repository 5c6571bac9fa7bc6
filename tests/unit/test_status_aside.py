"""A status question about another order in the middle of a request is answered aside; the request keeps
its own order. A plain new order number is still a correction."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.order_forms import ValidateCancelOrderForm, ValidateOrderStatusForm, asks_order_status
from actions.orders.model import Order, OrderItem, OrderStatus
from actions.returns.actions import ValidateReturnForm
from tests.unit.fakes import FakeAttemptLimiter, FakeOrderStore, make_tracker

TODAY = date(2026, 3, 10)
JACKET = OrderItem("JKT-B-M", "Rain jacket (blue, M)", "防雨夹克（蓝色，M）", "clothing", 89.0, 1, "unopened")
RETURNING = Order(
    "SO-10000001", "cust-1", OrderStatus.DELIVERED, "USD", TODAY - timedelta(days=5), (JACKET,),
    delivered_on=TODAY - timedelta(days=2), email="ann@example.com",
)  # fmt: skip
OTHER = replace(
    RETURNING, id="SO-10000002", status=OrderStatus.SHIPPED, shipped_on=TODAY - timedelta(days=1),
    carrier="UPS", tracking_number="1Z999", eta=TODAY + timedelta(days=2), delivered_on=None,
)  # fmt: skip


def _mid_form(text: str, intent: str, *, proven: list[str], requested: str = "return_reason") -> Tracker:
    """The form already has RETURNING (set before this message); this message names OTHER."""
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    events: list[dict[str, Any]] = [
        {"event": "slot", "name": "order_id", "value": RETURNING.id},
        {"event": "user", "text": text, "parse_data": parse},
        {"event": "slot", "name": "order_id", "value": OTHER.id},  # this turn's extraction
    ]
    tracker = make_tracker(
        {"order_id": OTHER.id, "verified_orders": proven, "requested_slot": requested},
        intent=intent, text=text, events=events,
    )  # fmt: skip
    tracker.latest_message["entities"] = [{"entity": "order_id", "value": OTHER.id}]
    return tracker


def _return_form() -> ValidateReturnForm:
    return ValidateReturnForm(FakeOrderStore(RETURNING, OTHER), FakeAttemptLimiter(), today=TODAY)


async def test_a_proven_other_orders_status_is_told_and_the_return_keeps_its_order() -> None:
    dispatcher = CollectingDispatcher()
    tracker = _mid_form(
        f"oh wait b4 that, where's {OTHER.id}?", "order_status", proven=[RETURNING.id, OTHER.id]
    )
    assert await _return_form().validate_order_id(OTHER.id, dispatcher, tracker, {}) == {
        "order_id": RETURNING.id
    }
    (told,) = dispatcher.messages
    assert told["response"] == "utter_order_status_shipped"
    assert (told["order_id"], told["tracking_number"]) == (OTHER.id, "1Z999")


async def test_an_unproven_other_order_is_not_described_and_the_customer_is_told_when_to_ask() -> None:
    dispatcher = CollectingDispatcher()
    tracker = _mid_form(f"{OTHER.id}到哪了？", "order_status", proven=[RETURNING.id])
    tracker.slots["language"] = "zh"
    result = await _return_form().validate_order_id(OTHER.id, dispatcher, tracker, {})
    assert result == {"order_id": RETURNING.id}
    (told,) = dispatcher.messages
    assert told["response"] == "utter_status_aside_later"
    assert (told["order_id"], told["current"]) == (OTHER.id, RETURNING.id)
    assert "tracking_number" not in told  # nothing about an order the customer has not proved


async def test_status_words_in_a_question_count_when_the_understanding_read_something_else() -> None:
    tracker = _mid_form(f"and has {OTHER.id} shipped yet?", "inform", proven=[RETURNING.id, OTHER.id])
    assert asks_order_status(tracker)
    result = await _return_form().validate_order_id(OTHER.id, CollectingDispatcher(), tracker, {})
    assert result == {"order_id": RETURNING.id}


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("sorry wrong number, it's SO-10000002", "inform"),
        ("SO-10000002", "inform"),
        ("the one that was delivered is SO-10000002", "inform"),  # status words, but no question
    ],
)
async def test_a_new_order_number_without_a_status_question_still_corrects_the_order(
    text: str, intent: str
) -> None:
    tracker = _mid_form(text, intent, proven=[RETURNING.id])
    result = await _return_form().validate_order_id(OTHER.id, CollectingDispatcher(), tracker, {})
    assert result["order_id"] == OTHER.id


async def test_before_the_order_is_proven_a_new_number_is_a_correction() -> None:
    tracker = _mid_form(f"where is {OTHER.id}?", "order_status", proven=[], requested="order_check")
    result = await _return_form().validate_order_id(OTHER.id, CollectingDispatcher(), tracker, {})
    assert result["order_id"] == OTHER.id


async def test_in_the_status_form_the_other_order_is_the_same_ask() -> None:
    form = ValidateOrderStatusForm(FakeOrderStore(RETURNING, OTHER), FakeAttemptLimiter())
    tracker = _mid_form(
        f"where's {OTHER.id}?", "order_status", proven=[RETURNING.id, OTHER.id], requested="order_check"
    )
    result = await form.validate_order_id(OTHER.id, CollectingDispatcher(), tracker, {})
    assert result["order_id"] == OTHER.id


async def test_a_cancellation_keeps_its_order_too() -> None:
    form = ValidateCancelOrderForm(FakeOrderStore(RETURNING, OTHER), FakeAttemptLimiter())
    tracker = _mid_form(
        f"btw where is {OTHER.id}", "order_status", proven=[RETURNING.id], requested="confirm_cancel"
    )
    dispatcher = CollectingDispatcher()
    assert await form.validate_order_id(OTHER.id, dispatcher, tracker, {}) == {"order_id": RETURNING.id}
    assert [m["response"] for m in dispatcher.messages] == ["utter_status_aside_later"]


async def test_the_aside_at_a_read_back_is_no_answer_so_the_read_back_is_asked_again() -> None:
    form = ValidateCancelOrderForm(FakeOrderStore(RETURNING, OTHER), FakeAttemptLimiter())
    tracker = _mid_form(
        f"等下 {OTHER.id}到哪了？",
        "order_status",
        proven=[RETURNING.id, OTHER.id],
        requested="confirm_cancel",
    )
    answer = await form.validate_confirm_cancel(
        tracker.latest_message["text"], CollectingDispatcher(), tracker, {}
    )
    assert answer == {"confirm_cancel": None}
    plain = _mid_form("等下 算了", "deny", proven=[RETURNING.id], requested="confirm_cancel")
    plain.latest_message["entities"] = []
    assert await form.validate_confirm_cancel("no", CollectingDispatcher(), plain, {}) == {
        "confirm_cancel": "no"
    }


async def test_at_a_read_back_the_form_keeps_asking_about_its_own_order_not_the_shipped_one_asked_about() -> (
    None
):
    """The other order is shipped (nothing to confirm); the form's own is pending, so the read-back stays
    among the form's questions and is asked again instead of the form ending unconfirmed."""
    own = replace(RETURNING, status=OrderStatus.PENDING, delivered_on=None)
    form = ValidateCancelOrderForm(FakeOrderStore(own, OTHER), FakeAttemptLimiter())
    slots = ["order_id", "order_check", "confirm_cancel"]
    tracker = _mid_form(
        f"等下 {OTHER.id}到哪了？", "order_status", proven=[own.id, OTHER.id], requested="confirm_cancel"
    )
    assert await form.required_slots(slots, CollectingDispatcher(), tracker, {}) == [
        "order_id",
        "confirm_cancel",
    ]
    plain = _mid_form(
        f"cancel {OTHER.id} instead", "cancel_order", proven=[own.id, OTHER.id], requested="confirm_cancel"
    )
    assert await form.required_slots(slots, CollectingDispatcher(), plain, {}) == ["order_id"]
