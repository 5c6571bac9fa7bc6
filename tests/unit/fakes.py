"""Fakes for the actions' dependencies and a tracker builder (unit tests only)."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from rasa_sdk import Tracker

from actions.hub_client import HandoffAccepted, HubError
from actions.orders.model import Order, OrderStateError, OrderStatus, ReturnAuthorization


class FakeOrderStore:
    def __init__(self, *orders: Order) -> None:
        self.orders = {o.id: o for o in orders}
        self.returns: list[ReturnAuthorization] = []

    async def get(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    async def recent_for_customer(self, customer_id: str, limit: int = 5) -> list[Order]:
        mine = [o for o in self.orders.values() if o.customer_id == customer_id]
        return sorted(mine, key=lambda o: o.placed_on, reverse=True)[:limit]

    async def cancel(self, order_id: str) -> Order:
        order = self.orders[order_id]
        if order.status not in (OrderStatus.PENDING, OrderStatus.PAID):
            raise OrderStateError(order.status.value)
        refunded = date.today() if order.status is OrderStatus.PAID else None
        cancelled = dataclasses.replace(
            order, status=OrderStatus.CANCELLED, cancelled_on=date.today(), refund_issued_on=refunded
        )
        self.orders[order_id] = cancelled
        return cancelled

    async def change_address(self, order_id: str, address: str) -> Order:
        order = self.orders[order_id]
        if order.status not in (OrderStatus.PENDING, OrderStatus.PAID):
            raise OrderStateError(order.status.value)
        self.orders[order_id] = dataclasses.replace(order, shipping_address=address)
        return self.orders[order_id]

    async def create_return(self, order_id: str, sku: str, reason: str) -> ReturnAuthorization:
        authorisation = ReturnAuthorization(
            f"RA-{100000 + len(self.returns)}", order_id, sku, reason, date.today()
        )
        self.returns.append(authorisation)
        return authorisation


class FakeHub:
    def __init__(self, fail: bool = False) -> None:
        self.packets: list[dict[str, Any]] = []
        self.fail = fail

    async def create_handoff(self, packet: dict[str, Any]) -> HandoffAccepted:
        if self.fail:
            raise HubError("down")
        self.packets.append(packet)
        return HandoffAccepted("queued", len(self.packets))


def make_tracker(
    slots: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    intent: str = "inform",
    text: str = "x",
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [],
        "metadata": metadata or {},
    }
    return Tracker(
        sender_id="conv-1",
        slots={"language": "en", **(slots or {})},
        latest_message=latest,
        events=events or [{"event": "user", "text": text, "parse_data": latest, "timestamp": 1.0}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name=None,
    )
