"""Each Telegram update is handled once, by one worker: Telegram retries an update until it gets a 200,
and any worker may receive the retry."""

from __future__ import annotations

from enum import StrEnum

from redis.asyncio import Redis

from handoff import keys

DONE_TTL_SECONDS = 24 * 3600  # Telegram stops retrying an update long before this
PROCESSING_TTL_SECONDS = 120  # a worker that died mid-update frees it for Telegram's next retry


class Claim(StrEnum):
    MINE = "mine"  # handle it now
    DONE = "done"  # handled before: answer 200 again
    BUSY = "busy"  # another worker is on it: answer 503, Telegram retries and finds it done


class UpdateClaims:
    """The claim on each update in Redis; RedisError reaches the caller (the update is then not taken)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def claim(self, update_id: int) -> Claim:
        key = keys.telegram_update(update_id)
        if await self._redis.set(key, "processing", nx=True, ex=PROCESSING_TTL_SECONDS):
            return Claim.MINE
        return Claim.DONE if await self._redis.get(key) == "done" else Claim.BUSY

    async def release(self, update_id: int) -> None:
        """The update failed: Telegram's retry handles it again."""
        await self._redis.delete(keys.telegram_update(update_id))

    async def done(self, update_id: int) -> None:
        await self._redis.set(keys.telegram_update(update_id), "done", ex=DONE_TTL_SECONDS)
