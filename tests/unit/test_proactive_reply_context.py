"""The customer's reply to a proactive message: the hub's `proactive` metadata names the order, so the
order forms know it without asking, and still ask for proof when the channel does not vouch for the owner."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.language import ValidateSlotMappings, proactive_order_id
from actions.order_forms import CHECK_SLOT, ValidateOrderStatusForm, ValidateRefundStatusForm
from actions.orders.model import Order, OrderItem, OrderStatus
from tests.unit.fakes import FakeAttemptLimiter, FakeOrderStore, make_tracker

ORDER = "SO-10001021"
OWNER = {"customer_id": "cust-1001", "verified_by": "storefront"}
ITEM = OrderItem("SHOE-RUN-42", "Running shoes", "跑步鞋", "shoes", 119.0, 1, "new")


def replying(order_id: object = ORDER, trigger: str = "late_shipment", **identity: str) -> dict[str, Any]:
    return {"channel": "widget", **identity, "proactive": {"order_id": order_id, "trigger": trigger}}


async def extract(tracker: Any) -> dict[str, Any]:
    return await ValidateSlotMappings().extract_order_id(CollectingDispatcher(), tracker, {})


@pytest.mark.parametrize(
    ("order_id", "expected"),
    [
        ("SO-10001021", "SO-10001021"),
        ("so 10001021", "SO-10001021"),
        (" 10001021 ", "SO-10001021"),
        ("SO-1000102", None),  # seven digits
        ("SO-10001021; drop", None),  # an order number inside other text is not well-formed
        ("x" * 40, None),
        (10001021, None),
        (None, None),
    ],
)
async def test_the_order_of_the_proactive_message_fills_the_slot(
    order_id: object, expected: str | None
) -> None:
    tracker = make_tracker(metadata=replying(order_id), text="where is it?")
    assert await extract(tracker) == ({"order_id": expected} if expected else {})


@pytest.mark.parametrize("context", [None, "SO-10001021", ["SO-10001021"], {}, {"trigger": "late_shipment"}])
def test_a_missing_or_malformed_context_names_no_order(context: object) -> None:
    assert proactive_order_id(context) is None


async def test_a_message_without_the_context_changes_nothing() -> None:
    assert await extract(make_tracker(metadata={"channel": "widget"}, text="where is it?")) == {}
    assert await extract(make_tracker({"order_id": "SO-20000002"}, text="where is it?")) == {}


async def test_the_same_order_again_sets_nothing() -> None:
    assert await extract(make_tracker({"order_id": ORDER}, metadata=replying())) == {}


async def test_another_order_in_the_conversation_gives_way_to_the_proactive_one() -> None:
    tracker = make_tracker({"order_id": "SO-20000002"}, metadata=replying(), text="我的包裹到哪了")
    assert await extract(tracker) == {"order_id": ORDER}


async def test_an_order_number_the_customer_types_wins() -> None:
    tracker = make_tracker(metadata=replying(), text="what about SO-20000002?")
    tracker.latest_message["entities"] = [{"entity": "order_id", "value": "SO-20000002"}]
    assert await extract(tracker) == {}


async def test_a_form_busy_with_another_question_keeps_its_order() -> None:
    busy = make_tracker(
        {"order_id": "SO-20000002", "requested_slot": CHECK_SLOT},
        metadata=replying(),
        active_loop="order_status_form",
    )
    assert await extract(busy) == {}
    asking = make_tracker(
        {"requested_slot": "order_id"}, metadata=replying(), active_loop="order_status_form"
    )
    assert await extract(asking) == {"order_id": ORDER}


def shipped_domain() -> dict[str, Any]:
    """The slots and responses of the shipped domain, as Rasa sends them to the action server."""
    domain: dict[str, Any] = {"slots": {}, "responses": {}}
    for path in sorted((Path(__file__).resolve().parents[2] / "bot" / "domain").glob("*.yml")):
        part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        domain["slots"].update(part.get("slots") or {})
        domain["responses"].update(part.get("responses") or {})
    return domain


async def test_the_slot_mappings_action_fills_the_order_with_the_shipped_domain() -> None:
    """Rasa runs action_validate_slot_mappings after every message; the SDK calls extract_order_id because
    order_id is a global slot (no form condition on its mapping), so no custom mapping is needed."""
    tracker = make_tracker(metadata=replying(), text="where is it?")
    events = await ValidateSlotMappings().run(CollectingDispatcher(), tracker, shipped_domain())
    assert {"event": "slot", "name": "order_id", "value": ORDER} in [
        {key: e.get(key) for key in ("event", "name", "value")} for e in events
    ]


def order() -> Order:
    return Order(
        id=ORDER, customer_id="cust-1001", status=OrderStatus.SHIPPED, currency="USD",
        placed_on=date(2026, 3, 1), items=(ITEM,), shipped_on=date(2026, 3, 2), eta=date(2026, 3, 4),
        carrier="UPS", tracking_number="1Z68118295906", email="alice.carter@example.com",
    )  # fmt: skip


@pytest.mark.parametrize("form_class", [ValidateOrderStatusForm, ValidateRefundStatusForm])
async def test_the_signed_in_owner_is_not_asked_for_the_order_or_its_proof(form_class: type) -> None:
    form = form_class(FakeOrderStore(order()), FakeAttemptLimiter())
    tracker = make_tracker({"order_id": ORDER}, metadata=replying(**OWNER), text="where is it?")
    assert await form.required_slots(["order_id", CHECK_SLOT], CollectingDispatcher(), tracker, {}) == [
        "order_id"  # already filled: the form asks nothing and its action answers
    ]
    assert await form.validate_order_id(ORDER, CollectingDispatcher(), tracker, {}) == {"order_id": ORDER}


@pytest.mark.parametrize(
    "identity",
    [
        {},  # an anonymous widget visitor
        {"customer_id": "cust-1001"},  # claimed, not vouched for by the channel
        {"customer_id": "cust-2001", "verified_by": "storefront"},  # someone else, signed in
    ],
)
async def test_without_the_owners_identity_the_order_must_still_be_proved(identity: dict[str, str]) -> None:
    form = ValidateOrderStatusForm(FakeOrderStore(order()), FakeAttemptLimiter())
    tracker = make_tracker(metadata=replying(**identity), text="where is it?")
    slots = {"order_id": ORDER, **await extract(tracker)}
    assert slots == {"order_id": ORDER}
    tracker = make_tracker(slots, metadata=replying(**identity), text="where is it?")
    assert await form.required_slots(["order_id", CHECK_SLOT], CollectingDispatcher(), tracker, {}) == [
        "order_id", CHECK_SLOT,
    ]  # fmt: skip
    assert await form.validate_order_id(ORDER, CollectingDispatcher(), tracker, {}) == {
        "order_id": ORDER, CHECK_SLOT: None,
    }  # fmt: skip
