"""The AttemptLimiter contract (actions/orders/attempts.py): the Redis counters and the actions' fake."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from actions.orders.attempts import AttemptLimiter, AttemptLimits, RedisAttemptLimiter
from tests.unit.fakes import FakeAttemptLimiter

Make = Callable[[AttemptLimits], AttemptLimiter]
ADDRESS = "203.0.113.50"


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.integration), "fake"])
def make(request: pytest.FixtureRequest, contract_redis: Redis) -> Make:
    if request.param == "redis":
        return lambda limits: RedisAttemptLimiter(contract_redis, limits)
    return FakeAttemptLimiter


async def test_nothing_is_locked_before_a_wrong_answer(make: Make) -> None:
    limiter = make(AttemptLimits())
    assert not await limiter.locked("c1", ADDRESS)
    assert not await limiter.locked("c1", None)


async def test_a_conversation_is_locked_by_the_wrong_answer_that_uses_up_its_allowance(make: Make) -> None:
    limiter = make(AttemptLimits(per_conversation=2, per_address=5, window_seconds=60))
    assert await limiter.failed("c1", ADDRESS) is False
    assert not await limiter.locked("c1", ADDRESS)
    assert await limiter.failed("c1", ADDRESS) is True
    assert await limiter.locked("c1", ADDRESS) and await limiter.locked("c1", None)
    assert await limiter.failed("c1", ADDRESS) is True  # still used up
    assert not await limiter.locked("c2", "203.0.113.51")


async def test_one_address_is_limited_across_conversations(make: Make) -> None:
    limiter = make(AttemptLimits(per_conversation=10, per_address=3, window_seconds=60))
    assert [await limiter.failed(c, ADDRESS) for c in ("a", "b", "c")] == [False, False, True]
    assert await limiter.locked("d", ADDRESS)
    assert not await limiter.locked("d", "203.0.113.51")
    assert not await limiter.locked("d", None)


async def test_without_an_address_only_the_conversation_counts(make: Make) -> None:
    limiter = make(AttemptLimits(per_conversation=2, per_address=1, window_seconds=60))
    assert await limiter.failed("c1", None) is False
    assert await limiter.failed("c2", "") is False
    assert not await limiter.locked("c3", ADDRESS)
    assert await limiter.failed("c1", None) is True


async def test_conversations_and_addresses_are_counted_apart(make: Make) -> None:
    limiter = make(AttemptLimits(per_conversation=1, per_address=5, window_seconds=60))
    assert await limiter.failed(ADDRESS, None) is True  # a conversation whose id looks like an address
    assert not await limiter.locked("c2", ADDRESS)


async def test_a_lock_out_ends_with_the_window_that_began_at_the_first_wrong_answer(make: Make) -> None:
    limiter = make(AttemptLimits(per_conversation=2, per_address=5, window_seconds=2))
    assert await limiter.failed("c1", None) is False
    await asyncio.sleep(1.2)
    assert await limiter.failed("c1", None) is True  # a later wrong answer does not extend the window
    await asyncio.sleep(1.0)
    assert not await limiter.locked("c1", None)
    assert await limiter.failed("c1", None) is False  # a new window, counted from one
