"""The facts the hub leaves for the analytical store, and the writer that moves them there.

The hub appends events (docs/analytics.md, "Events") to one Redis stream, `hub:analytics:events`: a
customer message's and the assistant's turn ride along with the transcript append in the same script
(handoff/transcript.py), the rarer ones (a handoff, an accept, a ticket) are one XADD each. Nothing in the
hub waits for the store, so a busy or missing store never slows a customer's message.

One writer per machine (a Redis lease per `group`) reads the stream from the position its store last
committed: the store keeps that position in the same transaction as the facts, so a writer that dies
between the two starts again where the store stands and nothing is counted twice or lost. The stream is
capped (`ANALYTICS_STREAM_MAX` entries, about a busy week): a store offline for longer misses the oldest
events, and says so in the log. Several machines each give their store a group of their own and each
store gets every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from handoff import keys

logger = logging.getLogger(__name__)

STREAM_MAX = 1_000_000
BATCH = 500
LEASE_SECONDS = 15.0
LINGER_SECONDS = 0.5  # after a short batch, wait for more: fewer, larger transactions, far less CPU
IDLE_CLOSE_EVERY_SECONDS = 60.0
TEXT_MAX = 200


def fact(kind: str, conversation_id: str, ts: float | None = None, **fields: Any) -> dict[str, Any]:
    """One event as the store reads it; None fields are left out."""
    body = {"type": kind, "conversation_id": conversation_id, "ts": round(ts or time.time(), 3)}
    body.update({k: v for k, v in fields.items() if v is not None})
    return body


def short(text: str | None) -> str | None:
    return None if text is None else text[:TEXT_MAX]


class Store(Protocol):
    """What the writer needs of handoff.analytics.store.AnalyticsStore (synchronous: run in a thread)."""

    def ingest(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> int: ...

    def close_idle(self, now: float) -> int: ...

    def last_stream_id(self) -> str | None: ...


class AnalyticsFeed:
    """Appends events that do not ride along with a transcript write. A Redis error is logged, never
    raised: the facts are a by-product of serving the customer."""

    def __init__(self, redis: Redis, maxlen: int = STREAM_MAX) -> None:
        self._redis = redis
        self.maxlen = maxlen

    async def emit(self, *events: Mapping[str, Any]) -> None:
        if not events:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for e in events:
                    pipe.xadd(
                        keys.analytics_events(),
                        {"e": json.dumps(e, ensure_ascii=False)},
                        maxlen=self.maxlen,
                        approximate=True,
                    )
                await pipe.execute()
        except (RedisError, OSError):
            logger.warning("hub.analytics.emit_failed", exc_info=True)


def default_group() -> str:
    """This machine's store: its host name (each machine's store reads every event)."""
    return socket.gethostname() or "local"


class AnalyticsWriter:
    """Moves the stream into the store while this worker holds the group's lease."""

    def __init__(
        self,
        redis: Redis,
        store: Store,
        group: str,
        batch: int = BATCH,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self._redis: Any = redis
        self._store = store
        self._group = group
        self._batch = batch
        self._lease_seconds = lease_seconds
        self._clock = clock
        self._linger = linger
        self._me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._closed_idle_at = 0.0
        self.applied = 0  # events applied by this writer (for tests and the log)
        self.last_read = 0  # events in the latest batch read

    async def run(self, stopping: asyncio.Event) -> None:
        """Until `stopping`: take the lease when free, then write batches; on any failure wait and retry
        (the events stay in the stream)."""
        while not stopping.is_set():
            try:
                if await self._hold_lease():
                    await self.write_once(block_ms=1000)
                    if self.last_read < self._batch and self._linger > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stopping.wait(), self._linger)
                    continue
            except (RedisError, OSError):
                logger.warning("hub.analytics.redis_unavailable", exc_info=True)
            except Exception:
                logger.exception("hub.analytics.store_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), min(self._lease_seconds / 3, 5.0))
        with contextlib.suppress(RedisError, OSError):
            await self._release()

    async def write_once(self, block_ms: int | None = None) -> int:
        """Read the events after the store's position and apply them; the number applied."""
        position = await asyncio.to_thread(self._store.last_stream_id) or "0-0"
        await self._check_gap(position)
        reply = await self._redis.xread(
            {keys.analytics_events(): position}, count=self._batch, block=block_ms
        )
        entries: list[tuple[str, Mapping[str, Any]]] = []
        for _stream, items in reply or []:
            for entry_id, fields in items:
                entries.append((str(entry_id), _decode(fields)))
        self.last_read = len(entries)
        applied = await asyncio.to_thread(self._store.ingest, entries) if entries else 0
        self.applied += applied
        now = self._clock()
        if now - self._closed_idle_at >= IDLE_CLOSE_EVERY_SECONDS:
            self._closed_idle_at = now
            await asyncio.to_thread(self._store.close_idle, now)
        return applied

    async def _check_gap(self, position: str) -> None:
        """A store further behind than the stream reaches has lost events: say so once per gap."""
        if position == "0-0":
            return
        first = await self._redis.xrange(keys.analytics_events(), count=1)
        if first and _order(str(first[0][0])) > _order(position) and not self._gap_reported(position):
            logger.warning(
                "hub.analytics.events_trimmed",
                extra={"store_position": position, "oldest_kept": str(first[0][0])},
            )

    _reported: str | None = None

    def _gap_reported(self, position: str) -> bool:
        seen, self._reported = self._reported == position, position
        return seen

    async def _hold_lease(self) -> bool:
        key = keys.analytics_lease(self._group)
        ttl_ms = int(self._lease_seconds * 1000)
        if await self._redis.set(key, self._me, nx=True, px=ttl_ms):
            logger.info("hub.analytics.writer_started", extra={"group": self._group})
            return True
        return bool(await self._redis.eval(_RENEW, 1, key, self._me, ttl_ms))

    async def _release(self) -> None:
        await self._redis.eval(_RELEASE, 1, keys.analytics_lease(self._group), self._me)


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _decode(fields: Mapping[Any, Any]) -> Mapping[str, Any]:
    raw = fields.get("e") if isinstance(fields, Mapping) else None
    try:
        value = json.loads(raw) if isinstance(raw, str | bytes) else None
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {}  # the store counts and skips a malformed entry


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
