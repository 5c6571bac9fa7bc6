"""Fakes for the assistant's and the hub's dependencies, and tracker and ticket builders (unit tests only).

The store fakes keep their interfaces' contracts: tests/integration/contract/ runs the same tests against
each fake and its real store, so a fake cannot drift from what production does.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from rasa_sdk import Tracker

from actions.hub_client import HandoffAccepted, HubError
from actions.orders.attempts import AttemptLimits
from actions.orders.model import Actor, AuditEntry, Order, OrderStateError, OrderStatus, ReturnAuthorization
from actions.orders.verification import postcode_of
from handoff import keys
from handoff.conversations import Owner
from handoff.routing.config import Hours, RoutingConfig
from handoff.routing.engine import HandoffStatus, RoutingError, SweepResult
from handoff.tickets.model import AutoReason, Ticket


class FakeOrderStore:
    """SqliteOrderStore's rules in memory; `orders`, `returns` and `audit` are open to the tests."""

    def __init__(self, *orders: Order) -> None:
        self.orders = {o.id: o for o in orders}
        self.returns: list[ReturnAuthorization] = []
        self.audit: list[AuditEntry] = []

    async def get(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    async def recent_for_customer(self, customer_id: str, limit: int = 5) -> list[Order]:
        mine = [o for o in self.orders.values() if o.customer_id == customer_id]
        return sorted(mine, key=lambda o: (o.placed_on, o.id), reverse=True)[:limit]

    def _unshipped(self, order_id: str) -> Order:
        order = self.orders[order_id]  # an unknown order is a KeyError, as in the real store
        if not order.cancellable:
            raise OrderStateError(f"order {order_id} is {order.status.value}")
        return order

    def _change(
        self, before: Order, after: Order, event: str, actor: Actor | None, fields: tuple[str, ...]
    ) -> Order:
        self.orders[after.id] = after
        self.audit.append(
            AuditEntry.of(after.id, event, actor, _audited(before, fields), _audited(after, fields))
        )
        return after

    async def cancel(self, order_id: str, actor: Actor | None = None) -> Order:
        order = self._unshipped(order_id)
        return self._change(order, _cancelled(order), "cancelled", actor, ("status", "refund_issued_on"))

    async def cancel_items(self, order_id: str, skus: list[str], actor: Actor | None = None) -> Order:
        order = self._unshipped(order_id)
        keep = tuple(i for i in order.items if i.sku not in skus)
        if len(keep) == len(order.items):
            raise OrderStateError(f"order {order_id} has none of {skus}")
        after = dataclasses.replace(order, items=keep) if keep else _cancelled(order)
        return self._change(order, after, "items_cancelled", actor, ("status", "items"))

    async def change_address(self, order_id: str, address: str, actor: Actor | None = None) -> Order:
        order = self._unshipped(order_id)
        moved = dataclasses.replace(order, shipping_address=address, postcode=postcode_of(address))
        return self._change(order, moved, "address_changed", actor, ("shipping_address",))

    async def create_return(
        self, order_id: str, sku: str, reason: str, actor: Actor | None = None
    ) -> ReturnAuthorization:
        order = self.orders[order_id]  # KeyError for an unknown order, as the real store
        if sku not in {item.sku for item in order.items}:
            raise OrderStateError(f"order {order_id} has no item {sku}")
        for existing in self.returns:  # asking twice gives the same authorisation
            if (existing.order_id, existing.sku) == (order_id, sku):
                return existing
        number = f"RA-{100000 + len(self.returns)}"
        authorisation = ReturnAuthorization(number, order_id, sku, reason, date.today())
        self.returns.append(authorisation)
        after = {"sku": sku, "reason": reason, "return_number": number}
        self.audit.append(AuditEntry.of(order_id, "return_authorised", actor, {}, after))
        return authorisation

    async def record(self, entry: AuditEntry) -> None:
        self.audit.append(entry.stamped())

    async def audit_trail(self, order_id: str) -> list[AuditEntry]:
        return [e for e in self.audit if e.order_id == order_id]


def _cancelled(order: Order) -> Order:
    """Cancelled today; a paid order is refunded at once."""
    refunded = date.today() if order.status is OrderStatus.PAID else order.refund_issued_on
    return dataclasses.replace(
        order, status=OrderStatus.CANCELLED, cancelled_on=date.today(), refund_issued_on=refunded
    )


def _audited(order: Order, fields: tuple[str, ...]) -> dict[str, str]:
    """The fields as the audit trail records them: item lines as "SKU xQUANTITY", no value as ""."""
    values: dict[str, str] = {}
    for name in fields:
        value = getattr(order, name)
        if name == "items":
            values[name] = ", ".join(f"{item.sku} x{item.quantity}" for item in value)
        else:
            values[name] = value.isoformat() if isinstance(value, date) else str(value or "")
    return values


class FakeAttemptLimiter:
    """RedisAttemptLimiter's rules in memory: allowances per conversation and per address, counted in a
    window that starts at the first wrong answer. `limit` sets both allowances at once."""

    def __init__(
        self,
        limits: AttemptLimits | None = None,
        *,
        limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        limits = limits or AttemptLimits()
        if limit is not None:
            limits = dataclasses.replace(limits, per_conversation=limit, per_address=limit)
        self.limits = limits
        self._clock = clock
        self._windows: dict[str, tuple[int, float]] = {}  # key: (wrong answers, end of the window)

    def _allowances(self, conversation_id: str, address: str | None) -> list[tuple[str, int]]:
        allowances = [(f"conv:{conversation_id}", self.limits.per_conversation)]
        if address:
            allowances.append((f"addr:{address}", self.limits.per_address))
        return allowances

    def _count(self, key: str) -> int:
        count, ends = self._windows.get(key, (0, 0.0))
        return count if self._clock() < ends else 0

    async def locked(self, conversation_id: str, address: str | None) -> bool:
        return any(self._count(key) >= limit for key, limit in self._allowances(conversation_id, address))

    async def failed(self, conversation_id: str, address: str | None) -> bool:
        used_up = False
        for key, limit in self._allowances(conversation_id, address):
            count = self._count(key) + 1
            ends = self._windows[key][1] if count > 1 else self._clock() + self.limits.window_seconds
            self._windows[key] = (count, ends)
            used_up = used_up or count >= limit
        return used_up


class Conversations:
    """The hub's conversation store and its view of the routing engine (ownership and a queue) in memory.
    `owners`, `fields`, `queue`, `ratings` and `surveys` are open to the tests."""

    def __init__(self) -> None:
        self.owners: dict[str, Owner] = {}
        self.queue: list[str] = []
        self.fields: dict[str, dict[str, str]] = {}
        self.ratings: list[tuple[str, int]] = []
        self.surveys: list[tuple[str, str, int]] = []
        self.identities: dict[str, str] = {}  # identity key (normalised as in Redis): conversation
        self.addresses: dict[tuple[str, str], str] = {}  # (channel, address): conversation

    async def info(self, conversation_id: str) -> dict[str, str]:
        info = dict(self.fields.get(conversation_id, {}))
        if conversation_id in self.owners:  # like the Redis hash: no owner field until one is set
            info["owner"] = self.owners[conversation_id].value
        return info

    async def read_fields(self, conversation_id: str, *names: str) -> dict[str, str | None]:
        info = await self.info(conversation_id)
        return {name: info.get(name) for name in names}

    async def update(self, conversation_id: str, fields: dict[str, str]) -> None:
        self.fields.setdefault(conversation_id, {}).update(fields)

    async def remove(self, conversation_id: str, *fields: str) -> None:
        for name in fields:
            self.fields.get(conversation_id, {}).pop(name, None)

    async def record_survey(self, conversation_id: str, agent_id: str, stars: int) -> None:
        self.surveys.append((conversation_id, agent_id, stars))

    async def rate(self, agent_id: str, stars: int) -> None:
        self.ratings.append((agent_id, stars))

    async def owner(self, conversation_id: str) -> Owner:
        return self.owners.get(conversation_id, Owner.BOT)

    async def set_owner(self, conversation_id: str, owner: Owner) -> None:
        self.owners[conversation_id] = owner

    async def packet(self, conversation_id: str) -> dict[str, Any] | None:
        return None

    async def conversation_for(self, channel: str, address: str, default: str) -> str:
        return self.addresses.get((channel, address), default)

    async def link_identities(
        self,
        identities: dict[str, str],
        candidate: str,
        channel: str | None = None,
        address: str | None = None,
    ) -> str:
        names = [keys.identity(kind, value) for kind, value in identities.items()]
        chosen = next((self.identities[n] for n in names if n in self.identities), candidate)
        for name in names:  # the first identity already linked wins; the others keep their links
            self.identities.setdefault(name, chosen)
        if channel and address:
            self.addresses[(channel, address)] = chosen
        return chosen

    async def enqueue(self, conversation_id: str, packet: Mapping[str, Any]) -> HandoffStatus:
        self.owners[conversation_id] = Owner.QUEUED
        self.queue.append(conversation_id)
        return HandoffStatus(
            conversation_id, "queued", "general", "en", "general:en", len(self.queue), None, None, None,
            False, False,
        )  # fmt: skip

    async def release(self, conversation_id: str, actor: str | None, new_owner: str) -> tuple[str, str]:
        previous = self.owners[conversation_id]
        self.owners[conversation_id] = Owner(new_owner)
        return previous.value, actor or ""


class MemoryRedis:
    """The Redis calls of handoff.lifecycle and handoff.service_level in memory (expiry recorded, not
    enforced); `hashes`, `strings`, `sorted_sets`, `streams` and `published` are open to the tests."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}
        self.strings: dict[str, str] = {}
        self.expiry: dict[str, int] = {}
        self.sorted_sets: dict[str, dict[str, float]] = {}
        self.streams: dict[str, list[dict[str, str]]] = {}
        self.published: list[tuple[str, dict[str, Any]]] = []  # channel, decoded JSON

    async def hget(self, key: str, field: str) -> str | None:
        return self.hashes.get(key, {}).get(field)

    async def hmget(self, key: str, names: str | list[str], *more: str) -> list[str | None]:
        wanted = [names] if isinstance(names, str) else list(names)
        return [self.hashes.get(key, {}).get(name) for name in [*wanted, *more]]

    async def hset(
        self,
        key: str,
        field: str | None = None,
        value: str | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> int:
        changes = dict(mapping or {})
        if field is not None and value is not None:
            changes[field] = value
        stored = self.hashes.setdefault(key, {})
        added = len(set(changes) - set(stored))
        stored.update(changes)
        return added

    async def set(self, key: str, value: str, nx: bool = False, ex: int | None = None) -> bool | None:
        if nx and key in self.strings:
            return None
        self.strings[key] = value
        if ex is not None:
            self.expiry[key] = ex
        return True

    async def xadd(
        self, key: str, fields: Mapping[str, str], maxlen: int | None = None, approximate: bool = True
    ) -> str:
        entries = self.streams.setdefault(key, [])
        entries.append(dict(fields))
        return f"{len(entries)}-0"

    async def publish(self, channel: str, message: str) -> int:
        self.published.append((channel, json.loads(message)))
        return 0

    async def zadd(self, key: str, mapping: Mapping[str, float]) -> int:
        members = self.sorted_sets.setdefault(key, {})
        added = len(set(mapping) - set(members))
        members.update(mapping)
        return added

    async def zrange(self, key: str, start: int, end: int) -> list[str]:
        ranked = sorted(self.sorted_sets.get(key, {}).items(), key=lambda item: (item[1], item[0]))
        return [member for member, _ in ranked][start : None if end == -1 else end + 1]

    def pipeline(self, transaction: bool = True) -> MemoryPipeline:
        return MemoryPipeline(self)


class MemoryPipeline:
    """A MemoryRedis pipeline: reads queued, answered together by `execute`."""

    def __init__(self, redis: MemoryRedis) -> None:
        self._redis = redis
        self._queued: list[Callable[[], Any]] = []

    async def __aenter__(self) -> MemoryPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def hget(self, key: str, field: str) -> MemoryPipeline:
        self._queued.append(lambda: self._redis.hget(key, field))
        return self

    async def execute(self) -> list[Any]:
        queued, self._queued = self._queued, []
        return [await call() for call in queued]


class FakeRouting:
    """The routing engine as the handoff lifecycle drives it. `owners` answers release like the RELEASE
    script (only a routed conversation; a waiting-only release refuses an agent's chat); each sweep hands
    out `due_tickets` once, or fails while `failing_sweeps` lasts."""

    def __init__(self, hours: Hours | None = None) -> None:
        self.config = RoutingConfig(hours=hours)
        self.owners: dict[str, str] = {}
        self.due_tickets: list[str] = []
        self.sweeps = 0
        self.failing_sweeps = 0

    async def release(
        self, conversation_id: str, actor: str | None, new_owner: str, waiting_only: bool = False
    ) -> tuple[str, str]:
        previous = self.owners.get(conversation_id, "bot")
        if previous not in ("queued", "offered", "agent"):
            raise RoutingError("not_routed", f"conversation '{conversation_id}' is not with the routing")
        if waiting_only and previous == "agent":
            raise RoutingError("answered", f"conversation '{conversation_id}' is already with an agent")
        self.owners[conversation_id] = new_owner
        return previous, ""

    async def sweep(self) -> SweepResult:
        self.sweeps += 1
        if self.failing_sweeps:
            self.failing_sweeps -= 1
            raise ConnectionError("redis went away")
        due, self.due_tickets = self.due_tickets, []
        return SweepResult([], due)


@dataclasses.dataclass(frozen=True)
class AutoTicket:
    id: str
    conversation_id: str
    reason: AutoReason


class FakeTickets:
    """TicketStore.create_auto's rule: one ticket per handoff (here: per conversation), whoever asks first;
    later calls get it with created False. `created` lists the tickets in order."""

    def __init__(self) -> None:
        self.created: list[AutoTicket] = []

    async def create_auto(self, conversation_id: str, reason: AutoReason) -> tuple[AutoTicket, bool]:
        for ticket in self.created:
            if ticket.conversation_id == conversation_id:
                return ticket, False
        ticket = AutoTicket(f"T-{len(self.created) + 1:06d}", conversation_id, reason)
        self.created.append(ticket)
        return ticket, True


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
    affect: dict[str, Any] | None = None,
    active_loop: str | None = None,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [],
        "metadata": metadata or {},
        **({"affect": affect} if affect is not None else {}),
    }
    return Tracker(
        sender_id="conv-1",
        slots={"language": "en", **(slots or {})},
        latest_message=latest,
        events=events or [{"event": "user", "text": text, "parse_data": latest, "timestamp": 1.0}],
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name=None,
    )


def make_ticket(**overrides: Any) -> Ticket:
    """An open agent-made ticket about a missing parcel; `overrides` replace any of its fields."""
    fields: dict[str, Any] = {
        "id": "T-000001",
        "status": "open",
        "subject": "Parcel missing",
        "description": "",
        "conversation_id": None,
        "customer_id": None,
        "language": "en",
        "intent": None,
        "category": "orders",
        "skill": "orders",
        "priority": "normal",
        "source": "agent",
        "auto_reason": None,
        "assignee": None,
        "created_by": "ann",
        "created_at": 1.0,
        "updated_at": 1.0,
    }
    return Ticket(**{**fields, **overrides})
