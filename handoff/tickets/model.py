"""What a ticket is: its statuses, priorities and origins, the promise made to the customer, the stored
ticket, validated requests and who is asking."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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


class Source(StrEnum):
    AGENT = "agent"
    AUTO = "auto"


class AutoReason(StrEnum):
    CUSTOMER_LEFT = "customer_left"
    NOBODY_AVAILABLE = "nobody_available"
    OUT_OF_HOURS = "out_of_hours"


class PromiseKind(StrEnum):
    REPLY = "reply"  # kept by the next reply to the customer
    CALLBACK = "callback"  # kept when an agent marks the call made


class PromiseState(StrEnum):
    PENDING = "pending"
    DUE = "due"  # due within DUE_WITHIN_SECONDS
    OVERDUE = "overdue"
    KEPT = "kept"


DUE_WITHIN_SECONDS = 3600.0


@dataclass(frozen=True)
class Promise:
    """What an agent told the customer to expect, and by when (epoch seconds). Its state is not stored: it
    depends on the time it is read."""

    kind: str
    due_at: float
    set_at: float
    kept_at: float | None = None

    def state(self, now: float) -> PromiseState:
        if self.kept_at is not None:
            return PromiseState.KEPT
        if now > self.due_at:
            return PromiseState.OVERDUE
        if self.due_at - now <= DUE_WITHIN_SECONDS:
            return PromiseState.DUE
        return PromiseState.PENDING

    def stored(self) -> dict[str, Any]:
        return {"kind": self.kind, "due_at": self.due_at, "set_at": self.set_at, "kept_at": self.kept_at}

    def view(self, now: float) -> dict[str, Any]:
        return {**self.stored(), "state": self.state(now).value}

    def to_json(self) -> str:
        return json.dumps(self.stored())

    @classmethod
    def from_json(cls, raw: str | None) -> Promise | None:
        """The stored promise; None for none (or a value this version cannot read, rather than no ticket)."""
        if not raw:
            return None
        try:
            data = json.loads(raw)
            kept_at = data.get("kept_at")
            return cls(
                kind=str(data["kind"]),
                due_at=float(data["due_at"]),
                set_at=float(data["set_at"]),
                kept_at=None if kept_at is None else float(kept_at),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


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
    customer_email: str | None = None  # where replies by email go
    promise: Promise | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self, history: bool = True, now: float | None = None) -> dict[str, Any]:
        """The API view; the promise's state as of `now` (default: the current time)."""
        out = {name: getattr(self, name) for name in _FIELDS}
        out["promise"] = (
            None if self.promise is None else self.promise.view(time.time() if now is None else now)
        )
        if history:
            out["history"] = self.history
        return out


_FIELDS = (
    "id", "status", "subject", "description", "conversation_id", "customer_id", "language", "intent",
    "category", "skill", "priority", "source", "auto_reason", "assignee", "created_by", "created_at",
    "updated_at", "customer_email",
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
    customer_email: str | None = None


@dataclass(frozen=True)
class NewPromise:
    kind: str
    due_at: float


@dataclass(frozen=True)
class ReplyRequest:
    """A validated reply to the customer."""

    text: str
    email: bool | None  # None: by email when the ticket has an address and the channel is on


@dataclass(frozen=True)
class TicketChanges:
    """A validated update: `fields` holds only the keys given (assignee None = unassign); at most one of
    `promise` (set a new one), `clear_promise` and `promise_kept`."""

    fields: Mapping[str, str | None]
    note: str | None = None
    promise: NewPromise | None = None
    clear_promise: bool = False
    promise_kept: bool = False


@dataclass(frozen=True)
class Viewer:
    """Who reads or changes tickets. `skills` None: staff, who see and change everything."""

    actor: str
    agent_id: str | None = None
    skills: frozenset[str] | None = None

    @property
    def is_staff(self) -> bool:
        return self.skills is None
