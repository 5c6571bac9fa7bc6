"""Conversation ownership: who answers the customer right now (bot, queue, offer, agent or closed)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Protocol

from redis.asyncio import Redis

from handoff import keys


class Owner(StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    OFFERED = "offered"
    AGENT = "agent"
    CLOSED = "closed"


class ConversationStore(Protocol):
    async def owner(self, conversation_id: str) -> Owner: ...

    async def set_owner(self, conversation_id: str, owner: Owner) -> None: ...

    async def packet(self, conversation_id: str) -> dict[str, Any] | None: ...


class RedisConversationStore:
    """Reads ownership; changes into and out of routing happen in the routing engine's scripts."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def owner(self, conversation_id: str) -> Owner:
        value = await self._redis.hget(keys.conversation(conversation_id), "owner")
        return Owner(str(value)) if value else Owner.BOT

    async def set_owner(self, conversation_id: str, owner: Owner) -> None:
        await self._redis.hset(keys.conversation(conversation_id), "owner", owner.value)

    async def packet(self, conversation_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(keys.handoff_packet(conversation_id))
        return json.loads(raw) if raw else None
