"""Fixed-window rate limits in Redis, shared by every worker, and the client address they count by.

The client address is the socket's peer unless Sanic is told to trust a reverse proxy's headers
(SANIC_PROXIES_COUNT, SANIC_FORWARDED_SECRET or SANIC_REAL_IP_HEADER in the environment; see
docs/handoff.md): only then is `request.remote_addr` set, from headers that proxy wrote.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis
from sanic.request import Request

from handoff import keys
from handoff.errors import TooManyRequests


def client_address(request: Request) -> str:
    """Who is calling, for rate limits and the assistant's `client_address`: the address a trusted proxy
    reported, otherwise the peer of the connection (forwarding headers are not trusted by default)."""
    return str(request.remote_addr or request.ip)


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._redis: Any = redis

    async def check(self, name: str, key: str, limit: int, window: int) -> None:
        """Count one event for `key`; raise TooManyRequests past `limit` per `window` seconds."""
        slot = int(time.time() // window)
        redis_key = keys.rate_window(name, key, slot)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, window + 1)
            count, _ = await pipe.execute()
        if int(count) > limit:
            retry_after = window - int(time.time()) % window
            message = f"too many requests: at most {limit} per {window} s; try again in {retry_after} s"
            raise TooManyRequests(message, retry_after)
