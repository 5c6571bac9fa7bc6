from datetime import date
from typing import Any

from actions.handoff import build_packet
from actions.orders.model import Order, OrderItem, OrderStatus
from handoff.quick_replies.filling import Filled, context_from_conversation, fill
from tests.unit.fakes import make_tracker

# --- fill ------------------------------------------------------------------------------------

TEXT = "Hi {customer_name}, order {order_id} ships with {carrier}; {customer_name}, track {tracking_number}."


def test_fill_with_every_variable() -> None:
    context = {
        "customer_name": "Alice",
        "order_id": "SO-1",
        "carrier": "UPS",
        "tracking_number": "1Z9",
    }
    assert fill(TEXT, context) == Filled("Hi Alice, order SO-1 ships with UPS; Alice, track 1Z9.", ())
    assert fill(TEXT, context).ready


def test_fill_with_some_variables_lists_the_missing_in_order_of_first_use() -> None:
    filled = fill(TEXT, {"order_id": "SO-1", "customer_name": "", "carrier": None, "tracking_number": " "})
    assert filled.text == (
        "Hi {customer_name}, order SO-1 ships with {carrier}; {customer_name}, track {tracking_number}."
    )
    assert filled.missing == ("customer_name", "carrier", "tracking_number")
    assert not filled.ready


def test_fill_with_no_variables() -> None:
    assert fill(TEXT, {}).missing == ("customer_name", "order_id", "carrier", "tracking_number")
    assert fill("Thanks for waiting.", {}) == Filled("Thanks for waiting.", ())


def test_fill_inserts_values_verbatim_and_only_once() -> None:
    filled = fill("Hi {customer_name}", {"customer_name": "<b>{order_id}</b> & co"})
    assert filled == Filled("Hi <b>{order_id}</b> & co", ())


# --- context from the handoff packet ---------------------------------------------------------


def realistic_packet() -> dict[str, Any]:
    """A packet as the action server builds it (actions/handoff.py), for a returned order."""
    order = Order(
        id="SO-12345678",
        customer_id="cust-1001",
        status=OrderStatus.RETURNED,
        currency="USD",
        placed_on=date(2026, 5, 2),
        items=(OrderItem("SKU-1", "Trail Runner 2", "越野跑鞋 2", "shoes", 89.5, 1, "new"),),
        delivered_on=date(2026, 5, 6),
        carrier="UPS",
        tracking_number="1Z999",
        return_number="RA-123456",
    )
    tracker = make_tracker(
        {"order_id": "SO-12345678", "item": "running shoes", "new_address": None},
        {"channel": "widget", "customer_id": "cust-1001"},
        intent="request_human",
        events=[
            {"event": "user", "text": "return my shoes", "timestamp": 1.0},
            {
                "event": "bot",
                "text": "Your return is approved. Return authorisation: RA-123456.",
                "timestamp": 2.0,
            },
            {"event": "user", "text": "where is my refund? a.carter@example.com", "timestamp": 3.0},
        ],
    )
    tracker.latest_message["entities"] = [{"entity": "email", "value": "a.carter@example.com"}]
    return build_packet(tracker, "customer_request", order)


def test_context_from_a_realistic_packet() -> None:
    context = context_from_conversation(realistic_packet(), "Sam")
    # carrier and tracking_number are not in the packet's order summary yet; they fill in once they are
    assert (
        context.items()
        >= {
            "agent_name": "Sam",
            "customer_email": "a.carter@example.com",
            "order_id": "SO-12345678",
            "order_status": "returned",
            "order_total": "$89.50",
            "refund_amount": "$89.50",
            "item_name": "Trail Runner 2",
            "delivery_date": "May 6",
            "return_number": "RA-123456",
            "ticket_id": "conv-1",
        }.items()
    )
    assert "customer_name" not in context
    filled = fill("Hi {customer_name}, refund {refund_amount} for {order_id} is on its way.", context)
    assert filled.missing == ("customer_name",)


def test_context_in_chinese_uses_chinese_wording_and_optional_fields() -> None:
    packet = {
        "conversation_id": "web:42",
        "language": "zh",
        "slots": {
            "order_id": "SO-87654321",
            "new_address": "上海市浦东新区世纪大道100号",
            "customer_name": "王芳",
        },
        "order": {
            "id": "SO-87654321",
            "status": "shipped",
            "total": 299,
            "currency": "CNY",
            "items": [{"sku": "A", "name": "Kettle", "name_zh": "电热水壶"}],
            "carrier": "顺丰速运",
            "tracking_number": "SF1234567890",
            "eta": "2026-07-03",
        },
        "entities": "not a list",
        "transcript": None,
    }
    context = context_from_conversation(packet, None)
    assert context == {
        "customer_name": "王芳",
        "order_id": "SO-87654321",
        "order_status": "已发货",
        "order_total": "¥299.00",
        "item_name": "电热水壶",
        "eta": "7月3日",
        "carrier": "顺丰速运",
        "tracking_number": "SF1234567890",
        "new_address": "上海市浦东新区世纪大道100号",
        "ticket_id": "web:42",
    }


def test_with_several_items_the_customers_own_words_name_the_item() -> None:
    packet = {
        "language": "en",
        "slots": {"item": "blue jacket"},
        "order": {"items": [{"name": "Blue Jacket"}, {"name": "Scarf"}], "delivered_on": "bad date"},
    }
    assert context_from_conversation(packet, "Sam") == {"agent_name": "Sam", "item_name": "blue jacket"}


def test_context_without_a_packet() -> None:
    assert context_from_conversation(None, "Sam") == {"agent_name": "Sam"}
    assert context_from_conversation(None, None) == {}
    assert context_from_conversation({}, "  ") == {}
