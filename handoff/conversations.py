"""Conversation ownership: who answers the customer right now (bot, queue, offer, agent or closed)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Queued:
    conversation_id: str
    position: int  # 1-based


class ConversationStore(Protocol):
    async def owner(self, conversation_id: str) -> Owner: ...

    async def enqueue_handoff(self, conversation_id: str, packet: dict[str, Any]) -> Queued: ...

    async def packet(self, conversation_id: str) -> dict[str, Any] | None: ...


# KEYS[1] conversation hash, KEYS[2] packet key, KEYS[3] waiting queue
# ARGV[1] conversation id, ARGV[2] packet JSON, ARGV[3] now (seconds)
# Returns the 1-based queue position. Re-queuing a waiting conversation keeps its place.
ENQUEUE_LUA = """
redis.call('HSET', KEYS[1], 'owner', 'queued', 'queued_at', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[1])
return redis.call('ZRANK', KEYS[3], ARGV[1]) + 1
"""


class RedisConversationStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._enqueue = redis.register_script(ENQUEUE_LUA)

    async def owner(self, conversation_id: str) -> Owner:
        value = await self._redis.hget(keys.conversation(conversation_id), "owner")
        return Owner(str(value)) if value else Owner.BOT

    async def enqueue_handoff(self, conversation_id: str, packet: dict[str, Any]) -> Queued:
        position = await self._enqueue(
            keys=[
                keys.conversation(conversation_id),
                keys.handoff_packet(conversation_id),
                keys.waiting_queue(),
            ],
            args=[conversation_id, json.dumps(packet, ensure_ascii=False), f"{time.time():.3f}"],
        )
        return Queued(conversation_id, int(position))

    async def packet(self, conversation_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(keys.handoff_packet(conversation_id))
        return json.loads(raw) if raw else None


class InMemoryConversationStore:
    """A fake for unit tests."""

    def __init__(self) -> None:
        self.owners: dict[str, Owner] = {}
        self.packets: dict[str, dict[str, Any]] = {}
        self.queue: list[str] = []

    async def owner(self, conversation_id: str) -> Owner:
        return self.owners.get(conversation_id, Owner.BOT)

    async def enqueue_handoff(self, conversation_id: str, packet: dict[str, Any]) -> Queued:
        self.owners[conversation_id] = Owner.QUEUED
        self.packets[conversation_id] = packet
        if conversation_id not in self.queue:
            self.queue.append(conversation_id)
        return Queued(conversation_id, self.queue.index(conversation_id) + 1)

    async def packet(self, conversation_id: str) -> dict[str, Any] | None:
        return self.packets.get(conversation_id)
