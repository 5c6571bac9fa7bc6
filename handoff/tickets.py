"""Tickets: customer problems that outlive a chat, created on demand or when a handoff ends unresolved.

Keys (all under `hub:`; single Redis node, like the routing scripts):
  hub:tickets:seq                      string  id counter (T-000001, ...)
  hub:ticket:<id>                      hash    the ticket's fields (absent field = null) and `seq`
  hub:ticket:<id>:history              list    JSON entries {at, actor, action, changes, note}, oldest first
  hub:tickets                          zset    every ticket, scored by `seq` (newest = highest)
  hub:tickets:status:<status>          zset    by status
  hub:tickets:skill:<skill>            zset    by skill queue
  hub:tickets:assignee:<agent_id>      zset    by assignee; hub:tickets:unassigned for none
  hub:tickets:conversation:<cid>       zset    by conversation
  hub:tickets:counts                   hash    "<skill>:<status>" → number of tickets (dashboards)
  hub:tickets:auto:<cid>:<handoff>     string  the auto ticket of one handoff (idempotent creation)

Every index scores by `seq`, so listings intersect and union them server-side without scanning tickets.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from handoff import keys
from handoff.errors import BadRequest, Conflict, Forbidden, NotFoundError
from handoff.inbound import BlankText, InvalidText, clean_text, normalise_text
from handoff.packet import CONVERSATION_ID
from handoff.routing.config import SKILL, RoutingConfig
from handoff.routing.engine import AGENT_ID, EVENTS_CHANNEL, LANGUAGES

TICKET_ID = re.compile(r"^T-\d{6,}\Z")
INTENT = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}\Z")
CATEGORY = SKILL  # same shape: lowercase letters, digits, underscores
SUBJECT_MAX = 200
DESCRIPTION_MAX = 5000
NOTE_MAX = 2000
CUSTOMER_ID_MAX = 128
AUTO_TTL = 30 * 86400  # a handoff's dedupe key only has to outlive the sweeps and retries of that handoff
MAX_LIMIT = 200
MAX_OFFSET = 100_000
UPDATE_ATTEMPTS = 5
SYSTEM_ACTOR = "system"

# Auto-ticket priority from the packet: the customer's tier, and the order value (currency units).
TIER_PRIORITY = {"gold": "high", "vip": "urgent"}
ORDER_VALUE_PRIORITY = ((2000.0, "urgent"), (500.0, "high"))
# Category when the packet names none: what the customer's intent is about.
CATEGORY_BY_INTENT = {
    "order_status": "orders",
    "cancel_order": "orders",
    "change_address": "orders",
    "request_return": "returns",
    "refund_status": "refunds",
    "payment_problem": "payment",
    "ask_shipping": "shipping",
    "complain": "complaint",
}
DEFAULT_CATEGORY = "general"
LAST_CUSTOMER_MESSAGES = 3


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK = {p: n for n, p in enumerate(Priority)}


class Source(StrEnum):
    AGENT = "agent"
    AUTO = "auto"


class AutoReason(StrEnum):
    CUSTOMER_LEFT = "customer_left"
    NOBODY_AVAILABLE = "nobody_available"
    OUT_OF_HOURS = "out_of_hours"


AUTO_REASON_TEXT = {
    AutoReason.CUSTOMER_LEFT: "Customer left before an agent answered",
    AutoReason.NOBODY_AVAILABLE: "Nobody was available to take the handoff",
    AutoReason.OUT_OF_HOURS: "Handoff requested outside opening hours",
}

# Forward moves may skip a step (a quick fix goes open → solved); pending goes back to open when the
# customer answers; a solved ticket can be reopened; closed is final.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.OPEN: frozenset({TicketStatus.PENDING, TicketStatus.SOLVED, TicketStatus.CLOSED}),
    TicketStatus.PENDING: frozenset({TicketStatus.OPEN, TicketStatus.SOLVED, TicketStatus.CLOSED}),
    TicketStatus.SOLVED: frozenset({TicketStatus.OPEN, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}

CREATE_FIELDS = frozenset(
    {
        "subject", "description", "conversation_id", "customer_id", "language", "intent", "category",
        "skill", "priority", "assignee",
    }
)  # fmt: skip
UPDATE_FIELDS = frozenset({"status", "assignee", "priority", "skill", "note"})


@dataclass(frozen=True)
class Ticket:
    id: str
    status: str
    subject: str
    description: str
    conversation_id: str | None
    customer_id: str | None
    language: str
    intent: str | None
    category: str
    skill: str
    priority: str
    source: str
    auto_reason: str | None
    assignee: str | None
    created_by: str
    created_at: float
    updated_at: float
    history: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self, history: bool = True) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _FIELDS}
        if history:
            out["history"] = self.history
        return out


_FIELDS = (
    "id", "status", "subject", "description", "conversation_id", "customer_id", "language", "intent",
    "category", "skill", "priority", "source", "auto_reason", "assignee", "created_by", "created_at",
    "updated_at",
)  # fmt: skip


@dataclass(frozen=True)
class NewTicket:
    """A validated on-demand ticket; None means "fill from the conversation, else the default"."""

    subject: str
    description: str = ""
    conversation_id: str | None = None
    customer_id: str | None = None
    language: str | None = None
    intent: str | None = None
    category: str | None = None
    skill: str | None = None
    priority: str | None = None
    assignee: str | None = None


@dataclass(frozen=True)
class TicketChanges:
    """A validated update: `fields` holds only the keys given (assignee None = unassign)."""

    fields: Mapping[str, str | None]
    note: str | None = None


@dataclass(frozen=True)
class Viewer:
    """Who reads or changes tickets. `skills` None: staff, who see and change everything."""

    actor: str
    agent_id: str | None = None
    skills: frozenset[str] | None = None

    @property
    def is_staff(self) -> bool:
        return self.skills is None


# -- pure rules --------------------------------------------------------------------------------------


def check_transition(current: str, new: str) -> None:
    """Raise Conflict (409, code `invalid_transition`) unless `current` → `new` is allowed."""
    if current == new:
        return
    if TicketStatus(new) not in TRANSITIONS[TicketStatus(current)]:
        allowed = ", ".join(sorted(TRANSITIONS[TicketStatus(current)])) or "none (closed is final)"
        raise Conflict("invalid_transition", f"a {current} ticket cannot become {new} (allowed: {allowed})")


def derive_priority(packet: Mapping[str, Any] | None) -> str:
    """The higher of the tier's and the order value's priority; normal when the packet says neither."""
    packet = packet or {}
    best = Priority.NORMAL
    tier_priority = TIER_PRIORITY.get(str(packet.get("customer_tier") or ""))
    if tier_priority:
        best = max(best, Priority(tier_priority), key=PRIORITY_RANK.__getitem__)
    order = packet.get("order")
    total = order.get("total") if isinstance(order, Mapping) else None
    if isinstance(total, int | float) and not isinstance(total, bool):
        for threshold, priority in ORDER_VALUE_PRIORITY:
            if total >= threshold:
                best = max(best, Priority(priority), key=PRIORITY_RANK.__getitem__)
                break
    return best.value


def derive_category(packet: Mapping[str, Any] | None, intent: str | None) -> str:
    """The packet's category, else its order's first product category, else one from the intent."""
    packet = packet or {}
    candidates: list[Any] = [packet.get("category")]
    order = packet.get("order")
    if isinstance(order, Mapping) and isinstance(order.get("items"), list):
        candidates += [i.get("category") for i in order["items"] if isinstance(i, Mapping)]
    for value in candidates:
        if isinstance(value, str) and CATEGORY.match(value.strip().lower()):
            return value.strip().lower()
    return CATEGORY_BY_INTENT.get(intent or "", DEFAULT_CATEGORY)


def can_see(viewer: Viewer, ticket: Ticket) -> bool:
    if viewer.skills is None:
        return True
    return ticket.skill in viewer.skills or (
        viewer.agent_id is not None and ticket.assignee == viewer.agent_id
    )


def check_access(viewer: Viewer, ticket: Ticket) -> None:
    if not can_see(viewer, ticket):
        raise Forbidden(f"ticket {ticket.id} is neither in your skills nor assigned to you")


def check_edit(viewer: Viewer, ticket: Ticket, changes: TicketChanges) -> None:
    """Agents change their own tickets and unassigned ones in their skills, and assign only themselves."""
    if viewer.skills is None:
        return
    own = viewer.agent_id is not None and ticket.assignee == viewer.agent_id
    if not own and not (ticket.assignee is None and ticket.skill in viewer.skills):
        check_access(viewer, ticket)  # 403 with the visibility message when it is not even visible
        raise Forbidden(f"ticket {ticket.id} is assigned to {ticket.assignee}; ask a supervisor")
    if "assignee" in changes.fields and changes.fields["assignee"] not in (None, viewer.agent_id):
        raise Forbidden("agents can assign tickets only to themselves")


def _text(body: Mapping[str, Any], name: str, limit: int, required: bool = False) -> str | None:
    """A text field as people will read it (handoff.inbound.normalise_text: no bidirectional or
    invisible characters); blank is "" unless the field is required."""
    value = body.get(name)
    if value is None and not required:
        return None
    need = "a non-empty string" if required else "a string"
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"'{name}' must be {need} of at most {limit} characters", field=name)
    try:
        return normalise_text(value).strip()
    except BlankText:
        if required:
            raise BadRequest(f"'{name}' must be {need} of at most {limit} characters", field=name) from None
        return ""
    except InvalidText as exc:
        raise BadRequest(f"'{name}': {exc}", field=name) from None


def _choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise BadRequest(f"'{name}' must be one of {', '.join(choices)}", field=name)
    return value


def check_skill(value: Any, config: RoutingConfig, name: str = "skill") -> str:
    known = sorted(config.skills())
    if not isinstance(value, str) or value not in known:
        raise BadRequest(f"'{name}' must be a known skill: {', '.join(known)}", field=name)
    return value


def check_assignee(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not AGENT_ID.match(value):
        raise BadRequest("'assignee' must be an agent id or null", field="assignee")
    return value


def _unknown(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(
            f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}", field=unknown[0]
        )


def validate_new(body: Mapping[str, Any], config: RoutingConfig) -> NewTicket:
    """An on-demand ticket body, or a BadRequest naming the field."""
    _unknown(body, CREATE_FIELDS)
    conversation_id = body.get("conversation_id")
    if conversation_id is not None and (
        not isinstance(conversation_id, str) or not CONVERSATION_ID.match(conversation_id)
    ):
        raise BadRequest("'conversation_id' must be 1-128 letters, digits or _.:@+-", field="conversation_id")
    intent = body.get("intent")
    if intent is not None and (not isinstance(intent, str) or not INTENT.match(intent)):
        raise BadRequest(
            "'intent' must be an intent name (1-64 of letters, digits, _ . : / -)", field="intent"
        )
    category = body.get("category")
    if category is not None and (not isinstance(category, str) or not CATEGORY.match(category)):
        raise BadRequest("'category' must be 1-40 lowercase letters, digits or underscores", field="category")
    return NewTicket(
        subject=str(_text(body, "subject", SUBJECT_MAX, required=True)),
        description=_text(body, "description", DESCRIPTION_MAX) or "",
        conversation_id=conversation_id,
        customer_id=_text(body, "customer_id", CUSTOMER_ID_MAX) or None,
        language=None if body.get("language") is None else _choice(body["language"], "language", LANGUAGES),
        intent=intent,
        category=category,
        skill=None if body.get("skill") is None else check_skill(body["skill"], config),
        priority=None
        if body.get("priority") is None
        else _choice(body["priority"], "priority", list(Priority)),
        assignee=check_assignee(body.get("assignee")),
    )


def validate_changes(body: Mapping[str, Any], config: RoutingConfig) -> TicketChanges:
    """A PATCH body, or a BadRequest naming the field."""
    _unknown(body, UPDATE_FIELDS)
    if not body:
        raise BadRequest(f"nothing to change; give any of {', '.join(sorted(UPDATE_FIELDS))}")
    fields: dict[str, str | None] = {}
    if "status" in body:
        fields["status"] = _choice(body["status"], "status", list(TicketStatus))
    if "priority" in body:
        fields["priority"] = _choice(body["priority"], "priority", list(Priority))
    if "skill" in body:
        fields["skill"] = check_skill(body["skill"], config)
    if "assignee" in body:
        fields["assignee"] = check_assignee(body["assignee"])
    note = _text(body, "note", NOTE_MAX) if "note" in body else None
    return TicketChanges(fields, note or None)


def auto_subject(reason: AutoReason, packet: Mapping[str, Any], intent: str | None, skill: str) -> str:
    said = _customer_lines(packet)
    topic = said[-1] if said else (intent or skill)
    subject = f"{AUTO_REASON_TEXT[reason]}: {topic}"
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 1] + "…"


def auto_description(reason: AutoReason, packet: Mapping[str, Any], info: Mapping[str, str]) -> str:
    """What an agent needs to pick the case up without opening the chat."""
    lines = [f"{AUTO_REASON_TEXT[reason]} ({reason.value})."]
    facts = [
        ("Handoff reason", packet.get("reason")),
        ("Intent", packet.get("intent")),
        ("Channel", packet.get("channel") or info.get("channel")),
        ("Customer tier", packet.get("customer_tier")),
    ]
    lines += [f"{label}: {value}" for label, value in facts if value]
    order = packet.get("order")
    if isinstance(order, Mapping) and order.get("id"):
        total = f", {order.get('total')} {order.get('currency') or ''}".rstrip() if order.get("total") else ""
        lines.append(f"Order: {order['id']} ({order.get('status') or 'unknown status'}{total})")
    said = _customer_lines(packet)
    if said:
        lines.append("Last customer messages:")
        lines += [f"- {text}" for text in said]
    text = "\n".join(lines)
    return text if len(text) <= DESCRIPTION_MAX else text[: DESCRIPTION_MAX - 1] + "…"


def _customer_lines(packet: Mapping[str, Any]) -> list[str]:
    transcript = packet.get("transcript")
    if not isinstance(transcript, list):
        return []
    said = [
        " ".join(clean_text(str(entry["text"])).split())[:300]
        for entry in transcript
        if isinstance(entry, Mapping) and entry.get("author") == "customer" and entry.get("text")
    ]
    return said[-LAST_CUSTOMER_MESSAGES:]


# -- storage -----------------------------------------------------------------------------------------

# ARGV: dedupe key ('' for none), dedupe ttl, fields JSON (str → str, nulls left out), history entry JSON.
# Returns {ticket id, 1} for a new ticket, or {existing id, 0} when the dedupe key already names one.
_CREATE = r"""
local dedupe, ttl, fields, entry = ARGV[1], ARGV[2], cjson.decode(ARGV[3]), ARGV[4]
if dedupe ~= '' then
  local existing = redis.call('GET', dedupe)
  if existing then return {existing, 0} end
end
local n = redis.call('INCR', 'hub:tickets:seq')
local id = string.format('T-%06d', n)
local key = 'hub:ticket:' .. id
redis.call('HSET', key, 'id', id, 'seq', n)
for k, v in pairs(fields) do redis.call('HSET', key, k, v) end
redis.call('RPUSH', key .. ':history', entry)
redis.call('ZADD', 'hub:tickets', n, id)
redis.call('ZADD', 'hub:tickets:status:' .. fields.status, n, id)
redis.call('ZADD', 'hub:tickets:skill:' .. fields.skill, n, id)
if fields.assignee then
  redis.call('ZADD', 'hub:tickets:assignee:' .. fields.assignee, n, id)
else
  redis.call('ZADD', 'hub:tickets:unassigned', n, id)
end
if fields.conversation_id then
  redis.call('ZADD', 'hub:tickets:conversation:' .. fields.conversation_id, n, id)
end
redis.call('HINCRBY', 'hub:tickets:counts', fields.skill .. ':' .. fields.status, 1)
if dedupe ~= '' then redis.call('SET', dedupe, id, 'EX', ttl) end
return {id, 1}
"""

# ARGV: JSON list of groups (each a list of index keys), temp key prefix, offset, limit.
# The result is the intersection of the groups, each group the union of its keys; every index scores by
# seq, so MIN keeps it (the default SUM would double a ticket found through two keys).
# Returns {total, ids newest first}. Temp keys live only inside the script.
_LIST = r"""
local groups, tmp = cjson.decode(ARGV[1]), ARGV[2]
local offset, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local sets, temps = {}, {}
-- unpack() expands only as the last argument, so the command is built as one list.
local function store(command, dest, keys)
  local argv = {command, dest, #keys}
  for _, k in ipairs(keys) do argv[#argv + 1] = k end
  argv[#argv + 1] = 'AGGREGATE'
  argv[#argv + 1] = 'MIN'
  redis.call(unpack(argv))
end
for i, group in ipairs(groups) do
  if #group == 1 then
    sets[#sets + 1] = group[1]
  else
    local key = tmp .. ':' .. i
    store('ZUNIONSTORE', key, group)
    sets[#sets + 1] = key
    temps[#temps + 1] = key
  end
end
local result = sets[1]
if #sets > 1 then
  store('ZINTERSTORE', tmp, sets)
  result = tmp
  temps[#temps + 1] = tmp
end
local total = redis.call('ZCARD', result)
local ids = redis.call('ZREVRANGE', result, offset, offset + limit - 1)
if #temps > 0 then redis.call('DEL', unpack(temps)) end
return {total, ids}
"""


def _ticket_key(ticket_id: str) -> str:
    return f"{keys.PREFIX}:ticket:{ticket_id}"


def _index(kind: str, value: str) -> str:
    return f"{keys.PREFIX}:tickets:{kind}:{value}"


ALL_TICKETS = f"{keys.PREFIX}:tickets"
UNASSIGNED = f"{keys.PREFIX}:tickets:unassigned"
COUNTS = f"{keys.PREFIX}:tickets:counts"


def _assignee_index(assignee: str | None) -> str:
    return _index("assignee", assignee) if assignee else UNASSIGNED


class TicketStore:
    def __init__(
        self, redis: Redis, routing_config: RoutingConfig, clock: Callable[[], float] = time.time
    ) -> None:
        # decode_responses=True: replies are str, which redis-py's stubs (bytes | str) cannot express.
        self._redis: Any = redis
        self.config = routing_config
        self._clock = clock
        self._create = redis.register_script(_CREATE)
        self._list = redis.register_script(_LIST)

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
        dedupe = _index("auto", f"{conversation_id}:{marker}")
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
        }
        ticket_id, created = await self._insert(fields, SYSTEM_ACTOR, dedupe=dedupe)
        return await self.get(ticket_id), created

    async def _insert(self, fields: dict[str, str | None], actor: str, dedupe: str) -> tuple[str, bool]:
        now = self._clock()
        stored = {k: v for k, v in fields.items() if v is not None}
        stored["created_at"] = stored["updated_at"] = f"{now:.3f}"
        entry = {"at": round(now, 3), "actor": actor, "action": "created", "changes": {}, "note": None}
        result = await self._create(
            args=[
                dedupe,
                AUTO_TTL,
                json.dumps(stored, ensure_ascii=False),
                json.dumps(entry, ensure_ascii=False),
            ]
        )
        ticket_id, created = str(result[0]), result[1] == 1
        if created:
            await self._publish(ticket_id, str(stored["skill"]))
        return ticket_id, created

    # -- reading -------------------------------------------------------------------------------------

    async def get(self, ticket_id: str) -> Ticket:
        if not TICKET_ID.match(ticket_id):
            raise NotFoundError("unknown_ticket", f"no ticket '{ticket_id}'")
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(_ticket_key(ticket_id))
            pipe.lrange(_ticket_key(ticket_id) + ":history", 0, -1)
            raw, history = await pipe.execute()
        if not raw:
            raise NotFoundError("unknown_ticket", f"no ticket '{ticket_id}'")
        return _ticket(raw, [json.loads(h) for h in history])

    async def find(
        self,
        *,
        viewer: Viewer | None = None,
        statuses: Sequence[str] = (),
        skill: str | None = None,
        assignee: str | None = None,
        unassigned: bool = False,
        conversation_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Ticket], int]:
        """(tickets newest first without history, total matching). `viewer` limits to what they may see."""
        groups: list[list[str]] = []
        if viewer is not None and viewer.skills is not None:
            visible = [_index("skill", s) for s in sorted(viewer.skills)]
            if viewer.agent_id:
                visible.append(_index("assignee", viewer.agent_id))
            if not visible:
                return [], 0
            groups.append(visible)
        if statuses:
            groups.append([_index("status", s) for s in dict.fromkeys(statuses)])
        if skill:
            groups.append([_index("skill", skill)])
        if unassigned:
            groups.append([UNASSIGNED])
        elif assignee:
            groups.append([_index("assignee", assignee)])
        if conversation_id:
            groups.append([_index("conversation", conversation_id)])
        if not groups:
            groups.append([ALL_TICKETS])
        tmp = _index("tmp", uuid.uuid4().hex)
        total, ids = await self._list(args=[json.dumps(groups), tmp, offset, limit])
        if not ids:
            return [], int(total)
        async with self._redis.pipeline(transaction=False) as pipe:
            for ticket_id in ids:
                pipe.hgetall(_ticket_key(ticket_id))
            rows = await pipe.execute()
        return [_ticket(r, []) for r in rows if r], int(total)

    async def counts(self) -> dict[str, dict[str, int]]:
        """skill → status → number of tickets, for dashboards (one hash read, no scan)."""
        out: dict[str, dict[str, int]] = {}
        for name, count in (await self._redis.hgetall(COUNTS)).items():
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
        key = _ticket_key(ticket_id)
        for _ in range(UPDATE_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.hgetall(key)
                    if not raw:
                        raise NotFoundError("unknown_ticket", f"no ticket '{ticket_id}'")
                    current = _ticket(raw, [])
                    if check is not None:
                        check(current, changes)
                    diff = _diff(current, changes)
                    if not diff and not changes.note:
                        await pipe.unwatch()
                        return await self.get(ticket_id)
                    pipe.multi()
                    self._write(pipe, current, int(raw["seq"]), diff, changes.note, actor)
                    await pipe.execute()
                except WatchError:
                    continue  # someone changed it between the read and the write: decide again
            new_skill = diff.get("skill", (None, current.skill))[1]
            await self._publish(ticket_id, str(new_skill))
            return await self.get(ticket_id)
        raise Conflict("ticket_busy", f"ticket {ticket_id} is being changed by others; try again")

    def _write(
        self,
        pipe: Any,
        current: Ticket,
        seq: int,
        diff: dict[str, tuple[str | None, str | None]],
        note: str | None,
        actor: str,
    ) -> None:
        now = self._clock()
        key = _ticket_key(current.id)
        values = {k: new for k, (_, new) in diff.items() if new is not None}
        pipe.hset(key, mapping={**values, "updated_at": f"{now:.3f}"})
        cleared = [k for k, (_, new) in diff.items() if new is None]
        if cleared:
            pipe.hdel(key, *cleared)
        if "status" in diff:
            pipe.zrem(_index("status", current.status), current.id)
            pipe.zadd(_index("status", str(diff["status"][1])), {current.id: seq})
        if "skill" in diff:
            pipe.zrem(_index("skill", current.skill), current.id)
            pipe.zadd(_index("skill", str(diff["skill"][1])), {current.id: seq})
        if "assignee" in diff:
            pipe.zrem(_assignee_index(current.assignee), current.id)
            pipe.zadd(_assignee_index(diff["assignee"][1]), {current.id: seq})
        if "status" in diff or "skill" in diff:
            new_skill = diff.get("skill", (None, current.skill))[1]
            new_status = diff.get("status", (None, current.status))[1]
            pipe.hincrby(COUNTS, f"{current.skill}:{current.status}", -1)
            pipe.hincrby(COUNTS, f"{new_skill}:{new_status}", 1)
        entry = {
            "at": round(now, 3),
            "actor": actor,
            "action": "updated" if diff else "noted",
            "changes": {k: [old, new] for k, (old, new) in diff.items()},
            "note": note,
        }
        pipe.rpush(key + ":history", json.dumps(entry, ensure_ascii=False))

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
        if not await self._redis.exists(f"{keys.PREFIX}:agent:{agent_id}"):
            raise BadRequest(f"'assignee': no agent '{agent_id}'", field="assignee")

    async def _publish(self, ticket_id: str, skill: str) -> None:
        event = {"type": "ticket", "ticket_id": ticket_id, "skill": skill}
        await self._redis.publish(EVENTS_CHANNEL, json.dumps(event))


def _diff(current: Ticket, changes: TicketChanges) -> dict[str, tuple[str | None, str | None]]:
    """field → (old, new) for the fields that really change; raises Conflict for a refused status."""
    diff: dict[str, tuple[str | None, str | None]] = {}
    for name, new in changes.fields.items():
        old = getattr(current, name)
        if old != new:
            diff[name] = (old, new)
    if "status" in diff:
        check_transition(current.status, str(diff["status"][1]))
    if diff and current.status == TicketStatus.CLOSED:
        raise Conflict("ticket_closed", f"ticket {current.id} is closed; only notes can be added")
    return diff


def _ticket(raw: Mapping[str, str], history: list[dict[str, Any]]) -> Ticket:
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
        history=history,
    )


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
