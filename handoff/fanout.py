"""One Redis pub/sub subscription per worker, fanned out to the live connections (widget WebSockets,
agent consoles) in that worker. Notifications only say "look again": readers fetch messages from the
transcript by cursor, so a lost notification delays a message but never loses or repeats it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from redis.asyncio import Redis

from handoff import keys
from handoff.routing.engine import EVENTS_CHANNEL

logger = logging.getLogger(__name__)

QUEUE_SIZE = 256


class Fanout:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._by_conversation: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        # Readers following one routing queue's changes (a waiting customer's position), so a change in
        # one queue wakes only the customers waiting in it, not every open widget.
        self._by_queue: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._following: dict[asyncio.Queue[dict[str, Any]], str] = {}
        self._broadcast: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe before returning, so nothing published after it is missed. Started by the first
        live connection: a worker that serves no WebSocket holds no subscription."""
        if self._task is None:
            pubsub = await self._subscribe()
            self._task = asyncio.create_task(self._run(pubsub))

    async def _subscribe(self) -> Any:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(keys.transcript_events(), keys.live_events(), EVENTS_CHANNEL)
        return pubsub

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=2.0)
            self._task = None

    @contextlib.asynccontextmanager
    async def subscribe(
        self, conversation_id: str | None, broadcast: bool = False
    ) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """Events for one conversation (and, with `broadcast`, routing events for everyone)."""
        await self.start()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        if conversation_id is not None:
            self._add(conversation_id, queue)
        if broadcast:
            self._broadcast.add(queue)
        try:
            yield queue
        finally:
            if conversation_id is not None:
                self._remove(conversation_id, queue)
            self._broadcast.discard(queue)
            self.follow_queue(queue, None)

    def follow_queue(self, queue: asyncio.Queue[dict[str, Any]], name: str | None) -> None:
        """Deliver `queue_changed` events of routing queue `name` (None: stop) to this reader."""
        previous = self._following.pop(queue, None)
        if previous is not None:
            followers = self._by_queue.get(previous, set())
            followers.discard(queue)
            if not followers:
                self._by_queue.pop(previous, None)
        if name is not None:
            self._following[queue] = name
            self._by_queue.setdefault(name, set()).add(queue)

    @contextlib.asynccontextmanager
    async def subscribe_many(self, broadcast: bool = True) -> AsyncIterator[Watch]:
        """A console's feed: routing events and a changeable set of watched conversations."""
        await self.start()
        watch = Watch(self)
        if broadcast:
            self._broadcast.add(watch.queue)
        try:
            yield watch
        finally:
            watch.set(())
            self._broadcast.discard(watch.queue)

    def _add(self, conversation_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._by_conversation.setdefault(conversation_id, set()).add(queue)

    def _remove(self, conversation_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        subscribers = self._by_conversation.get(conversation_id, set())
        subscribers.discard(queue)
        if not subscribers:
            self._by_conversation.pop(conversation_id, None)

    def dispatch(self, channel: str, event: dict[str, Any]) -> None:
        event = {**event, "channel": channel}
        targets = set(self._by_conversation.get(str(event.get("conversation_id")), set()))
        if channel == EVENTS_CHANNEL:
            targets |= self._broadcast
            if event.get("type") == "queue_changed":
                targets |= self._by_queue.get(str(event.get("queue")), set())
        for queue in targets:
            with contextlib.suppress(asyncio.QueueFull):  # a stalled reader catches up by cursor
                queue.put_nowait(event)

    def resync(self) -> None:
        """After a gap in the subscription, every reader looks again."""
        for conversation_id in list(self._by_conversation):
            self.dispatch(keys.transcript_events(), {"conversation_id": conversation_id, "type": "resync"})

    async def _run(self, pubsub: Any) -> None:
        while True:
            try:
                async for raw in pubsub.listen():
                    try:
                        event = json.loads(raw["data"])
                    except (TypeError, ValueError):
                        continue
                    if isinstance(event, dict):
                        self.dispatch(str(raw["channel"]), event)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)
                raise
            except Exception:
                logger.warning("hub.fanout.reconnecting", exc_info=True)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    pubsub = await self._subscribe()
                    self.resync()


class Watch:
    """One reader's queue and the conversations it currently follows."""

    def __init__(self, fanout: Fanout) -> None:
        self._fanout = fanout
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.conversations: frozenset[str] = frozenset()

    def set(self, conversation_ids: Iterable[str]) -> None:
        wanted = frozenset(conversation_ids)
        for cid in self.conversations - wanted:
            self._fanout._remove(cid, self.queue)
        for cid in wanted - self.conversations:
            self._fanout._add(cid, self.queue)
        self.conversations = wanted
