"""Tickets in Redis: creation (on demand, and once per handoff that ended unresolved), listings by any
mix of status, skill, assignee, conversation and promise, and atomic updates with history (agents'
changes, replies to the customer and the customer's replies).

Keys: handoff/keys.py, "tickets", and the promise index below. Every index but that one scores by the
ticket's `seq`, so listings intersect and union them server-side without scanning tickets.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from handoff import keys
from handoff.analytics.feed import AnalyticsFeed, fact
from handoff.errors import BadRequest, Conflict, NotFoundError
from handoff.routing.config import RoutingConfig
from handoff.routing.engine import EVENTS_CHANNEL, LANGUAGES
from handoff.tickets.model import (
    DUE_WITHIN_SECONDS,
    AutoReason,
    NewTicket,
    Priority,
    Promise,
    PromiseState,
    Source,
    Ticket,
    TicketChanges,
    TicketStatus,
    Viewer,
)
from handoff.tickets.rules import (
    DEFAULT_CATEGORY,
    Diff,
    auto_description,
    auto_subject,
    check_transition,
    customer_email_from,
    customer_reply_diff,
    derive_category,
    derive_priority,
    promise_diff,
    reply_diff,
)
from handoff.tickets.scripts import CREATE, LIST, NEW_ID

# -- storage -----------------------------------------------------------------------------------------

TICKET_ID = re.compile(r"^T-\d{6,}\Z")
AUTO_TTL = 30 * 86400  # a handoff's dedupe key only has to outlive the sweeps and retries of that handoff
UPDATE_ATTEMPTS = 5
SYSTEM_ACTOR = "system"
CUSTOMER_ACTOR = "customer"
PROMISE_FILTERS = (PromiseState.DUE.value, PromiseState.OVERDUE.value)
# The statuses whose promise is still to keep: a solved or closed ticket's is out of the promise listings.
PROMISE_LISTED = frozenset({TicketStatus.OPEN.value, TicketStatus.PENDING.value})


def promised_tickets() -> str:
    """Sorted set: the open and pending tickets whose promise is not kept yet, scored by its `due_at`."""
    return f"{keys.PREFIX}:tickets:promised"


@dataclass(frozen=True)
class _Change:
    """One history entry and the field changes it records (`diff` may be empty: a note, a reply)."""

    diff: Diff
    action: str
    actor: str
    note: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class TicketStore:
    def __init__(
        self, redis: Redis, routing_config: RoutingConfig, clock: Callable[[], float] = time.time
    ) -> None:
        # decode_responses=True: replies are str, which redis-py's stubs (bytes | str) cannot express.
        self._redis: Any = redis
        self.config = routing_config
        self._clock = clock
        self._create = redis.register_script(CREATE)
        self._list = redis.register_script(LIST)
        self.analytics: AnalyticsFeed | None = None  # set when the analytical store is on

    @property
    def redis(self) -> Any:
        return self._redis

    # -- creating ------------------------------------------------------------------------------------

    async def create(self, new: NewTicket, actor: str) -> Ticket:
        """An on-demand ticket; fields left None are filled from the conversation (if any), else defaults."""
        info: dict[str, str] = {}
        packet: dict[str, Any] = {}
        if new.conversation_id:
            info, packet = await self._context(new.conversation_id)
            if not info and not packet:
                raise NotFoundError("unknown_conversation", f"no conversation '{new.conversation_id}'")
        if new.assignee:
            await self._check_agent(new.assignee)
        intent = new.intent or _str(packet.get("intent"))
        fields = {
            "status": TicketStatus.OPEN.value,
            "subject": new.subject,
            "description": new.description,
            "conversation_id": new.conversation_id,
            "customer_id": new.customer_id or info.get("customer_id") or _str(packet.get("customer_id")),
            "language": new.language or _language(info, packet),
            "intent": intent,
            "category": new.category or derive_category(packet, intent),
            "skill": new.skill or self._skill(info, packet, intent),
            "priority": new.priority or derive_priority(packet),
            "source": Source.AGENT.value,
            "auto_reason": None,
            "assignee": new.assignee,
            "created_by": actor,
            "customer_email": new.customer_email or customer_email_from(packet),
        }
        ticket_id, _ = await self._insert(fields, actor, dedupe="")
        return await self.get(ticket_id)

    async def create_auto(
        self, conversation_id: str, reason: AutoReason | str, handoff_id: str | None = None
    ) -> tuple[Ticket, bool]:
        """The ticket for a handoff that ended unresolved; (ticket, created).

        One ticket per conversation and handoff, whichever worker or path asks first (sweeps run in every
        worker; the customer may also leave after the overflow ticket was made): later calls return it.
        `handoff_id` defaults to the conversation's `qscore`, written once per handoff by the ENQUEUE
        script and kept through widening and transfers; without one (never routed), to the packet's digest.
        """
        why = AutoReason(reason)  # ValueError: a caller's bug, not a client's
        info, packet = await self._context(conversation_id)
        if not info and not packet:
            raise NotFoundError("unknown_conversation", f"no conversation '{conversation_id}'")
        marker = handoff_id or info.get("qscore") or _digest(packet)
        dedupe = keys.auto_ticket(conversation_id, marker)
        existing = await self._redis.get(dedupe)
        if existing:  # the common repeat: skip building the ticket again
            return await self.get(existing), False
        intent = _str(packet.get("intent"))
        skill = self._skill(info, packet, intent)
        fields = {
            "status": TicketStatus.OPEN.value,
            "subject": auto_subject(why, packet, intent, skill),
            "description": auto_description(why, packet, info),
            "conversation_id": conversation_id,
            "customer_id": info.get("customer_id") or _str(packet.get("customer_id")),
            "language": _language(info, packet),
            "intent": intent,
            "category": derive_category(packet, intent),
            "skill": skill,
            "priority": derive_priority(packet),
            "source": Source.AUTO.value,
            "auto_reason": why.value,
            "assignee": None,
            "created_by": SYSTEM_ACTOR,
            "customer_email": customer_email_from(packet),
        }
        ticket_id, created = await self._insert(fields, SYSTEM_ACTOR, dedupe=dedupe)
        if created and self.analytics is not None:  # the case ended unresolved: the contact ends as a ticket
            await self.analytics.emit(fact("ticket", conversation_id, ticket_id=ticket_id, reason=why.value))
        return await self.get(ticket_id), created

    async def _insert(self, fields: dict[str, str | None], actor: str, dedupe: str) -> tuple[str, bool]:
        now = self._clock()
        stored: dict[str, str] = {k: v for k, v in fields.items() if v is not None}
        stored["created_at"] = stored["updated_at"] = f"{now:.3f}"
        entry = {"at": round(now, 3), "actor": actor, "action": "created", "changes": {}, "note": None}
        result = await self._create(
            args=[
                dedupe,
                AUTO_TTL,
                json.dumps(stored, ensure_ascii=False),
                json.dumps(entry, ensure_ascii=False),
                json.dumps(_new_ticket_keys(stored), ensure_ascii=False),
            ]
        )
        ticket_id, created = str(result[0]), result[1] == 1
        if created:
            await self._publish(ticket_id, stored["skill"])
        return ticket_id, created

    # -- reading -------------------------------------------------------------------------------------

    async def get(self, ticket_id: str) -> Ticket:
        if not TICKET_ID.match(ticket_id):
            raise NotFoundError("unknown_ticket", f"no ticket '{ticket_id}'")
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.ticket(ticket_id))
            pipe.lrange(keys.ticket_history(ticket_id), 0, -1)
            raw, history = await pipe.execute()
        if not raw:
            raise NotFoundError("unknown_ticket", f"no ticket '{ticket_id}'")
        return _from_hash(raw, [json.loads(h) for h in history])

    async def find(
        self,
        *,
        viewer: Viewer | None = None,
        statuses: Sequence[str] = (),
        skill: str | None = None,
        assignee: str | None = None,
        unassigned: bool = False,
        conversation_id: str | None = None,
        promise: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Ticket], int]:
        """(tickets newest first without history, total matching). `viewer` limits to what they may see;
        `promise` (due or overdue) to open and pending tickets whose unkept promise is in that state now."""
        groups: list[list[str]] = []
        if viewer is not None and viewer.skills is not None:
            visible = [keys.tickets_by_skill(s) for s in sorted(viewer.skills)]
            if viewer.agent_id:
                visible.append(keys.tickets_by_assignee(viewer.agent_id))
            if not visible:
                return [], 0
            groups.append(visible)
        if statuses:
            groups.append([keys.tickets_by_status(s) for s in dict.fromkeys(statuses)])
        if skill:
            groups.append([keys.tickets_by_skill(skill)])
        if unassigned:
            groups.append([keys.unassigned_tickets()])
        elif assignee:
            groups.append([keys.tickets_by_assignee(assignee)])
        if conversation_id:
            groups.append([keys.tickets_by_conversation(conversation_id)])
        if not groups:
            groups.append([keys.all_tickets()])
        tmp = keys.ticket_listing(uuid.uuid4().hex)
        args: list[Any] = [json.dumps(groups), tmp, offset, limit]
        if promise is not None:
            if promise not in PROMISE_FILTERS:
                raise ValueError(f"promise filter must be one of {', '.join(PROMISE_FILTERS)}")
            now = self._clock()
            low, high = (
                ("-inf", f"({now!r}") if promise == "overdue" else (repr(now), repr(now + DUE_WITHIN_SECONDS))
            )
            args += [promised_tickets(), low, high, keys.all_tickets()]
        total, ids = await self._list(args=args)
        if not ids:
            return [], int(total)
        async with self._redis.pipeline(transaction=False) as pipe:
            for ticket_id in ids:
                pipe.hgetall(keys.ticket(ticket_id))
            rows = await pipe.execute()
        return [_from_hash(r, []) for r in rows if r], int(total)

    async def counts(self) -> dict[str, dict[str, int]]:
        """skill → status → number of tickets, for dashboards (one hash read, no scan)."""
        out: dict[str, dict[str, int]] = {}
        for name, count in (await self._redis.hgetall(keys.ticket_counts())).items():
            skill, _, status = str(name).rpartition(":")
            if int(count):
                out.setdefault(skill, {})[status] = int(count)
        return out

    async def open_counts(self) -> dict[str, int]:
        """skill → number of open tickets (the supervisor overview's backlog)."""
        return {
            skill: statuses[TicketStatus.OPEN]
            for skill, statuses in (await self.counts()).items()
            if statuses.get(TicketStatus.OPEN)
        }

    # -- changing ------------------------------------------------------------------------------------

    async def update(
        self,
        ticket_id: str,
        changes: TicketChanges,
        actor: str,
        check: Callable[[Ticket, TicketChanges], None] | None = None,
    ) -> Ticket:
        """Apply a validated change atomically: the status check and the writes see the same ticket.

        `check` runs on the current ticket before anything is written (permissions); it raises to refuse.
        """
        if not TICKET_ID.match(ticket_id):
            raise NotFoundError("unknown_ticket", f"no ticket '{ticket_id}'")
        assignee = changes.fields.get("assignee")
        if assignee:
            await self._check_agent(assignee)

        def decide(current: Ticket, now: float) -> _Change | None:
            if check is not None:
                check(current, changes)
            diff = _diff(current, changes, now)
            if not diff and not changes.note:
                return None
            return _Change(diff, "updated" if diff else "noted", actor, changes.note)

        return await self._change(ticket_id, decide)

    async def record_reply(
        self, ticket_id: str, actor: str, text: str, message_id: str | None, email_id: str | None
    ) -> Ticket:
        """An agent's reply to the customer (`message_id` in the conversation, `email_id` in the outbox):
        recorded with its text; an open ticket becomes pending and a reply promise is kept. A ticket closed
        meanwhile only gets the record (the reply has gone out)."""
        extra = {
            "text": text,
            "message_id": message_id,
            "email_id": email_id,
            "emailed": email_id is not None,
        }

        def decide(current: Ticket, now: float) -> _Change:
            diff = {} if current.status == TicketStatus.CLOSED else reply_diff(current, now)
            return _Change(diff, "replied", actor, extra=extra)

        return await self._change(ticket_id, decide)

    async def record_customer_reply(
        self, ticket_id: str, text: str, truncated: bool, channel: str, sender: str | None
    ) -> Ticket:
        """The customer wrote outside the chat (an email): recorded with its text, the ticket open again."""
        extra = {"text": text, "truncated": truncated, "channel": channel, "from": sender}

        def decide(current: Ticket, now: float) -> _Change:
            return _Change(customer_reply_diff(current), "customer_replied", CUSTOMER_ACTOR, extra=extra)

        return await self._change(ticket_id, decide)

    async def record(self, ticket_id: str, actor: str, action: str, **extra: Any) -> Ticket:
        """A history entry that changes no field (an email sent again, ...)."""
        return await self._change(ticket_id, lambda current, now: _Change({}, action, actor, extra=extra))

    async def _change(self, ticket_id: str, decide: Callable[[Ticket, float], _Change | None]) -> Ticket:
        """Read the ticket, `decide` what changes (None: nothing; it may raise to refuse), and write that
        with its history entry in one transaction that fails if the ticket changed since the read."""
        if not TICKET_ID.match(ticket_id):
            raise NotFoundError("unknown_ticket", f"no ticket '{ticket_id}'")
        key = keys.ticket(ticket_id)
        for _ in range(UPDATE_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.hgetall(key)
                    if not raw:
                        raise NotFoundError("unknown_ticket", f"no ticket '{ticket_id}'")
                    current = _from_hash(raw, [])
                    now = self._clock()
                    change = decide(current, now)
                    if change is None:
                        await pipe.unwatch()
                        return await self.get(ticket_id)
                    pipe.multi()
                    self._write(pipe, current, int(raw["seq"]), change, now)
                    await pipe.execute()
                except WatchError:
                    continue  # someone changed it between the read and the write: decide again
            new_skill = change.diff.get("skill", (None, current.skill))[1]
            await self._publish(ticket_id, str(new_skill))
            return await self.get(ticket_id)
        raise Conflict("ticket_busy", f"ticket {ticket_id} is being changed by others; try again")

    def _write(self, pipe: Any, current: Ticket, seq: int, change: _Change, now: float) -> None:
        diff = change.diff
        key = keys.ticket(current.id)
        values = {k: _stored(new) for k, (_, new) in diff.items() if new is not None}
        pipe.hset(key, mapping={**values, "updated_at": f"{now:.3f}"})
        cleared = [k for k, (_, new) in diff.items() if new is None]
        if cleared:
            pipe.hdel(key, *cleared)
        if "status" in diff:
            pipe.zrem(keys.tickets_by_status(current.status), current.id)
            pipe.zadd(keys.tickets_by_status(str(diff["status"][1])), {current.id: seq})
        if "skill" in diff:
            pipe.zrem(keys.tickets_by_skill(current.skill), current.id)
            pipe.zadd(keys.tickets_by_skill(str(diff["skill"][1])), {current.id: seq})
        if "assignee" in diff:
            pipe.zrem(_assignee_index(current.assignee), current.id)
            pipe.zadd(_assignee_index(diff["assignee"][1]), {current.id: seq})
        if "status" in diff or "skill" in diff:
            new_skill = diff.get("skill", (None, current.skill))[1]
            new_status = diff.get("status", (None, current.status))[1]
            pipe.hincrby(keys.ticket_counts(), _count_field(current.skill, current.status), -1)
            pipe.hincrby(keys.ticket_counts(), _count_field(str(new_skill), str(new_status)), 1)
        if "promise" in diff or "status" in diff:
            promise = diff.get("promise", (None, current.promise))[1]
            status = str(diff.get("status", (None, current.status))[1])
            if promise is not None and promise.kept_at is None and status in PROMISE_LISTED:
                pipe.zadd(promised_tickets(), {current.id: promise.due_at})
            else:
                pipe.zrem(promised_tickets(), current.id)
        entry = {
            "at": round(now, 3),
            "actor": change.actor,
            "action": change.action,
            "changes": {k: [_plain(old), _plain(new)] for k, (old, new) in diff.items()},
            "note": change.note,
            **change.extra,
        }
        pipe.rpush(keys.ticket_history(current.id), json.dumps(entry, ensure_ascii=False))

    # -- helpers -------------------------------------------------------------------------------------

    async def _context(self, conversation_id: str) -> tuple[dict[str, str], dict[str, Any]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.conversation(conversation_id))
            pipe.get(keys.handoff_packet(conversation_id))
            info, raw_packet = await pipe.execute()
        try:
            packet = json.loads(raw_packet) if raw_packet else {}
        except ValueError:
            packet = {}
        return dict(info), packet if isinstance(packet, dict) else {}

    def _skill(self, info: Mapping[str, str], packet: Mapping[str, Any], intent: str | None) -> str:
        # The conversation's skill is what routing chose, or where a transfer moved it; the packet's
        # reason and intent give the same mapping when routing never saw the conversation.
        current = info.get("skill")
        if current and current in self.config.skills():
            return current
        return self.config.skill_for(_str(packet.get("reason")), intent)

    async def _check_agent(self, agent_id: str) -> None:
        if not await self._redis.exists(keys.agent(agent_id)):
            raise BadRequest(f"'assignee': no agent '{agent_id}'", field="assignee")

    async def _publish(self, ticket_id: str, skill: str) -> None:
        event = {"type": "ticket", "ticket_id": ticket_id, "skill": skill}
        await self._redis.publish(EVENTS_CHANNEL, json.dumps(event))


def _assignee_index(assignee: str | None) -> str:
    return keys.tickets_by_assignee(assignee) if assignee else keys.unassigned_tickets()


def _count_field(skill: str, status: str) -> str:
    return f"{skill}:{status}"


def _new_ticket_keys(stored: Mapping[str, str]) -> dict[str, Any]:
    """The key names the create script writes for a new ticket with these fields."""
    assignee, conversation_id = stored.get("assignee"), stored.get("conversation_id")
    indexes = [
        keys.all_tickets(),
        keys.tickets_by_status(stored["status"]),
        keys.tickets_by_skill(stored["skill"]),
        keys.unassigned_tickets() if assignee is None else keys.tickets_by_assignee(assignee),
    ]
    if conversation_id is not None:
        indexes.append(keys.tickets_by_conversation(conversation_id))
    return {
        "sequence": keys.ticket_sequence(),
        "ticket": keys.ticket(NEW_ID),
        "history": keys.ticket_history(NEW_ID),
        "indexes": indexes,
        "counts": keys.ticket_counts(),
        "count": _count_field(stored["skill"], stored["status"]),
    }


def _diff(current: Ticket, changes: TicketChanges, now: float) -> Diff:
    """field → (old, new) for the fields that really change; raises Conflict for a refused status."""
    diff: Diff = {}
    for name, new in changes.fields.items():
        old = getattr(current, name)
        if old != new:
            diff[name] = (old, new)
    diff.update(promise_diff(current, changes, now))
    if "status" in diff:
        check_transition(current.status, str(diff["status"][1]))
    if diff and current.status == TicketStatus.CLOSED:
        raise Conflict("ticket_closed", f"ticket {current.id} is closed; only notes can be added")
    return diff


def _from_hash(raw: Mapping[str, str], history: list[dict[str, Any]]) -> Ticket:
    return Ticket(
        id=raw["id"],
        status=raw["status"],
        subject=raw.get("subject", ""),
        description=raw.get("description", ""),
        conversation_id=raw.get("conversation_id"),
        customer_id=raw.get("customer_id"),
        language=raw.get("language", "en"),
        intent=raw.get("intent"),
        category=raw.get("category", DEFAULT_CATEGORY),
        skill=raw["skill"],
        priority=raw.get("priority", Priority.NORMAL.value),
        source=raw.get("source", Source.AGENT.value),
        auto_reason=raw.get("auto_reason"),
        assignee=raw.get("assignee"),
        created_by=raw.get("created_by", ""),
        created_at=float(raw.get("created_at", 0)),
        updated_at=float(raw.get("updated_at", 0)),
        customer_email=raw.get("customer_email"),
        promise=Promise.from_json(raw.get("promise")),
        history=history,
    )


def _stored(value: Any) -> str:
    """A changed field's value as the ticket hash holds it."""
    return value.to_json() if isinstance(value, Promise) else str(value)


def _plain(value: Any) -> Any:
    """A changed field's value as the history shows it."""
    return value.stored() if isinstance(value, Promise) else value


def _digest(packet: Mapping[str, Any]) -> str:
    canonical = json.dumps(packet, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _language(info: Mapping[str, str], packet: Mapping[str, Any]) -> str:
    for value in (info.get("language"), packet.get("language")):
        if value in LANGUAGES:
            return str(value)
    return "en"
