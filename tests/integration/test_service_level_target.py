"""The live service level against its target, and the alert when it stays below for N minutes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from handoff import service_level
from tests.integration.api_helpers import own_database

pytestmark = pytest.mark.integration

NOW = 1_900_000_000.0


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with own_database(redis_url, 7) as client:
        yield client


def handoffs(at_minutes_ago: list[float], outcome: str, wait: float) -> list[tuple[float, str, float]]:
    return [(minutes, outcome, wait) for minutes in at_minutes_ago]


async def record(redis: Redis, *groups: list[tuple[float, str, float]]) -> None:
    """The outcomes, oldest first (stream ids must rise)."""
    items = sorted((item for group in groups for item in group), key=lambda x: -x[0])
    for n, (minutes, outcome, wait) in enumerate(items):
        ms = int((NOW - minutes * 60) * 1000)
        entry = {"conversation_id": f"c{n}", "outcome": outcome, "wait": str(wait)}
        await redis.xadd(service_level.STREAM, entry, id=f"{ms}-{n + 1}")


async def status(redis: Redis, minutes: int = 10) -> dict:
    return await service_level.target_status(redis, 20.0, 0.8, minutes, now=NOW)


async def test_no_handoffs_is_no_level_and_no_alert(redis: Redis) -> None:
    result = await status(redis)
    assert result["level"] is None and result["alert"] is False and result["missed"] is False
    assert result["target"] == {"share": 0.8, "seconds": 20.0}


async def test_a_level_that_stays_low_alerts(redis: Redis) -> None:
    # every minute for the last 30: one answered in time, one late: 50% against a target of 80%
    minutes = [m + 0.5 for m in range(30)]
    await record(redis, handoffs(minutes, "answered", 5.0), handoffs(minutes, "answered", 45.0))
    result = await status(redis)
    assert result["level"] == 0.5 and result["missed"] is True
    assert result["alert"] is True and result["missed_minutes"] == 11


async def test_a_short_dip_does_not_alert(redis: Redis) -> None:
    on_time = handoffs([m + 0.5 for m in range(30)], "answered", 5.0)
    await record(redis, on_time, handoffs([1.5, 2.5], "abandoned", 90.0))  # abandoned: misses
    result = await status(redis)
    # the last 15 minutes: 15 in time, 2 misses: 88%, above the target
    assert result["missed"] is False and result["alert"] is False and result["missed_minutes"] == 0


async def test_recovery_ends_the_alert(redis: Redis) -> None:
    late = handoffs([m + 0.5 for m in range(10, 40)], "answered", 60.0)  # late until 10 min ago
    await record(redis, late, handoffs([m + 0.1 for m in range(0, 10)] * 5, "answered", 2.0))  # then quick
    result = await status(redis)
    assert result["missed"] is False and result["alert"] is False
    earlier = await service_level.target_status(redis, 20.0, 0.8, 10, now=NOW - 12 * 60)
    assert earlier["alert"] is True
