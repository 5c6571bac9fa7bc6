from datetime import date
from pathlib import Path

import pytest
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.order_changes import ActionCancelOrder, ActionChangeAddress
from actions.order_forms import ActionAskOrderId, ValidateChangeAddressForm, ValidateOrderStatusForm
from actions.orders.model import Order, OrderItem, OrderStatus
from actions.refund_status import ActionRefundStatus
from actions.returns.policy import ReturnPolicy
from tests.unit.fakes import FakeOrderStore, make_tracker

POLICY = ReturnPolicy.from_file(Path(__file__).resolve().parents[2] / "data" / "policy" / "returns.yml")
ITEM = OrderItem("HDP-NC-01", "Noise-cancelling headphones", "降噪耳机", "electronics", 1299.0, 1, "new")


def order(status: OrderStatus, **extra) -> Order:
    fields = {"currency": "CNY", "placed_on": date(2026, 3, 1), "items": (ITEM,), "payment_method": "alipay"}
    return Order(id="SO-20000002", customer_id="cust-2001", status=status, **{**fields, **extra})


OWNER = {"customer_id": "cust-2001", "verified_by": "storefront"}  # a signed-in storefront customer


async def run(action, store, slots, metadata=OWNER):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, make_tracker(slots, metadata), {})
    return dispatcher.messages, events


async def test_a_paid_order_is_cancelled_and_refunded_to_the_original_method() -> None:
    store = FakeOrderStore(order(OrderStatus.PAID))
    messages, _ = await run(
        ActionCancelOrder(store, POLICY),
        store,
        {"order_id": "SO-20000002", "language": "zh", "confirm_cancel": "yes"},
    )
    assert [m["response"] for m in messages] == ["utter_order_cancelled", "utter_cancel_refund_note"]
    assert messages[1]["payment_method"] == "支付宝"
    assert messages[1]["amount"] == "¥1,299.00"
    assert store.orders["SO-20000002"].status is OrderStatus.CANCELLED


async def test_an_unpaid_order_is_cancelled_without_a_refund_note() -> None:
    store = FakeOrderStore(order(OrderStatus.PENDING))
    slots = {"order_id": "SO-20000002", "confirm_cancel": "yes"}
    messages, _ = await run(ActionCancelOrder(store, POLICY), store, slots)
    assert [m["response"] for m in messages] == ["utter_order_cancelled"]


@pytest.mark.parametrize(
    ("status", "response"),
    [
        (OrderStatus.SHIPPED, "utter_cancel_shipped"),
        (OrderStatus.DELIVERED, "utter_cancel_delivered"),
        (OrderStatus.CANCELLED, "utter_cancel_not_possible"),
        (OrderStatus.RETURNED, "utter_cancel_not_possible"),
    ],
)
async def test_orders_past_shipment_are_not_cancelled(status: OrderStatus, response: str) -> None:
    store = FakeOrderStore(order(status))
    slots = {"order_id": "SO-20000002", "confirm_cancel": "yes"}
    messages, _ = await run(ActionCancelOrder(store, POLICY), store, slots)
    assert messages[0]["response"] == response
    assert store.orders["SO-20000002"].status is status


async def test_address_changes_only_before_shipment() -> None:
    store = FakeOrderStore(order(OrderStatus.PAID))
    slots = {"order_id": "SO-20000002", "new_address": "北京市朝阳区建国路88号", "confirm_address": "yes"}
    messages, events = await run(ActionChangeAddress(store), store, slots)
    assert messages[0]["response"] == "utter_address_changed"
    assert store.orders["SO-20000002"].shipping_address == "北京市朝阳区建国路88号"
    assert SlotSet("new_address", None) in events

    shipped = FakeOrderStore(order(OrderStatus.SHIPPED, carrier="顺丰速运", tracking_number="SF1"))
    messages, _ = await run(ActionChangeAddress(shipped), shipped, slots)
    assert messages[0]["response"] == "utter_address_locked"
    assert messages[0]["tracking_number"] == "SF1"


async def test_a_short_address_is_asked_again() -> None:
    form = ValidateChangeAddressForm(FakeOrderStore())
    dispatcher = CollectingDispatcher()
    assert await form.validate_new_address("here", dispatcher, make_tracker(), {}) == {"new_address": None}
    assert dispatcher.messages[0]["response"] == "utter_address_too_short"
    ok = await form.validate_new_address(
        "  200 Pine St,  Seattle ", CollectingDispatcher(), make_tracker(), {}
    )
    assert ok == {"new_address": "200 Pine St, Seattle"}


@pytest.mark.parametrize(
    ("status", "extra", "response"),
    [
        (OrderStatus.RETURNED, {"refund_issued_on": date(2026, 3, 9)}, "utter_refund_issued"),
        (OrderStatus.RETURNED, {"return_received_on": date(2026, 3, 8)}, "utter_refund_processing"),
        (OrderStatus.RETURNED, {}, "utter_refund_awaiting_return"),
        (OrderStatus.CANCELLED, {"refund_issued_on": date(2026, 3, 2)}, "utter_refund_issued"),
        (OrderStatus.DELIVERED, {}, "utter_refund_none"),
    ],
)
async def test_refund_status(status: OrderStatus, extra: dict, response: str) -> None:
    store = FakeOrderStore(order(status, **extra))
    messages, _ = await run(
        ActionRefundStatus(store, POLICY, today=date(2026, 3, 9)),
        store,
        {"order_id": "SO-20000002", "language": "zh"},
    )
    assert messages[0]["response"] == response
    assert messages[0]["arrival_days"] == "1-3"


async def test_order_numbers_are_validated_and_normalised() -> None:
    form = ValidateOrderStatusForm(FakeOrderStore(order(OrderStatus.PAID)))
    tracker = make_tracker(metadata=OWNER)
    assert await form.validate_order_id("#20000002", CollectingDispatcher(), tracker, {}) == {
        "order_id": "SO-20000002"
    }
    dispatcher = CollectingDispatcher()
    assert await form.validate_order_id("no number", dispatcher, tracker, {}) == {"order_id": None}
    assert dispatcher.messages[0]["response"] == "utter_order_not_found"


async def test_logged_in_customers_are_offered_their_recent_orders() -> None:
    store = FakeOrderStore(order(OrderStatus.PAID))
    messages, _ = await run(ActionAskOrderId(store), store, {"language": "en"})
    assert messages[0]["response"] == "utter_ask_order_id"
    assert messages[0]["buttons"][0]["payload"] == '/inform{"order_id":"SO-20000002"}'
    anonymous, _ = await run(ActionAskOrderId(store), store, {"language": "en"}, {})
    assert anonymous[0]["buttons"] == []
    # A customer id the channel did not vouch for is ignored.
    forged, _ = await run(ActionAskOrderId(store), store, {"language": "en"}, {"customer_id": "cust-2001"})
    assert forged[0]["buttons"] == []
    assert anonymous[0]["buttons"] == []


async def test_an_overdue_refund_is_acknowledged_and_handed_to_a_person() -> None:
    # Received on a Friday: two business days end on Tuesday; Wednesday is late.
    store = FakeOrderStore(order(OrderStatus.RETURNED, return_received_on=date(2026, 3, 6)))
    slots = {"order_id": "SO-20000002", "language": "en"}
    on_time, events = await run(ActionRefundStatus(store, POLICY, today=date(2026, 3, 10)), store, slots)
    assert on_time[0]["response"] == "utter_refund_processing"
    assert on_time[0]["refund_due_on"] == "Mar 10"
    late, events = await run(ActionRefundStatus(store, POLICY, today=date(2026, 3, 11)), store, slots)
    assert late[0]["response"] == "utter_refund_overdue"
    assert SlotSet("handoff_reason", "refund_overdue") in events
    assert FollowupAction("action_handoff") in events
