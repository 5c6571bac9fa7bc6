"""Store contracts: every test runs against each real store and the fake that unit tests use instead.

The Redis stores use the session's redis-server (tests/conftest.py) on a database of their own, emptied
before each test: conversation, identity and attempt keys are global to a database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.integration.api_helpers import database_url

REDIS_DB = 14


@pytest.fixture
async def contract_redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(database_url(redis_url, REDIS_DB), decode_responses=True)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()
