"""Fixed-window rate limits in Redis, shared by every worker."""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from handoff.errors import TooManyRequests


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._redis: Any = redis

    async def check(self, name: str, key: str, limit: int, window: int) -> None:
        """Count one event for `key`; raise TooManyRequests past `limit` per `window` seconds."""
        slot = int(time.time() // window)
        redis_key = f"hub:rate:{name}:{key}:{slot}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, window + 1)
            count, _ = await pipe.execute()
        if int(count) > limit:
            retry_after = window - int(time.time()) % window
            message = f"too many requests: at most {limit} per {window} s; try again in {retry_after} s"
            raise TooManyRequests(message, retry_after)
