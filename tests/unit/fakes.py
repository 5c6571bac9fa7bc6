"""Fakes for the actions' dependencies and a tracker builder (unit tests only)."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from rasa_sdk import Tracker

from actions.hub_client import HandoffAccepted, HubError
from actions.orders.model import (
    Actor,
    AuditEntry,
    Order,
    OrderStateError,
    OrderStatus,
    ReturnAuthorization,
)


class FakeOrderStore:
    def __init__(self, *orders: Order) -> None:
        self.orders = {o.id: o for o in orders}
        self.returns: list[ReturnAuthorization] = []
        self.audit: list[AuditEntry] = []

    async def get(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    async def recent_for_customer(self, customer_id: str, limit: int = 5) -> list[Order]:
        mine = [o for o in self.orders.values() if o.customer_id == customer_id]
        return sorted(mine, key=lambda o: o.placed_on, reverse=True)[:limit]

    def _log(self, order_id: str, event: str, actor: Actor | None, after: dict[str, str]) -> None:
        self.audit.append(
            AuditEntry(
                order_id, event, actor.conversation_id if actor else "", actor.channel if actor else "",
                actor.customer_id if actor else None, actor.verified_by if actor else None, after=after,
            )
        )  # fmt: skip

    async def cancel(self, order_id: str, actor: Actor | None = None) -> Order:
        order = self.orders[order_id]
        if order.status not in (OrderStatus.PENDING, OrderStatus.PAID):
            raise OrderStateError(order.status.value)
        refunded = date.today() if order.status is OrderStatus.PAID else None
        cancelled = dataclasses.replace(
            order, status=OrderStatus.CANCELLED, cancelled_on=date.today(), refund_issued_on=refunded
        )
        self.orders[order_id] = cancelled
        self._log(order_id, "cancelled", actor, {"status": "cancelled"})
        return cancelled

    async def cancel_items(self, order_id: str, skus: list[str], actor: Actor | None = None) -> Order:
        order = self.orders[order_id]
        keep = tuple(i for i in order.items if i.sku not in skus)
        if order.status not in (OrderStatus.PENDING, OrderStatus.PAID) or len(keep) == len(order.items):
            raise OrderStateError(order.status.value)
        if not keep:
            return await self.cancel(order_id, actor)
        self.orders[order_id] = dataclasses.replace(order, items=keep)
        self._log(order_id, "items_cancelled", actor, {"items": ", ".join(i.sku for i in keep)})
        return self.orders[order_id]

    async def change_address(self, order_id: str, address: str, actor: Actor | None = None) -> Order:
        order = self.orders[order_id]
        if order.status not in (OrderStatus.PENDING, OrderStatus.PAID):
            raise OrderStateError(order.status.value)
        self.orders[order_id] = dataclasses.replace(order, shipping_address=address)
        self._log(order_id, "address_changed", actor, {"shipping_address": address})
        return self.orders[order_id]

    async def create_return(
        self, order_id: str, sku: str, reason: str, actor: Actor | None = None
    ) -> ReturnAuthorization:
        authorisation = ReturnAuthorization(
            f"RA-{100000 + len(self.returns)}", order_id, sku, reason, date.today()
        )
        self.returns.append(authorisation)
        self._log(order_id, "return_authorised", actor, {"sku": sku})
        return authorisation

    async def record(self, entry: AuditEntry) -> None:
        self.audit.append(entry)

    async def audit_trail(self, order_id: str) -> list[AuditEntry]:
        return [e for e in self.audit if e.order_id == order_id]


class FakeAttemptLimiter:
    """The Redis limiter's rules in memory: `limit` wrong answers per conversation and per address."""

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.counts: dict[str, int] = {}

    def _keys(self, conversation_id: str, address: str | None) -> list[str]:
        return [f"conv:{conversation_id}", *([f"addr:{address}"] if address else [])]

    async def locked(self, conversation_id: str, address: str | None) -> bool:
        return any(self.counts.get(k, 0) >= self.limit for k in self._keys(conversation_id, address))

    async def failed(self, conversation_id: str, address: str | None) -> bool:
        for key in self._keys(conversation_id, address):
            self.counts[key] = self.counts.get(key, 0) + 1
        return await self.locked(conversation_id, address)


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
