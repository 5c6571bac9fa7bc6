"""Ticket rules without storage: status transitions, who sees and changes what, priority, category and
the customer's email from the handoff packet, promises and what replies change, validation of request
bodies, and the text of automatic tickets."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from handoff.errors import BadRequest, Conflict, Forbidden
from handoff.inbound import BlankText, InvalidText, check_message, clean_text, normalise_text
from handoff.packet import CONVERSATION_ID
from handoff.routing.config import SKILL, RoutingConfig
from handoff.routing.engine import AGENT_ID, LANGUAGES
from handoff.tickets.model import (
    AutoReason,
    NewPromise,
    NewTicket,
    Priority,
    Promise,
    PromiseKind,
    ReplyRequest,
    Ticket,
    TicketChanges,
    TicketStatus,
    Viewer,
)

INTENT = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}\Z")
CATEGORY = SKILL  # same shape: lowercase letters, digits, underscores
SUBJECT_MAX = 200
DESCRIPTION_MAX = 5000
NOTE_MAX = 2000
CUSTOMER_ID_MAX = 128
EMAIL_MAX = 254  # the longest address SMTP can carry (RFC 5321 path limit less the brackets)
# One plain address, ASCII only (what the email channel sends to): no display name, no comments, no list.
EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}(?<!\.)"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\Z"
)
# How far ahead a promise may be due; a due time a moment ago is taken, for clocks that differ.
PROMISE_MAX_AHEAD_SECONDS = 366 * 86400.0
PROMISE_CLOCK_SLACK_SECONDS = 300.0
# Bounds of one listing request (limit and offset of GET /api/tickets).
MAX_LIMIT = 200
MAX_OFFSET = 100_000

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
PRIORITY_RANK = {p: n for n, p in enumerate(Priority)}  # declaration order: low < normal < high < urgent

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
        "skill", "priority", "assignee", "customer_email",
    }
)  # fmt: skip
UPDATE_FIELDS = frozenset(
    {"status", "assignee", "priority", "skill", "note", "customer_email", "promise", "promise_kept"}
)
PROMISE_FIELDS = frozenset({"kind", "due_at"})
REPLY_FIELDS = frozenset({"text", "email"})


# -- transitions and permissions ---------------------------------------------------------------------


def check_transition(current: str, new: str) -> None:
    """Raise Conflict (409, code `invalid_transition`) unless `current` → `new` is allowed."""
    if current == new:
        return
    if TicketStatus(new) not in TRANSITIONS[TicketStatus(current)]:
        allowed = ", ".join(sorted(TRANSITIONS[TicketStatus(current)])) or "none (closed is final)"
        raise Conflict("invalid_transition", f"a {current} ticket cannot become {new} (allowed: {allowed})")


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


# -- priority and category ---------------------------------------------------------------------------


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


# -- the customer's email ----------------------------------------------------------------------------


def normalise_email(value: str) -> str | None:
    """`value` as one plain address (the domain in lower case), or None if it is not one."""
    address = value.strip()
    if len(address) > EMAIL_MAX or not EMAIL.match(address):
        return None
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def check_email(value: Any, name: str = "customer_email") -> str | None:
    """A request's address: one plain address, or None for null or blank (no address)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    address = normalise_email(value) if isinstance(value, str) else None
    if address is None:
        raise BadRequest(
            f"'{name}' must be one plain email address such as name@example.com (no display name), "
            f"at most {EMAIL_MAX} characters, or null",
            field=name,
        )
    return address


def customer_email_from(packet: Mapping[str, Any] | None) -> str | None:
    """Where to email the customer, from what the handoff packet proves: the identity's email when the
    identity is verified, else the email of an order the customer proved is theirs. An address the customer
    merely typed, or the email of an order they did not prove, could be someone else's: None then."""
    packet = packet or {}
    identity = packet.get("identity")
    order = packet.get("order")
    candidates: list[Any] = []
    if isinstance(identity, Mapping) and identity.get("verified_by"):
        candidates.append(identity.get("email"))
    if isinstance(order, Mapping) and order.get("verified") is True:
        candidates.append(order.get("email"))
    for value in candidates:
        if isinstance(value, str) and (address := normalise_email(value)):
            return address
    return None


# -- promises and replies ----------------------------------------------------------------------------

# field → (old, new): the changes a ticket write applies and its history records.
Diff = dict[str, tuple[Any, Any]]


def promise_diff(current: Ticket, changes: TicketChanges, now: float) -> Diff:
    """What the request does to the ticket's promise; Conflict when it cannot apply."""
    old = current.promise
    if changes.promise is not None:
        new = Promise(kind=changes.promise.kind, due_at=changes.promise.due_at, set_at=now)
        return {"promise": (old, new)}
    if changes.clear_promise:
        return {"promise": (old, None)} if old is not None else {}
    if changes.promise_kept:
        if old is None:
            raise Conflict("no_promise", f"ticket {current.id} has no promise to mark kept")
        if old.kind != PromiseKind.CALLBACK:
            raise Conflict(
                "promise_kept_by_reply", "a reply promise is kept by replying to the customer, not by hand"
            )
        if old.kept_at is None:
            return {"promise": (old, replace(old, kept_at=now))}
    return {}


def reply_diff(current: Ticket, now: float) -> Diff:
    """What an agent's reply to the customer changes: an open ticket now awaits the customer (pending),
    and a reply promise made before it is kept."""
    diff: Diff = {}
    if current.status == TicketStatus.OPEN:
        diff["status"] = (current.status, TicketStatus.PENDING.value)
    promise = current.promise
    if (
        promise is not None
        and promise.kind == PromiseKind.REPLY
        and promise.kept_at is None
        and promise.set_at <= now
    ):
        diff["promise"] = (promise, replace(promise, kept_at=now))
    return diff


def customer_reply_diff(current: Ticket) -> Diff:
    """What the customer's reply changes: the ticket is open again, for an agent to answer. A closed ticket
    stays closed (closed is final): the reply is still recorded on it."""
    if current.status in (TicketStatus.PENDING, TicketStatus.SOLVED):
        return {"status": (current.status, TicketStatus.OPEN.value)}
    return {}


# -- request bodies ----------------------------------------------------------------------------------


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
        customer_email=check_email(body.get("customer_email")),
    )


def check_promise(value: Any, now: float) -> NewPromise | None:
    """A PATCH's `promise`: {"kind": reply|callback, "due_at": epoch seconds}, or null to clear it."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise BadRequest("'promise' must be an object {kind, due_at} or null", field="promise")
    unknown = sorted(set(value) - PROMISE_FIELDS)
    if unknown:
        raise BadRequest(
            f"'promise' has unknown field(s): {', '.join(unknown)}; allowed: due_at, kind", "promise"
        )
    kind = _choice(value.get("kind"), "promise.kind", list(PromiseKind))
    due_at = value.get("due_at")
    if not isinstance(due_at, int | float) or isinstance(due_at, bool) or not math.isfinite(due_at):
        raise BadRequest("'promise.due_at' must be a time in epoch seconds", field="promise.due_at")
    if not now - PROMISE_CLOCK_SLACK_SECONDS <= due_at <= now + PROMISE_MAX_AHEAD_SECONDS:
        raise BadRequest(
            "'promise.due_at' must be in the future, at most a year ahead (epoch seconds)",
            field="promise.due_at",
        )
    return NewPromise(kind=kind, due_at=float(due_at))


def validate_changes(
    body: Mapping[str, Any], config: RoutingConfig, now: float | None = None
) -> TicketChanges:
    """A PATCH body, or a BadRequest naming the field. `now` dates the checks of a promise's due time."""
    _unknown(body, UPDATE_FIELDS)
    if not body:
        raise BadRequest(f"nothing to change; give any of {', '.join(sorted(UPDATE_FIELDS))}")
    now = time.time() if now is None else now
    fields: dict[str, str | None] = {}
    if "status" in body:
        fields["status"] = _choice(body["status"], "status", list(TicketStatus))
    if "priority" in body:
        fields["priority"] = _choice(body["priority"], "priority", list(Priority))
    if "skill" in body:
        fields["skill"] = check_skill(body["skill"], config)
    if "assignee" in body:
        fields["assignee"] = check_assignee(body["assignee"])
    if "customer_email" in body:
        fields["customer_email"] = check_email(body["customer_email"])
    kept = body.get("promise_kept", False)
    if not isinstance(kept, bool):
        raise BadRequest("'promise_kept' must be true or false", field="promise_kept")
    if kept and "promise" in body:
        raise BadRequest("give either 'promise' or 'promise_kept', not both", field="promise_kept")
    promise = check_promise(body["promise"], now) if "promise" in body else None
    note = _text(body, "note", NOTE_MAX) if "note" in body else None
    return TicketChanges(
        fields,
        note or None,
        promise=promise,
        clear_promise="promise" in body and promise is None,
        promise_kept=kept,
    )


def validate_reply(body: Mapping[str, Any], max_chars: int) -> ReplyRequest:
    """A reply body {text, email?}, or a 400 naming the field."""
    _unknown(body, REPLY_FIELDS)
    text = check_message(body.get("text"), max_chars=max_chars, field="text").strip()
    email = body.get("email")
    if email is not None and not isinstance(email, bool):
        raise BadRequest("'email' must be true or false", field="email")
    return ReplyRequest(text=text, email=email)


# -- automatic tickets -------------------------------------------------------------------------------


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
