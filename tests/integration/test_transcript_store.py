"""The Redis transcript store: a re-sent customer message is stored once, and its once-key never exists
without the message (both are written by one script)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from handoff import keys
from handoff.transcript import Message, RedisTranscriptStore

pytestmark = pytest.mark.integration


async def test_racing_re_sends_of_one_message_store_it_once(redis_url: str) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    store = RedisTranscriptStore(redis)
    cid = f"once-{uuid.uuid4().hex}"
    once = keys.client_message(cid, "c1")
    message = Message(author="customer", text="hello", channel="widget", client_id="c1")
    try:
        results = await asyncio.gather(*(store.append_once(cid, message, once) for _ in range(20)))
        stored = [r for r in results if r is not None]
        assert len(stored) == 1
        assert [m.id for m in await store.read(cid)] == stored
        assert 0 < await redis.ttl(once) <= 86400
        other = await store.append_once(cid, Message(author="customer", text="next", channel="widget"),
                                        keys.client_message(cid, "c2"))  # fmt: skip
        assert [m.text for m in await store.read(cid)] == ["hello", "next"] and other is not None
    finally:
        await redis.delete(keys.transcript(cid), once, keys.client_message(cid, "c2"))
        await redis.aclose()


async def test_a_failing_append_leaves_no_once_key(redis_url: str) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    store = RedisTranscriptStore(redis)
    cid = f"once-{uuid.uuid4().hex}"
    once = keys.client_message(cid, "c1")
    await redis.set(keys.transcript(cid), "not a stream")  # XADD fails inside the script
    try:
        with pytest.raises(Exception, match="WRONGTYPE"):
            await store.append_once(cid, Message(author="customer", text="hi", channel="widget"), once)
        # otherwise the re-send after this error would be acknowledged as stored, and lost
        assert not await redis.exists(once)
    finally:
        await redis.delete(keys.transcript(cid), once)
        await redis.aclose()
