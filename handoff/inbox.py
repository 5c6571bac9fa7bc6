"""What the agent console reads about conversations: an agent's offers and chats, a conversation's
handoff packet, who holds it, and the customer's latest words (docs/console.md)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from handoff import keys
from handoff.transcript import Message

_INBOX_FIELDS = (
    "owner", "offer_agent", "offer_expires", "decision", "agent", "assigned_at", "language", "skill",
    "channel", "customer_id",
)  # fmt: skip
_HOLDER_FIELDS = ("owner", "agent", "offer_agent")
LATEST_LOOKBACK = 50  # transcript entries searched, newest first, for the customer's latest message


@dataclass(frozen=True)
class AgentInbox:
    offers: list[dict[str, Any]]  # open offers to the agent, with their expiry
    chats: list[dict[str, Any]]  # chats the agent holds, oldest assignment first


class Inbox:
    def __init__(self, redis: Redis) -> None:
        self._redis: Any = redis

    async def for_agent(self, agent_id: str) -> AgentInbox:
        """The agent's offers and chats: of the conversations in the agent's set, those whose own state
        still names the agent."""
        ids = sorted(await self._redis.smembers(keys.agent_chats(agent_id)))
        async with self._redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hmget(keys.conversation(cid), *_INBOX_FIELDS)
                pipe.get(keys.handoff_packet(cid))
            rows = await pipe.execute()
        offers: list[dict[str, Any]] = []
        chats: list[dict[str, Any]] = []
        for cid, values, packet_raw in zip(ids, rows[::2], rows[1::2], strict=True):
            row = dict(zip(_INBOX_FIELDS, values, strict=True))
            common = {
                "conversation_id": cid,
                "language": row["language"],
                "skill": row["skill"],
                "reason": _packet_field(packet_raw, "reason"),
            }
            if row["owner"] == "offered" and row["offer_agent"] == agent_id:
                expires = float(row["offer_expires"] or 0)
                offers.append({**common, "decision_id": row["decision"], "expires_at": expires})
            elif row["owner"] == "agent" and row["agent"] == agent_id:
                chats.append(
                    {
                        **common,
                        "channel": row["channel"],
                        "customer_id": row["customer_id"],
                        "assigned_at": float(row["assigned_at"] or 0),
                    }
                )
        chats.sort(key=lambda c: c["assigned_at"])
        return AgentInbox(offers, chats)

    async def packet(self, conversation_id: str) -> Any:
        """The conversation's latest handoff packet as stored, or None before its first handoff."""
        raw = await self._redis.get(keys.handoff_packet(conversation_id))
        return json.loads(raw) if raw else None

    async def holder(self, conversation_id: str) -> dict[str, str | None]:
        """The fields that say who may see the conversation (owner, agent, offer_agent)."""
        values = await self._redis.hmget(keys.conversation(conversation_id), *_HOLDER_FIELDS)
        return dict(zip(_HOLDER_FIELDS, values, strict=True))

    async def latest_customer_text(self, conversation_id: str) -> str | None:
        """The customer's latest non-blank message among the last entries, or None."""
        entries = await self._redis.xrevrange(keys.transcript(conversation_id), count=LATEST_LOOKBACK)
        for entry_id, fields in entries:
            message = Message.from_entry(str(entry_id), dict(fields))
            if message.author == "customer" and message.text.strip():
                return message.text
        return None


def _packet_field(raw: str | None, field: str) -> Any:
    """One field of a stored packet; None when the packet is missing or not a JSON object."""
    if not raw:
        return None
    with contextlib.suppress(ValueError):
        packet = json.loads(raw)
        if isinstance(packet, dict):
            return packet.get(field)
    return None
