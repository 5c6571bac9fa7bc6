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

    async def info(self, conversation_id: str) -> dict[str, str]: ...

    async def read_fields(self, conversation_id: str, *names: str) -> dict[str, str | None]: ...

    async def update(self, conversation_id: str, fields: dict[str, str]) -> None: ...

    async def remove(self, conversation_id: str, *fields: str) -> None: ...

    async def record_survey(self, conversation_id: str, agent_id: str, stars: int) -> None: ...

    async def conversation_for(self, channel: str, address: str, default: str) -> str: ...

    async def link_identities(
        self,
        identities: dict[str, str],
        candidate: str,
        channel: str | None = None,
        address: str | None = None,
    ) -> str: ...


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

    async def info(self, conversation_id: str) -> dict[str, str]:
        raw = await self._redis.hgetall(keys.conversation(conversation_id))
        return {str(k): str(v) for k, v in raw.items()}

    async def read_fields(self, conversation_id: str, *names: str) -> dict[str, str | None]:
        """Only the named fields (None where absent): cheaper than `info` on a hash with payload records."""
        values = await self._redis.hmget(keys.conversation(conversation_id), list(names))
        return {name: None if v is None else str(v) for name, v in zip(names, values, strict=True)}

    async def update(self, conversation_id: str, fields: dict[str, str]) -> None:
        # Only contact fields: ownership changes go through the routing scripts.
        await self._redis.hset(keys.conversation(conversation_id), mapping=fields)  # type: ignore[arg-type]

    async def remove(self, conversation_id: str, *fields: str) -> None:
        await self._redis.hdel(keys.conversation(conversation_id), *fields)

    async def conversation_for(self, channel: str, address: str, default: str) -> str:
        linked = await self._redis.get(keys.address(channel, address))
        return str(linked) if linked else default

    async def link_identities(
        self,
        identities: dict[str, str],
        candidate: str,
        channel: str | None = None,
        address: str | None = None,
    ) -> str:
        """The one conversation of a customer known by verified identities (storefront id, email, phone).

        The first identity already linked wins; the others are linked to it. With a channel address (a
        Telegram chat), that address now leads to the same conversation.
        """
        chosen = candidate
        for kind, value in identities.items():
            existing = await self._redis.get(keys.identity(kind, value))
            if existing:
                chosen = str(existing)
                break
        for kind, value in identities.items():
            await self._redis.set(keys.identity(kind, value), chosen, nx=True)
        if channel and address:
            await self._redis.set(keys.address(channel, address), chosen)
        return chosen

    async def record_survey(self, conversation_id: str, agent_id: str, stars: int) -> None:
        entry = {"conversation_id": conversation_id, "agent_id": agent_id, "stars": str(stars)}
        await self._redis.xadd(keys.surveys(), entry, maxlen=100_000, approximate=True)  # type: ignore[arg-type]
