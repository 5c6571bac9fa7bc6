"""Order events as the demo backend posts them: the body the hub's own parser takes, and its signature."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from actions.orders.events import (
    EventBodyError,
    EventType,
    OrderEventPoster,
    encode,
    new_event_id,
    order_event,
    signed_headers,
)
from actions.orders.model import Order, OrderItem, OrderStatus
from common.env import SettingsError
from common.webhook_signature import HEADER, SignatureError, verify
from handoff.proactive.events import EVENT_ID, parse_event

SECRET = "order-webhook-secret-0123"
SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2026, 3, 10, 15, 30, 0, tzinfo=SHANGHAI)
ITEM = OrderItem("HDP-NC-01", "Noise-cancelling headphones", "降噪耳机", "electronics", 1299.0, 1, "new")


def order(status: OrderStatus = OrderStatus.SHIPPED, **extra: object) -> Order:
    fields: dict[str, object] = {
        "currency": "CNY",
        "placed_on": date(2026, 3, 7),
        "items": (ITEM,),
        "shipped_on": date(2026, 3, 8),
        "eta": date(2026, 3, 11),
        "carrier": "顺丰速运",
        "tracking_number": "SF12345678901",
        "email": "wangfang@example.cn",
    }
    return Order(id="SO-10001021", customer_id="cust-2001", status=status, **{**fields, **extra})  # type: ignore[arg-type]


def test_the_body_carries_the_order_as_the_hub_reads_it() -> None:
    event = order_event(order(), EventType.ORDER_UPDATED, NOW, language="zh")
    parsed = parse_event(encode(event))  # the hub's parser: strict, unknown keys refused
    assert parsed.event_id == event["event_id"] and parsed.type.value == "order.updated"
    assert parsed.occurred_at == NOW
    snapshot = parsed.order
    assert (snapshot.id, snapshot.customer_id, snapshot.status.value) == (
        "SO-10001021",
        "cust-2001",
        "shipped",
    )
    # Days become moments: three days before "now", at now's time of day, in now's zone.
    assert event["order"]["placed_at"] == "2026-03-07T15:30:00+08:00"
    assert snapshot.placed_at == NOW - timedelta(days=3)
    assert snapshot.shipped_at == NOW - timedelta(days=2)
    assert snapshot.delivered_at is None
    assert snapshot.promised_by == date(2026, 3, 11)
    assert (snapshot.carrier, snapshot.tracking_number) == ("顺丰速运", "SF12345678901")
    assert (snapshot.exception, snapshot.refund_amount, snapshot.currency) == (None, None, "CNY")
    assert (snapshot.language, snapshot.email) == ("zh", "wangfang@example.cn")


@pytest.mark.parametrize(
    ("status", "hub_status"),
    [
        (OrderStatus.PENDING, "processing"),
        (OrderStatus.PAID, "processing"),
        (OrderStatus.SHIPPED, "shipped"),
        (OrderStatus.DELIVERED, "delivered"),
        (OrderStatus.CANCELLED, "cancelled"),
        (OrderStatus.RETURNED, "returned"),
    ],
)
def test_every_status_maps_onto_one_the_hub_knows(status: OrderStatus, hub_status: str) -> None:
    event = order_event(order(status), EventType.ORDER_UPDATED, NOW)
    assert parse_event(encode(event)).order.status.value == hub_status


def test_an_order_without_shipment_contact_or_language_sends_nulls() -> None:
    bare = order(OrderStatus.PAID, shipped_on=None, eta=None, carrier=None, tracking_number=None, email="")
    snapshot = order_event(bare, EventType.ORDER_UPDATED, NOW)["order"]
    for name in (
        "promised_by",
        "shipped_at",
        "delivered_at",
        "carrier",
        "tracking_number",
        "email",
        "language",
    ):
        assert snapshot[name] is None, name
    assert parse_event(encode(order_event(bare, EventType.ORDER_UPDATED, NOW))).order.email is None


def test_a_delivery_exception_and_a_refund_carry_their_own_fields() -> None:
    problem = order_event(order(), EventType.SHIPMENT_EXCEPTION, NOW, exception="  Address not found ")
    assert parse_event(encode(problem)).order.exception == "Address not found"
    refund = order_event(order(OrderStatus.RETURNED), EventType.REFUND_PROCESSED, NOW, refund_amount=12.5)
    parsed = parse_event(encode(refund))
    assert (parsed.type.value, parsed.order.refund_amount, parsed.order.currency) == (
        "refund.processed", 12.5, "CNY",
    )  # fmt: skip
    received = order_event(order(OrderStatus.RETURNED), EventType.RETURN_RECEIVED, NOW)
    assert parse_event(encode(received)).type.value == "return.received"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"event_type": EventType.SHIPMENT_EXCEPTION}, "order.exception"),
        ({"event_type": EventType.REFUND_PROCESSED}, "order.refund_amount"),
        ({"refund_amount": float("inf")}, "order.refund_amount"),
        ({"refund_amount": -1}, "order.refund_amount"),
        ({"exception": "x" * 501}, "order.exception"),
        ({"exception": "   "}, "order.exception"),
        ({"language": "fr"}, "order.language"),
        ({"now": datetime(2026, 3, 10, 15, 30)}, "occurred_at"),  # no zone
        ({"order": order(carrier="C" * 65)}, "order.carrier"),
    ],
)
def test_a_body_the_hub_would_refuse_is_not_built(kwargs: dict[str, Any], field: str) -> None:
    arguments = {"order": order(), "event_type": EventType.ORDER_UPDATED, "now": NOW, **kwargs}
    with pytest.raises(EventBodyError) as caught:
        order_event(arguments.pop("order"), arguments.pop("event_type"), arguments.pop("now"), **arguments)
    assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")


def test_event_ids_are_unique_and_of_the_hubs_form() -> None:
    ids = {new_event_id() for _ in range(200)}
    assert len(ids) == 200 and all(EVENT_ID.match(i) for i in ids)
    given = order_event(order(), EventType.ORDER_UPDATED, NOW, event_id="evt_fixed-1")
    assert given["event_id"] == "evt_fixed-1"


def test_the_signature_covers_the_exact_bytes_sent() -> None:
    body = encode(order_event(order(), EventType.ORDER_UPDATED, NOW, language="zh"))
    assert "顺丰速运".encode() in body  # UTF-8, not \u escapes: what is signed is what is read
    assert json.loads(body)["order"]["carrier"] == "顺丰速运"
    t = int(NOW.timestamp())
    headers = signed_headers(SECRET, body, t)
    assert headers["Content-Type"] == "application/json"
    assert verify(SECRET, headers[HEADER], body, now=t + 10) == t
    with pytest.raises(SignatureError) as tampered:
        verify(SECRET, headers[HEADER], body.replace(b"shipped", b"delivered"), now=t)
    assert tampered.value.reason == "mismatch"
    with pytest.raises(SignatureError) as other_secret:
        verify("another-secret-0123456", headers[HEADER], body, now=t)
    assert other_secret.value.reason == "mismatch"


def test_the_poster_reads_the_hub_and_the_secret_from_the_environment() -> None:
    poster = OrderEventPoster.from_env(
        {"HUB_URL": "https://hub.example.com/", "ORDER_WEBHOOK_SECRET": SECRET}
    )
    assert poster.url == "https://hub.example.com/webhooks/orders"
    assert OrderEventPoster.from_env({"ORDER_WEBHOOK_SECRET": SECRET}).url == (
        "http://127.0.0.1:8000/webhooks/orders"
    )
    with pytest.raises(SettingsError, match="ORDER_WEBHOOK_SECRET"):
        OrderEventPoster.from_env({"HUB_URL": "http://127.0.0.1:8000"})
    with pytest.raises(SettingsError, match="HUB_URL"):
        OrderEventPoster.from_env({"HUB_URL": "ftp://hub", "ORDER_WEBHOOK_SECRET": SECRET})


def test_occurred_at_keeps_the_zone_it_was_given() -> None:
    event = order_event(order(), EventType.ORDER_UPDATED, datetime(2026, 3, 10, 7, 30, tzinfo=UTC))
    assert event["occurred_at"] == "2026-03-10T07:30:00+00:00"
