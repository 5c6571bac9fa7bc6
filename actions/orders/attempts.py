"""Limits on proving an order: a few wrong answers per conversation and per client address, then a pause.

Counters live in Redis with a TTL, so every action-server worker sees the same numbers and a lock-out
ends by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

KEY_PREFIX = "actions:order_check"


@dataclass(frozen=True)
class AttemptLimits:
    per_conversation: int = 3
    per_address: int = 10
    window_seconds: int = 3600


class AttemptLimiter(Protocol):
    async def locked(self, conversation_id: str, address: str | None) -> bool:
        """True while this conversation or client address has used up its wrong answers."""
        ...

    async def failed(self, conversation_id: str, address: str | None) -> bool:
        """Count a wrong answer; True when that used up the allowance."""
        ...


class RedisAttemptLimiter:
    def __init__(self, redis: Any, limits: AttemptLimits | None = None) -> None:
        self._redis = redis
        self._limits = limits or AttemptLimits()

    def _keys(self, conversation_id: str, address: str | None) -> list[tuple[str, int]]:
        keys = [(f"{KEY_PREFIX}:conv:{conversation_id}", self._limits.per_conversation)]
        if address:
            keys.append((f"{KEY_PREFIX}:addr:{address}", self._limits.per_address))
        return keys

    async def locked(self, conversation_id: str, address: str | None) -> bool:
        keys = self._keys(conversation_id, address)
        counts = await self._redis.mget([key for key, _ in keys])
        return any(int(count or 0) >= limit for count, (_, limit) in zip(counts, keys, strict=True))

    async def failed(self, conversation_id: str, address: str | None) -> bool:
        keys = self._keys(conversation_id, address)
        async with self._redis.pipeline(transaction=True) as pipe:
            for key, _ in keys:
                # The window starts at the first wrong answer (SET NX EX; INCR keeps the TTL).
                pipe.set(key, 0, ex=self._limits.window_seconds, nx=True)
                pipe.incr(key)
            results = await pipe.execute()
        counts = results[1::2]
        return any(int(count) >= limit for count, (_, limit) in zip(counts, keys, strict=True))
