"""The TranscriptStore contract (handoff/transcript.py): the Redis streams and the in-memory fake."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from handoff import keys
from handoff.transcript import (
    Author,
    InMemoryTranscriptStore,
    Message,
    RedisTranscriptStore,
    TranscriptStore,
)

TS = 1_700_000_000.0


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.integration), "in_memory"])
def store(request: pytest.FixtureRequest, contract_redis: Redis) -> TranscriptStore:
    return RedisTranscriptStore(contract_redis) if request.param == "redis" else InMemoryTranscriptStore()


def said(text: str, author: Author = "customer", **extra: Any) -> Message:
    return Message(**{"author": author, "text": text, "channel": "web", "ts": TS, **extra})


async def texts(store: TranscriptStore, conversation_id: str, after: str = "-") -> list[str]:
    return [m.text for m in await store.read(conversation_id, after=after)]


async def test_every_field_of_a_message_is_read_back_with_the_id_its_append_returned(
    store: TranscriptStore,
) -> None:
    message = Message(
        author="agent", text="您好, here is the label", channel="telegram", ts=TS + 0.125,
        buttons=[{"title": "Yes", "payload": "/affirm"}], internal=True, agent_id="ann", client_id="w-1",
        attachments=[{"id": "a" * 32, "content_type": "image/jpeg", "size": 1234}], id="ignored",
    )  # fmt: skip
    entry_id = await store.append("c1", message)
    (stored,) = await store.read("c1")
    assert entry_id and entry_id != "ignored"  # the store assigns the id
    assert stored == Message(**{**message.__dict__, "id": entry_id})
    await store.append("c1", said("no photos"))
    assert (await store.read_last("c1", 1))[0].attachments is None  # None, not []


async def test_messages_are_read_in_the_order_they_were_appended(store: TranscriptStore) -> None:
    first = await store.append("c1", said("one"))
    rest = await store.append_many("c1", [said("two", "bot"), said("three", "system", ts=TS - 60)])
    assert await store.append_many("c1", []) == []
    messages = await store.read("c1")
    assert [m.text for m in messages] == ["one", "two", "three"]  # the order of appends, not of ts
    assert [m.id for m in messages] == [first, *rest] and len({first, *rest}) == 3


async def test_conversations_are_kept_apart_and_an_unknown_one_is_empty(store: TranscriptStore) -> None:
    await store.append("c1", said("mine"))
    await store.append("c2", said("theirs"))
    assert await texts(store, "c1") == ["mine"]
    assert await store.read("nobody") == [] and await store.read_last("nobody", 5) == []


async def test_a_cursor_resumes_after_its_message_and_a_limit_takes_the_oldest(
    store: TranscriptStore,
) -> None:
    ids = await store.append_many("c1", [said(str(n)) for n in range(5)])
    assert await texts(store, "c1", after=ids[1]) == ["2", "3", "4"]
    assert await texts(store, "c1", after=ids[-1]) == []
    assert [m.text for m in await store.read("c1", limit=2)] == ["0", "1"]
    assert [m.text for m in await store.read("c1", after=ids[1], limit=2)] == ["2", "3"]


async def test_a_cursor_the_store_never_gave_reads_from_where_it_points(store: TranscriptStore) -> None:
    """Clients send any well-formed id as `after` (handoff.transcript.STREAM_ID)."""
    ids = await store.append_many("c1", [said("one"), said("two")])
    milliseconds, sequence = ids[-1].split("-")
    assert await texts(store, "c1", after="0-0") == ["one", "two"]
    assert await texts(store, "c1", after=f"{milliseconds}-{int(sequence) + 1}") == []


async def test_the_last_messages_come_oldest_first(store: TranscriptStore) -> None:
    await store.append_many("c1", [said(str(n)) for n in range(5)])
    assert [m.text for m in await store.read_last("c1", 2)] == ["3", "4"]
    assert [m.text for m in await store.read_last("c1", 50)] == ["0", "1", "2", "3", "4"]


async def test_a_re_sent_message_is_stored_once(store: TranscriptStore) -> None:
    once = keys.client_message("c1", "w-1")
    assert not await store.seen_once(once)
    entry_id = await store.append_once("c1", said("hello", client_id="w-1"), once)
    assert entry_id is not None
    assert await store.seen_once(once)
    assert not await store.seen_once(keys.client_message("c2", "w-1"))
    assert await store.append_once("c1", said("hello", client_id="w-1"), once) is None
    assert [m.id for m in await store.read("c1")] == [entry_id]
    # Another client id, and the same client id in another conversation, are other messages.
    assert await store.append_once("c1", said("next"), keys.client_message("c1", "w-2")) is not None
    assert await store.append_once("c2", said("hello"), keys.client_message("c2", "w-1")) is not None
    await store.append("c1", said("hello"))  # a plain append knows nothing of once-keys
    assert await texts(store, "c1") == ["hello", "next", "hello"]
    assert await texts(store, "c2") == ["hello"]
