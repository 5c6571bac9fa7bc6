"""What a ticket is: its statuses, priorities and origins, the stored ticket, validated requests and
who is asking."""

from __future__ import annotations

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
