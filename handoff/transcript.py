"""Conversation transcripts: the append-only record of every message, stored before it is acknowledged."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from redis.asyncio import Redis

from handoff import keys

Author = Literal["customer", "bot", "agent", "system"]


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
    id: str = ""  # assigned by the store

    def to_fields(self) -> dict[str, str]:
        data = asdict(self)
        data.pop("id")
        return {"data": json.dumps(data, ensure_ascii=False)}

    @classmethod
    def from_entry(cls, entry_id: str, fields: dict[Any, Any]) -> Message:
        data = json.loads(fields["data"])
        return cls(id=entry_id, **data)


class TranscriptStore(Protocol):
    async def append(self, conversation_id: str, message: Message) -> str: ...

    async def read(self, conversation_id: str, after: str = "-", limit: int = 500) -> list[Message]: ...


class RedisTranscriptStore:
    """Transcripts as Redis streams: ordered, append-only, with ids usable as resume cursors."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def append(self, conversation_id: str, message: Message) -> str:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.transcript(conversation_id), message.to_fields())  # type: ignore[arg-type]
            pipe.zadd(keys.conversations_index(), {conversation_id: message.ts})
            entry_id, _ = await pipe.execute()
        # Tell every worker's live connections (widget, console) to read past their cursor. A lost
        # notification only delays a message: readers always fetch by cursor from the stream.
        note = {"conversation_id": conversation_id, "id": str(entry_id), "author": message.author}
        await self._redis.publish(keys.transcript_events(), json.dumps(note))
        return str(entry_id)

    async def read(self, conversation_id: str, after: str = "-", limit: int = 500) -> list[Message]:
        start = "-" if after == "-" else f"({after}"
        entries = await self._redis.xrange(keys.transcript(conversation_id), min=start, count=limit)
        return [Message.from_entry(str(entry_id), dict(fields or {})) for entry_id, fields in entries or []]


class InMemoryTranscriptStore:
    """A fake for unit tests, with the same ordering and cursor semantics as the Redis store."""

    def __init__(self) -> None:
        self._streams: dict[str, list[Message]] = {}
        self._seq = 0

    async def append(self, conversation_id: str, message: Message) -> str:
        self._seq += 1
        entry_id = f"{int(message.ts * 1000)}-{self._seq}"
        stored = Message(**{**asdict(message), "id": entry_id})
        self._streams.setdefault(conversation_id, []).append(stored)
        return entry_id

    async def read(self, conversation_id: str, after: str = "-", limit: int = 500) -> list[Message]:
        messages = self._streams.get(conversation_id, [])
        if after != "-":
            ids = [m.id for m in messages]
            messages = messages[ids.index(after) + 1 :] if after in ids else messages
        return messages[:limit]
