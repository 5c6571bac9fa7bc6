"""Order event bodies: parsed into aware datetimes, and every bad field refused by name."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from handoff.proactive.events import EventError, EventType, OrderStatus, parse_event


def body(**changes: Any) -> dict[str, Any]:
    order = {
        "id": "SO-12345678",
        "customer_id": "cust-1",
        "status": "shipped",
        "placed_at": "2026-03-01T10:00:00+08:00",
        "promised_by": "2026-03-05",
        "shipped_at": "2026-03-02T09:30:00Z",
        "delivered_at": None,
        "carrier": "SF Express",
        "tracking_number": "SF1234567890",
        "exception": None,
        "refund_amount": None,
        "currency": None,
        "language": "zh",
        "email": "li@example.com",
    }
    if "order" in changes and changes["order"] is not None:
        order.update(changes.pop("order"))
    return {
        "event_id": "evt_001",
        "type": "order.updated",
        "occurred_at": "2026-03-02T09:31:00Z",
        "order": order,
        **changes,
    }


def test_a_full_event_parses_with_utc_datetimes() -> None:
    event = parse_event(json.dumps(body()).encode())
    assert event.event_id == "evt_001" and event.type is EventType.ORDER_UPDATED
    assert event.occurred_at == datetime(2026, 3, 2, 9, 31, tzinfo=UTC)
    order = event.order
    assert order.placed_at == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # +08:00 read and kept as UTC
    assert order.placed_at.tzinfo is UTC
    assert order.promised_by == date(2026, 3, 5) and order.status is OrderStatus.SHIPPED
    assert order.carrier == "SF Express" and order.language == "zh" and order.delivered_at is None


def test_the_stored_form_parses_back_to_the_same_event() -> None:
    event = parse_event(body(type="refund.processed", order={"refund_amount": 49.9, "currency": "USD"}))
    assert parse_event(json.dumps(event.as_dict())) == event


def test_only_the_required_fields_are_needed() -> None:
    minimal = {
        "event_id": "e1",
        "type": "order.updated",
        "occurred_at": "2026-03-02T09:31:00+00:00",
        "order": {"id": "SO-1", "status": "processing", "placed_at": "2026-03-01T00:00:00Z"},
    }
    order = parse_event(minimal).order
    assert order.customer_id is None and order.promised_by is None and order.language is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"event_id": ""}, "event_id"),
        ({"event_id": "x" * 129}, "event_id"),
        ({"event_id": "has space"}, "event_id"),
        ({"event_id": 7}, "event_id"),
        ({"type": "order.deleted"}, "type"),
        ({"occurred_at": "2026-03-02T09:31:00"}, "occurred_at"),  # no zone
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": None}, "occurred_at"),
        ({"order": None}, "order"),
        ({"surprise": 1}, "surprise"),
        ({"order": {"id": "SO 1"}}, "order.id"),
        ({"order": {"id": None}}, "order.id"),
        ({"order": {"status": "lost"}}, "order.status"),
        ({"order": {"placed_at": None}}, "order.placed_at"),
        ({"order": {"placed_at": "2026-03-01"}}, "order.placed_at"),  # a date has no zone
        ({"order": {"promised_by": "05/03/2026"}}, "order.promised_by"),
        ({"order": {"promised_by": 20260305}}, "order.promised_by"),
        ({"order": {"shipped_at": "2026-03-02T09:30:00"}}, "order.shipped_at"),
        ({"order": {"delivered_at": 1}}, "order.delivered_at"),
        ({"order": {"customer_id": ""}}, "order.customer_id"),
        ({"order": {"customer_id": "a\nb"}}, "order.customer_id"),
        ({"order": {"carrier": "x" * 65}}, "order.carrier"),
        ({"order": {"tracking_number": 12}}, "order.tracking_number"),
        ({"order": {"exception": "x" * 501}}, "order.exception"),
        ({"order": {"refund_amount": -1, "currency": "USD"}}, "order.refund_amount"),
        ({"order": {"refund_amount": True, "currency": "USD"}}, "order.refund_amount"),
        ({"order": {"refund_amount": "12.00", "currency": "USD"}}, "order.refund_amount"),
        ({"order": {"refund_amount": 12.0}}, "order.currency"),  # an amount needs its currency
        ({"order": {"currency": "usd"}}, "order.currency"),
        ({"order": {"language": "fr"}}, "order.language"),
        ({"order": {"email": "not-an-email"}}, "order.email"),
        ({"order": {"promised_on": "2026-03-05"}}, "order.promised_on"),  # a typo is not ignored
        ({"type": "refund.processed"}, "order.refund_amount"),  # a refund event says how much
    ],
)
def test_a_bad_field_is_refused_by_name(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(body(**changes))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"', "[" * 100_000])
def test_a_body_that_is_not_a_json_object_is_refused(raw: bytes | str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(raw)
    assert caught.value.field == "body"


def test_text_fields_are_trimmed() -> None:
    order = parse_event(body(order={"carrier": "  DHL  "})).order
    assert order.carrier == "DHL"
