"""Conversation transcripts: the append-only record of every message, stored before it is acknowledged.

A customer message may carry photos: `attachments` lists them as references (`{id, content_type, size}`,
handoff.attachments.Attachment.ref); the files themselves live in the attachment store."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol

from redis.asyncio import Redis

from handoff import keys
from handoff.errors import BadRequest

logger = logging.getLogger(__name__)

Author = Literal["customer", "bot", "agent", "system"]
# What people wrote cannot be produced again, unlike the assistant's and the hub's own messages: only
# appends holding such a message wait for a replica.
WRITTEN_BY_PEOPLE = frozenset({"customer", "agent"})

ONCE_TTL_SECONDS = 86400  # how long a re-sent message (same client id) is still recognised


@dataclass(frozen=True)
class Message:
    author: Author
    text: str
    channel: str
    ts: float = field(default_factory=time.time)
    buttons: list[dict[str, Any]] | None = None
    internal: bool = False  # notes for agents (handoff reason, resolution), never shown to the customer
    agent_id: str | None = None
    client_id: str | None = None  # the widget's own id for a customer message, to match its echo
    attachments: list[dict[str, Any]] | None = None  # photos the customer sent (references, not bytes)
    id: str = ""  # assigned by the store

    def to_fields(self) -> dict[str, str]:
        # A shallow dict: the same JSON as asdict(), without its deep copy on every append.
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "id"}
        if self.attachments is None:
            del data["attachments"]  # most messages have none: their stored JSON stays as it was
        return {"data": json.dumps(data, ensure_ascii=False)}

    @classmethod
    def from_entry(cls, entry_id: str, fields: dict[Any, Any]) -> Message:
        data = json.loads(fields["data"])
        return cls(id=entry_id, **data)


# Analytics events (handoff/analytics/feed.py) that ride along with an append: written in the same script,
# so a message and its facts are stored together, without another round trip, or not at all.
Events = Sequence[Mapping[str, Any]]


class TranscriptStore(Protocol):
    async def append(self, conversation_id: str, message: Message, events: Events = ()) -> str: ...

    async def append_once(
        self, conversation_id: str, message: Message, once_key: str, events: Events = ()
    ) -> str | None: ...

    async def seen_once(self, once_key: str) -> bool:
        """Whether a message was stored with `once_key` (append_once) and the key is still kept."""
        ...

    async def append_many(
        self, conversation_id: str, messages: Sequence[Message], events: Events = ()
    ) -> list[str]: ...

    async def read(self, conversation_id: str, after: str = "-", limit: int = 500) -> list[Message]: ...

    async def read_last(self, conversation_id: str, count: int) -> list[Message]:
        """The latest `count` messages, oldest first."""
        ...


# KEYS: the transcript stream, the conversations index, the transcript events channel, the analytics
# stream, and with a ttl the once-key. ARGV: conversation id, the once-key's ttl in seconds (0: no
# once-key), the analytics stream's approximate length limit, the number n of analytics events, the n
# events' JSON, then per message: its fields' JSON, its ts, and the notification around its entry id
# (before, after). Appends in order, bumps the index, publishes each entry, adds the analytics events;
# returns the entry ids, or false when the once-key already exists (and then adds no event either).
# One script instead of a MULTI and a PUBLISH: one round trip however many messages. The once-key is set
# in the same script as the append so that a crash can never leave a message marked stored but missing.
APPEND = r"""
local ttl = tonumber(ARGV[2])
if ttl > 0 and redis.call('EXISTS', KEYS[5]) == 1 then
  return false
end
local n = tonumber(ARGV[4])
local ids = {}
for i = 5 + n, #ARGV, 4 do
  local id = redis.call('XADD', KEYS[1], '*', 'data', ARGV[i])
  redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[1])
  redis.call('PUBLISH', KEYS[3], ARGV[i + 2] .. id .. ARGV[i + 3])
  ids[#ids + 1] = id
end
for j = 5, 4 + n do
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[j])
end
-- Last: Redis does not undo a script's writes when a later call fails, so the key follows the message.
if ttl > 0 then redis.call('SET', KEYS[5], '1', 'EX', ttl) end
return ids
"""


class RedisTranscriptStore:
    """Transcripts as Redis streams: ordered, append-only, with ids usable as resume cursors.

    With `wait_replicas` (REDIS_WAIT_REPLICAS), a message people wrote is acknowledged only after that many
    replicas have it or `wait_timeout_ms` passed: replication is asynchronous, so a primary that dies right
    after an append could take the message with it. Past the timeout the message is acknowledged all the
    same (a bounded loss window rather than a hub that stops while a replica is away), and
    `hub.redis.unreplicated_write` is logged."""

    def __init__(
        self,
        redis: Redis,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 200,
        events_maxlen: int = 1_000_000,
    ) -> None:
        self._redis = redis
        self._append = redis.register_script(APPEND)
        self._wait_replicas = wait_replicas
        self._wait_timeout_ms = wait_timeout_ms
        self._events_maxlen = events_maxlen

    async def append(self, conversation_id: str, message: Message, events: Events = ()) -> str:
        return (await self.append_many(conversation_id, [message], events))[0]

    async def append_many(
        self, conversation_id: str, messages: Sequence[Message], events: Events = ()
    ) -> list[str]:
        """Store the messages in order; each is stored before its notification is published."""
        return await self._run(conversation_id, messages, None, events) or []

    async def append_once(
        self, conversation_id: str, message: Message, once_key: str, events: Events = ()
    ) -> str | None:
        """Store the message unless `once_key` was seen (then None): a re-sent message is kept once."""
        ids = await self._run(conversation_id, [message], once_key, events)
        return ids[0] if ids else None

    async def seen_once(self, once_key: str) -> bool:
        return bool(await self._redis.exists(once_key))

    async def _run(
        self, conversation_id: str, messages: Sequence[Message], once_key: str | None, events: Events
    ) -> list[str] | None:
        args: list[str | int] = [conversation_id, ONCE_TTL_SECONDS if once_key else 0]
        args += [self._events_maxlen, len(events), *(json.dumps(e, ensure_ascii=False) for e in events)]
        for message in messages:
            # Tell every worker's live connections (widget, console) to read past their cursor. A lost
            # notification only delays a message: readers always fetch by cursor from the stream. The
            # notification is json.dumps({conversation_id, id, author}), with the id filled in by Redis.
            before = json.dumps({"conversation_id": conversation_id, "id": ""})[:-2]
            after = json.dumps({"id": "", "author": message.author})[len('{"id": "') :]
            args += [message.to_fields()["data"], repr(message.ts), before, after]
        keys_ = [
            keys.transcript(conversation_id),
            keys.conversations_index(),
            keys.transcript_events(),
            keys.analytics_events(),
        ]
        if once_key:
            keys_.append(once_key)
        if self._wait_replicas and any(m.author in WRITTEN_BY_PEOPLE for m in messages):
            ids = await self._append_replicated(conversation_id, keys_, args)
        else:
            ids = await self._append(keys=keys_, args=args)
        return None if ids is None else [str(i) for i in ids]

    async def _append_replicated(self, conversation_id: str, keys_: list[str], args: list[str | int]) -> Any:
        # WAIT counts the replicas that have this connection's writes, so it must follow the append on the
        # same connection: one pipeline. EVAL rather than EVALSHA: nothing to reload after a failover.
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.eval(APPEND, len(keys_), *keys_, *args)
            pipe.wait(self._wait_replicas, self._wait_timeout_ms)
            ids, replicated = await pipe.execute()
        if int(replicated) < self._wait_replicas:
            logger.warning(
                "hub.redis.unreplicated_write",
                extra={
                    "conversation_id": conversation_id,
                    "replicas": int(replicated),
                    "wanted": self._wait_replicas,
                    "timeout_ms": self._wait_timeout_ms,
                },
            )
        return ids

    async def read(self, conversation_id: str, after: str = "-", limit: int = 500) -> list[Message]:
        start = "-" if after == "-" else f"({after}"
        entries = await self._redis.xrange(keys.transcript(conversation_id), min=start, count=limit)
        return [Message.from_entry(str(entry_id), dict(fields or {})) for entry_id, fields in entries or []]

    async def read_last(self, conversation_id: str, count: int) -> list[Message]:
        entries = await self._redis.xrevrange(keys.transcript(conversation_id), count=count)
        newest_first = [Message.from_entry(str(i), dict(fields or {})) for i, fields in entries or []]
        return newest_first[::-1]


class InMemoryTranscriptStore:
    """A fake for unit tests, with the same ordering and cursor semantics as the Redis store."""

    def __init__(self) -> None:
        self._streams: dict[str, list[Message]] = {}
        self._once: set[str] = set()
        self._last = (0, -1)  # the latest entry id, as (milliseconds, sequence)
        self.events: list[dict[str, Any]] = []  # the analytics events that rode along, in order

    async def append(self, conversation_id: str, message: Message, events: Events = ()) -> str:
        self.events.extend(dict(e) for e in events)
        # Ids rise like a stream's, "<milliseconds>-<sequence>", so that any id is a cursor.
        milliseconds = max(int(message.ts * 1000), self._last[0])
        sequence = self._last[1] + 1 if milliseconds == self._last[0] else 0
        self._last = (milliseconds, sequence)
        entry_id = f"{milliseconds}-{sequence}"
        stored = Message(**{**asdict(message), "id": entry_id})
        self._streams.setdefault(conversation_id, []).append(stored)
        return entry_id

    async def append_many(
        self, conversation_id: str, messages: Sequence[Message], events: Events = ()
    ) -> list[str]:
        ids = [await self.append(conversation_id, m) for m in messages]
        self.events.extend(dict(e) for e in events)
        return ids

    async def seen_once(self, once_key: str) -> bool:
        return once_key in self._once

    async def append_once(
        self, conversation_id: str, message: Message, once_key: str, events: Events = ()
    ) -> str | None:
        if once_key in self._once:
            return None
        self._once.add(once_key)
        return await self.append(conversation_id, message, events)

    async def read(self, conversation_id: str, after: str = "-", limit: int = 500) -> list[Message]:
        messages = self._streams.get(conversation_id, [])
        if after != "-":
            cursor = _entry_order(after)
            messages = [m for m in messages if _entry_order(m.id) > cursor]
        return messages[:limit]

    async def read_last(self, conversation_id: str, count: int) -> list[Message]:
        return self._streams.get(conversation_id, [])[-count:] if count > 0 else []


def _entry_order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


# Cursors: clients page through a transcript with `after`, the id of the last message they have.
STREAM_ID = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})\Z")  # [0-9]: \d would take other scripts' digits
_MAX_STREAM_PART = 2**64 - 1  # Redis stream ids are two unsigned 64-bit numbers


def is_cursor(after: object) -> bool:
    """A message id Redis accepts as an exclusive stream position ("-" is the start): two unsigned 64-bit
    numbers, below the largest id (nothing can come after that one)."""
    if after == "-":
        return True
    match = STREAM_ID.match(after) if isinstance(after, str) else None
    if match is None:
        return False
    ms, seq = (int(part) for part in match.groups())
    return ms <= _MAX_STREAM_PART and seq <= _MAX_STREAM_PART and (ms, seq) != (_MAX_STREAM_PART,) * 2


def check_cursor(after: str) -> str:
    if not is_cursor(after):
        raise BadRequest("'after' must be a message id like 1700000000000-0", field="after")
    return after
