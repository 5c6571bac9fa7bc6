"""Order events for the hub's proactive messages (docs/proactive.md, "Order events"): an `Order` turned into
the signed body a shop backend posts to `{HUB_URL}/webhooks/orders`, and the client that posts it.

The hub parses these bodies strictly (unknown keys refused, times with a zone), so the body is built here
from the order's own fields and the few an event adds (the carrier's exception text, a refund's amount).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx

from actions.orders.model import Order, OrderStatus
from common.env import read_secret, read_url
from common.webhook_signature import HEADER, sign

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/orders"
LANGUAGES = ("en", "zh")
MAX_EXCEPTION_TEXT = 500
MAX_REFUND = 1e9
RETRY_STATUSES = frozenset({502, 503, 504})  # a hub restarting or failing over: worth one more try


class EventType(StrEnum):
    ORDER_UPDATED = "order.updated"
    SHIPMENT_EXCEPTION = "shipment.exception"
    REFUND_PROCESSED = "refund.processed"
    RETURN_RECEIVED = "return.received"


# The hub knows five states; an order waiting for its payment is, to the customer, still being processed.
HUB_STATUS = {
    OrderStatus.PENDING: "processing",
    OrderStatus.PAID: "processing",
    OrderStatus.SHIPPED: "shipped",
    OrderStatus.DELIVERED: "delivered",
    OrderStatus.CANCELLED: "cancelled",
    OrderStatus.RETURNED: "returned",
}


class EventBodyError(ValueError):
    """The event cannot be built; `field` names the offending field of the body."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def new_event_id() -> str:
    """Unique per event: the hub answers 409 to an id it has seen in the last seven days."""
    return f"evt_{secrets.token_hex(12)}"


def order_event(
    order: Order,
    event_type: EventType,
    now: datetime,
    *,
    event_id: str | None = None,
    language: str | None = None,
    exception: str | None = None,
    refund_amount: float | None = None,
) -> dict[str, Any]:
    """The webhook body for `order` at `now` (aware: it is `occurred_at`). A shipment.exception needs the
    carrier's `exception` text, a refund.processed its `refund_amount` in the order's currency."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise EventBodyError("occurred_at", "must be a datetime with a time zone")
    if event_type is EventType.SHIPMENT_EXCEPTION and exception is None:
        raise EventBodyError("order.exception", "is required for a shipment.exception event")
    if event_type is EventType.REFUND_PROCESSED and refund_amount is None:
        raise EventBodyError("order.refund_amount", "is required for a refund.processed event")
    return {
        "event_id": event_id or new_event_id(),
        "type": event_type.value,
        "occurred_at": now.isoformat(timespec="seconds"),
        "order": order_snapshot(
            order, now, language=language, exception=exception, refund_amount=refund_amount
        ),
    }


def order_snapshot(
    order: Order,
    now: datetime,
    *,
    language: str | None = None,
    exception: str | None = None,
    refund_amount: float | None = None,
) -> dict[str, Any]:
    """The `order` object of the body. The order knows days, the hub wants moments: a day `n` days ago is
    read as `now` minus `n` days, so an order placed today was placed "now" and the hub's hour-based
    triggers (stuck after N hours) see the ages the store's days mean."""
    if language is not None and language not in LANGUAGES:
        raise EventBodyError("order.language", f"must be one of {', '.join(LANGUAGES)}, or None")
    return {
        "id": order.id,
        "customer_id": order.customer_id or None,
        "status": HUB_STATUS[order.status],
        "placed_at": _moment(order.placed_on, now),
        "promised_by": order.eta.isoformat() if order.eta else None,
        "shipped_at": _moment(order.shipped_on, now) if order.shipped_on else None,
        "delivered_at": _moment(order.delivered_on, now) if order.delivered_on else None,
        "carrier": _text("order.carrier", order.carrier, 64),
        "tracking_number": _text("order.tracking_number", order.tracking_number, 64),
        "exception": _text("order.exception", exception, MAX_EXCEPTION_TEXT),
        "refund_amount": _amount(refund_amount),
        "currency": order.currency,
        "language": language,
        "email": order.email or None,
    }


def encode(event: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed and sent: the signature covers these, not a re-serialisation."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def signed_headers(secret: str, body: bytes, t: int) -> dict[str, str]:
    return {"Content-Type": "application/json", HEADER: sign(secret, body, t)}


def _moment(day: date, now: datetime) -> str:
    return (now - timedelta(days=(now.date() - day).days)).isoformat(timespec="seconds")


def _text(field: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > limit or not text.isprintable():
        raise EventBodyError(field, f"must be 1-{limit} printable characters")
    return text


def _amount(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EventBodyError("order.refund_amount", "must be a number")
    if not 0 <= value <= MAX_REFUND:
        raise EventBodyError("order.refund_amount", f"must be from 0 to {MAX_REFUND:.0f}")
    return round(float(value), 2)


class PostError(Exception):
    """The event did not reach the hub, or the hub refused it."""


class HubUnavailable(PostError):
    """No answer from the hub (refused connection, timeout), or a hub that failed (5xx) twice."""


class HubRefused(PostError):
    """The hub answered 4xx: a wrong signature (401), a body it cannot take (400, `field` says which)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class Delivery:
    """The hub's answer to one event. `duplicate`: it had the event already (409), which after a retry
    means the first attempt got through."""

    event_id: str
    status: int
    duplicate: bool
    message: str


class OrderEventPoster:
    """Posts signed order events to the hub. A transport error or a 502-504 is retried once with a fresh
    signature: safe, because the hub takes an event id once (a retry of a post that did get through is
    answered 409 and reported as a duplicate)."""

    def __init__(
        self,
        hub_url: str,
        secret: str,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        retry_delay: float = 0.5,
    ) -> None:
        if not secret:
            raise ValueError("the order webhook secret must not be empty")
        self.url = f"{hub_url.rstrip('/')}{WEBHOOK_PATH}"
        self._secret = secret
        self._timeout = timeout
        self._clock = clock
        self._retry_delay = retry_delay

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OrderEventPoster:
        """HUB_URL (default http://127.0.0.1:8000) and ORDER_WEBHOOK_SECRET, the hub's own; SettingsError
        names a variable that is missing or malformed."""
        return cls(
            read_url(env, "HUB_URL", "http://127.0.0.1:8000", ("http", "https")),
            read_secret(env, "ORDER_WEBHOOK_SECRET"),
        )

    async def post(self, event: Mapping[str, Any]) -> Delivery:
        """Delivery for an event the hub took (or had already); HubRefused or HubUnavailable otherwise."""
        body = encode(event)
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            outcome = await self._attempt(client, body)
            if isinstance(outcome, httpx.TransportError) or outcome.status_code in RETRY_STATUSES:
                logger.info("actions.order_events.retry", extra={"outcome": _describe(outcome)})
                await asyncio.sleep(self._retry_delay)
                outcome = await self._attempt(client, body)
        if isinstance(outcome, httpx.TransportError):
            raise HubUnavailable(f"the hub at {self.url} is unreachable: {_describe(outcome)}") from outcome
        return _delivery(str(event.get("event_id", "")), outcome, self.url)

    async def _attempt(self, client: httpx.AsyncClient, body: bytes) -> httpx.Response | httpx.TransportError:
        headers = signed_headers(self._secret, body, int(self._clock()))  # signed anew: t is in the signature
        try:
            return await client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:  # refused, reset, timed out
            return exc


def _describe(outcome: httpx.Response | httpx.TransportError) -> str:
    if isinstance(outcome, httpx.Response):
        return f"status {outcome.status_code}"
    return f"{type(outcome).__name__}: {outcome}" if str(outcome) else type(outcome).__name__


def _delivery(event_id: str, response: httpx.Response, url: str) -> Delivery:
    message, field = _hub_message(response)
    status = response.status_code
    if 200 <= status < 300:
        return Delivery(event_id, status, duplicate=False, message=message or "accepted")
    if status == 409:
        return Delivery(event_id, status, duplicate=True, message=message or "received before")
    message = message or "no message"
    if status == 401:
        raise HubRefused(status, f"the hub refused the signature (check ORDER_WEBHOOK_SECRET): {message}")
    if status == 400:
        raise HubRefused(status, f"the hub refused the event: {message}", field)
    if status >= 500:
        raise HubUnavailable(f"the hub at {url} failed ({status}): {message}")
    raise HubRefused(status, f"the hub at {url} answered {status}: {message}", field)


def _hub_message(response: httpx.Response) -> tuple[str, str | None]:
    """The hub's `message` and `field` ({"error", "message", "field"?}; "" for a JSON answer without a
    message, like the 202), or the start of a body that is not a JSON object (a proxy's error page)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return response.text[:200].strip(), None
    message, field = body.get("message"), body.get("field")
    return (str(message) if message is not None else "", field if isinstance(field, str) else None)
