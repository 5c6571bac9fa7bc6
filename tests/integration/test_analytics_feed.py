"""The analytics feed against a real Redis: events ride along with transcript appends in the same script,
one writer per group moves them into the store, and a writer taking over continues where the store stands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from handoff import keys
from handoff.analytics.feed import AnalyticsFeed, AnalyticsWriter, fact
from handoff.analytics.store import AnalyticsStore, Filters
from handoff.transcript import Message, RedisTranscriptStore
from tests.integration.api_helpers import own_database

pytestmark = pytest.mark.integration

REDIS_DB = 6  # the stream is global: a database of its own keeps other tests' events out


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with own_database(redis_url, REDIS_DB) as client:
        yield client


class MemoryStore:
    """What the writer needs of a store; keeps its position like the real one (in the same step)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Mapping[str, Any]]] = []
        self.closed_idle: list[float] = []

    def ingest(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> int:
        self.events.extend(entries)
        return len(entries)

    def close_idle(self, now: float) -> int:
        self.closed_idle.append(now)
        return 0

    def last_stream_id(self) -> str | None:
        return self.events[-1][0] if self.events else None


async def stream(redis: Redis) -> list[dict[str, Any]]:
    return [json.loads(f["e"]) for _, f in await redis.xrange(keys.analytics_events())]


async def test_events_are_added_with_the_append_and_not_for_a_re_sent_message(redis: Redis) -> None:
    transcripts = RedisTranscriptStore(redis)
    message = Message(author="customer", text="hi", channel="widget", client_id="k1")
    events = [fact("customer_message", "c1", message.ts, channel="widget", language="en")]
    once = keys.client_message("c1", "k1")
    assert await transcripts.append_once("c1", message, once, events) is not None
    assert await transcripts.append_once("c1", message, once, events) is None
    bot = [Message(author="bot", text=t, channel="widget") for t in ("a", "b")]
    await transcripts.append_many("c1", bot, [fact("bot_turn", "c1", intent="greet")])
    assert [e["type"] for e in await stream(redis)] == ["customer_message", "bot_turn"]
    assert [m.text for m in await transcripts.read("c1")] == ["hi", "a", "b"]
    await transcripts.append("c1", Message(author="system", text="note", channel=""))  # no events
    assert len(await stream(redis)) == 2


async def test_the_stream_is_capped(redis: Redis) -> None:
    transcripts = RedisTranscriptStore(redis, events_maxlen=10)
    feed = AnalyticsFeed(redis, maxlen=10)
    for n in range(300):
        note = Message(author="bot", text=str(n), channel="")
        await transcripts.append("c2", note, [fact("bot_turn", "c2")])
        await feed.emit(fact("accepted", "c2", agent_id="ann", wait=1.0))
    # approximate trimming keeps whole nodes: far fewer than were added, at least the limit
    assert 10 <= await redis.xlen(keys.analytics_events()) < 300


async def test_one_writer_per_group_and_a_successor_continues_without_repeats(redis: Redis) -> None:
    feed = AnalyticsFeed(redis)
    store = MemoryStore()
    await feed.emit(*(fact("customer_message", f"c{n}", channel="rest") for n in range(25)))
    first = AnalyticsWriter(redis, store, "machine-a", batch=10, lease_seconds=5)
    second = AnalyticsWriter(redis, store, "machine-a", batch=10, lease_seconds=5)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(first.run(stop_first))
    await _until(lambda: len(store.events) == 25)
    task_second = asyncio.create_task(second.run(stop_second))
    await feed.emit(fact("customer_message", "late", channel="rest"))
    await _until(lambda: len(store.events) == 26)
    assert second.applied == 0  # the lease is held
    stop_first.set()
    await task  # releases the lease
    await feed.emit(*(fact("customer_message", f"d{n}", channel="rest") for n in range(5)))
    await _until(lambda: len(store.events) == 31)
    stop_second.set()
    await task_second
    assert second.applied == 5
    ids = [entry_id for entry_id, _ in store.events]
    assert len(set(ids)) == len(ids) == 31 and ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert store.closed_idle  # contacts without activity are closed while writing


async def test_each_group_gets_every_event(redis: Redis) -> None:
    feed = AnalyticsFeed(redis)
    await feed.emit(*(fact("customer_message", f"c{n}", channel="rest") for n in range(7)))
    stores = [MemoryStore(), MemoryStore()]
    for group, store in zip(("machine-a", "machine-b"), stores, strict=True):
        await AnalyticsWriter(redis, store, group)._hold_lease()
        await AnalyticsWriter(redis, store, group).write_once()
    assert [len(s.events) for s in stores] == [7, 7]


async def test_a_malformed_entry_reaches_the_store_as_empty_and_the_writer_goes_on(redis: Redis) -> None:
    await redis.xadd(keys.analytics_events(), {"e": "{not json"})
    await redis.xadd(keys.analytics_events(), {"other": "1"})
    await AnalyticsFeed(redis).emit(fact("closed", "c9"))
    store = MemoryStore()
    assert await AnalyticsWriter(redis, store, "g").write_once() == 3
    assert [dict(e) for _, e in store.events][:2] == [{}, {}]
    assert store.events[2][1]["type"] == "closed"


async def _until(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_conversation_reaches_the_real_store_once_across_a_writers_restart(
    redis: Redis, tmp_path: Path
) -> None:
    """The hub's events for a handed-off, answered, resolved and rated chat become one contact; a writer
    that stops and a new one that starts (on a new store object over the same file) count nothing twice."""
    feed = AnalyticsFeed(redis)
    t = 1_800_000_000.0
    await feed.emit(
        fact("customer_message", "w1", t, channel="widget", language="en"),
        fact("bot_turn", "w1", t + 1, intent="request_human", confidence=0.9, fallback=False, kb_miss=False),
        fact(
            "handoff", "w1", t + 2, reason="customer_request", queue="general", language="en", experiments={}
        ),
    )
    path = tmp_path / "analytics.sqlite"
    store = AnalyticsStore(path)
    first = AnalyticsWriter(redis, store, "g")
    await first.write_once()
    store.close()
    await feed.emit(
        fact("accepted", "w1", t + 32, agent_id="ann", wait=30.0),
        fact("agent_message", "w1", t + 40, agent_id="ann"),
        fact("resolved", "w1", t + 100, agent_id="ann"),
        fact("csat", "w1", t + 110, agent_id="ann", stars=5),
    )
    again = AnalyticsStore(path)
    second = AnalyticsWriter(redis, again, "g")
    await second.write_once()
    await second.write_once()  # nothing new: nothing applied twice
    summary = again.summary(Filters(None, None, None, None, None))
    assert summary["contacts"] == 1 and summary["person"] == 1 and summary["handoffs"] == 1
    assert summary["csat_count"] == 1 and summary["csat_average"] == 5
    assert summary["first_person_p50"] == pytest.approx(30.0, rel=0.05)
    assert second.applied == 4
    again.close()
