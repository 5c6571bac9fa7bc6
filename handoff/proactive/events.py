"""Order events: the body a shop backend posts to the hub, parsed and checked field by field.

The hub knows orders only through these events. Unknown keys are refused rather than ignored: a
misspelt `promised_by` would otherwise switch the late-shipment trigger off without a word.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any


class EventError(ValueError):
    """The event body is invalid; `field` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class EventType(StrEnum):
    ORDER_UPDATED = "order.updated"
    SHIPMENT_EXCEPTION = "shipment.exception"
    REFUND_PROCESSED = "refund.processed"
    RETURN_RECEIVED = "return.received"


class OrderStatus(StrEnum):
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"


LANGUAGES = ("en", "zh")
EVENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}\Z")
ORDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}\Z")
CURRENCY = re.compile(r"^[A-Z]{3}\Z")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
TEXT_LIMITS = {"customer_id": 128, "carrier": 64, "tracking_number": 64, "exception": 500}
MAX_REFUND = 1e9
EVENT_FIELDS = frozenset({"event_id", "type", "occurred_at", "order"})
ORDER_FIELDS = frozenset(
    {
        "id", "customer_id", "status", "placed_at", "promised_by", "shipped_at", "delivered_at", "carrier",
        "tracking_number", "exception", "refund_amount", "currency", "language", "email",
    }
)  # fmt: skip


@dataclass(frozen=True)
class OrderSnapshot:
    """The order as the event describes it; datetimes are aware and in UTC."""

    id: str
    customer_id: str | None
    status: OrderStatus
    placed_at: datetime
    promised_by: date | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    exception: str | None = None
    refund_amount: float | None = None
    currency: str | None = None
    language: str | None = None
    email: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form, as parsed by `parse_order`."""
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "status": self.status.value,
            "placed_at": self.placed_at.isoformat(),
            "promised_by": self.promised_by.isoformat() if self.promised_by else None,
            "shipped_at": self.shipped_at.isoformat() if self.shipped_at else None,
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
            "exception": self.exception,
            "refund_amount": self.refund_amount,
            "currency": self.currency,
            "language": self.language,
            "email": self.email,
        }


@dataclass(frozen=True)
class OrderEvent:
    event_id: str
    type: EventType
    occurred_at: datetime
    order: OrderSnapshot

    def as_dict(self) -> dict[str, Any]:
        """The JSON form, as parsed by `parse_event`."""
        return {
            "event_id": self.event_id,
            "type": self.type.value,
            "occurred_at": self.occurred_at.isoformat(),
            "order": self.order.as_dict(),
        }


def parse_event(body: bytes | str | Mapping[str, Any]) -> OrderEvent:
    """The event in a webhook body (raw JSON or already decoded); EventError names the first bad field."""
    raw = _decode(body) if isinstance(body, bytes | str) else body
    if not isinstance(raw, Mapping):
        raise EventError("body", "must be a JSON object")
    _no_unknown(raw, EVENT_FIELDS, "")
    event_id = raw.get("event_id")
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        raise EventError("event_id", "must be 1-128 letters, digits or _ . : -")
    kind = raw.get("type")
    if kind not in set(EventType):
        raise EventError("type", f"must be one of {', '.join(EventType)}")
    occurred_at = _datetime(raw.get("occurred_at"), "occurred_at", required=True)
    assert occurred_at is not None
    event_type = EventType(kind)
    order = parse_order(raw.get("order"), "order")
    if event_type is EventType.REFUND_PROCESSED and order.refund_amount is None:
        raise EventError("order.refund_amount", "is required for a refund.processed event")
    return OrderEvent(event_id, event_type, occurred_at, order)


def parse_order(raw: Any, where: str = "order") -> OrderSnapshot:
    if not isinstance(raw, Mapping):
        raise EventError(where, "must be an object")
    _no_unknown(raw, ORDER_FIELDS, f"{where}.")
    order_id = raw.get("id")
    if not isinstance(order_id, str) or not ORDER_ID.match(order_id):
        raise EventError(f"{where}.id", "must be 1-64 letters, digits or _ . - (like SO-12345678)")
    status = raw.get("status")
    if status not in set(OrderStatus):
        raise EventError(f"{where}.status", f"must be one of {', '.join(OrderStatus)}")
    placed_at = _datetime(raw.get("placed_at"), f"{where}.placed_at", required=True)
    assert placed_at is not None
    refund_amount = raw.get("refund_amount")
    if refund_amount is not None and (
        isinstance(refund_amount, bool)
        or not isinstance(refund_amount, int | float)
        or not math.isfinite(refund_amount)
        or not 0 <= refund_amount <= MAX_REFUND
    ):
        raise EventError(f"{where}.refund_amount", f"must be a number from 0 to {MAX_REFUND:.0f}, or null")
    currency = raw.get("currency")
    if currency is not None and (not isinstance(currency, str) or not CURRENCY.match(currency)):
        raise EventError(f"{where}.currency", "must be a three-letter ISO 4217 code like USD, or null")
    if refund_amount is not None and currency is None:
        raise EventError(f"{where}.currency", "is required with refund_amount")
    language = raw.get("language")
    if language is not None and language not in LANGUAGES:
        raise EventError(f"{where}.language", f"must be one of {', '.join(LANGUAGES)}, or null")
    email = raw.get("email")
    if email is not None and (not isinstance(email, str) or not EMAIL.match(email)):
        raise EventError(f"{where}.email", "must be an email address, or null")
    return OrderSnapshot(
        id=order_id,
        customer_id=_text(raw, "customer_id", where),
        status=OrderStatus(status),
        placed_at=placed_at,
        promised_by=_date(raw.get("promised_by"), f"{where}.promised_by"),
        shipped_at=_datetime(raw.get("shipped_at"), f"{where}.shipped_at"),
        delivered_at=_datetime(raw.get("delivered_at"), f"{where}.delivered_at"),
        carrier=_text(raw, "carrier", where),
        tracking_number=_text(raw, "tracking_number", where),
        exception=_text(raw, "exception", where),
        refund_amount=None if refund_amount is None else float(refund_amount),
        currency=currency,
        language=language,
        email=email,
    )


def _decode(body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise EventError("body", "is not valid JSON") from None


def _no_unknown(raw: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    unknown = sorted(str(key) for key in raw if key not in known)
    if unknown:
        raise EventError(f"{prefix}{unknown[0]}", "is not a known field")


def _text(raw: Mapping[str, Any], name: str, where: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    limit = TEXT_LIMITS[name]
    if not isinstance(value, str) or not value.strip() or len(value) > limit or _CONTROL.search(value):
        message = f"must be text of 1-{limit} characters without control characters"
        raise EventError(f"{where}.{name}", message)
    return value.strip()


def _datetime(value: Any, field: str, required: bool = False) -> datetime | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise EventError(field, "must be an ISO-8601 date and time with a time zone")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventError(field, f"{value[:40]!r} is not an ISO-8601 date and time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise EventError(field, "must include a time zone (like 2024-05-01T10:00:00Z or +08:00)")
    return parsed.astimezone(UTC)


def _date(value: Any, field: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise EventError(field, "must be an ISO-8601 date like 2024-05-01, or null")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise EventError(field, f"{value[:40]!r} is not an ISO-8601 date like 2024-05-01") from None
