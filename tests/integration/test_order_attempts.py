"""The order-check attempt limiter against a real Redis server."""

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from actions.orders.attempts import AttemptLimits, RedisAttemptLimiter


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    await client.delete(*[k async for k in client.scan_iter("actions:order_check:*")] or ["-"])
    yield client
    await client.aclose()


async def test_wrong_answers_lock_the_conversation_then_expire(redis: Redis) -> None:
    limiter = RedisAttemptLimiter(redis, AttemptLimits(per_conversation=2, per_address=5, window_seconds=60))
    assert not await limiter.locked("c1", "198.51.100.7")
    assert await limiter.failed("c1", "198.51.100.7") is False
    assert await limiter.failed("c1", "198.51.100.7") is True
    assert await limiter.locked("c1", "198.51.100.7")
    assert not await limiter.locked("c2", "198.51.100.8")
    ttl = await redis.ttl("actions:order_check:conv:c1")
    assert 0 < ttl <= 60  # the lock-out ends by itself


async def test_one_address_is_limited_across_conversations(redis: Redis) -> None:
    limiter = RedisAttemptLimiter(redis, AttemptLimits(per_conversation=10, per_address=3, window_seconds=60))
    for conversation in ("a", "b", "c"):
        await limiter.failed(conversation, "203.0.113.50")
    assert await limiter.locked("d", "203.0.113.50")
    assert not await limiter.locked("d", "203.0.113.51")
    assert not await limiter.locked("d", None)
