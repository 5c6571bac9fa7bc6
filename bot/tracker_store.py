"""A Redis tracker store whose cost per turn does not grow with the conversation.

Rasa 3.6's RedisTrackerStore keeps a conversation as one JSON document: every message reads it, parses it
whole, and on saving reads and parses it again, replays it to compare it with the new one and writes it
whole. A turn therefore costs more the longer the chat has gone on (docs/benchmarks.md, "Cost per turn").

Here a conversation is two keys:
- `rasa_events:<sender>`, a list with one JSON event per entry, only ever appended to (the full history,
  kept for `retrieve_full_tracker` and anything else that needs it);
- `rasa_head:<sender>`, a hash: `start`, where the recent window begins in that list, and `snapshot`, the
  state before that window (slot values, the active form and its flags, a pause) as a few events.

A turn loads the snapshot and the window (the last `window_turns` to `window_turns + window_slack` customer
turns, far more than the policies look at: MemoizationPolicy's max history is 5 states, the rules are a
few turns long), and a save appends only the events the turn added, in one Lua script that first checks
nobody else appended meanwhile. Every few turns the window moves forward and a new snapshot is computed
from the events in memory, so saving is bounded as well.

A tracker built from the window is the tracker the policies would see for the whole history: the snapshot
restores every slot and the form's state as they were when the window starts. What it does not contain is
what happened before the window, so anything that reads the whole history (the handoff packet's intent
history, the affect summary) covers the last `window_turns` turns at least.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    ConversationPaused,
    Event,
    FollowupAction,
    LoopInterrupted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

EVENTS_PREFIX = "rasa_events:"
HEAD_PREFIX = "rasa_head:"
#: Where Rasa's own RedisTrackerStore kept a conversation (its key prefix is "tracker:" whatever the
#: endpoint configuration says, unless that is alphanumeric): read once and moved on the first save.
LEGACY_PREFIX = "tracker:"
DEFAULT_WINDOW_TURNS = 10
DEFAULT_WINDOW_SLACK = 5
#: A form active for longer than this many windows does not hold the window back any more.
LOOP_CAP = 4
#: Events pushed per Redis call when a whole history is written (Lua's unpack has a limit).
CHUNK = 500

# KEYS: events, head. Returns {start, snapshot or false, events from start}.
_LOAD = """
local start = tonumber(redis.call('HGET', KEYS[2], 'start') or '0')
local snapshot = redis.call('HGET', KEYS[2], 'snapshot')
return {start, snapshot, redis.call('LRANGE', KEYS[1], start, -1)}
"""

# KEYS: events, head. ARGV: expected length (-1: do not check), ttl seconds (0: none), start and snapshot
# ('' keeps the stored one), then the new events. Returns the new length, or -1 when the list had changed.
_APPEND = """
local expected = tonumber(ARGV[1])
if expected >= 0 and redis.call('LLEN', KEYS[1]) ~= expected then
  return -1
end
if #ARGV > 4 then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 5))
end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[2], 'start', ARGV[3])
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], 'snapshot', ARGV[4])
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return redis.call('LLEN', KEYS[1])
"""


@dataclass
class StoredPart:
    """Which of a tracker's events are stored where: `tracker.events[prefix:prefix + stored]` are the
    list's entries from `base` on, and the list had `base + stored` entries when they were read or
    written. The first `prefix` events are the snapshot, never stored as events."""

    base: int
    prefix: int
    stored: int
    start: int  # where the stored window begins in the list
    loop_trigger: dict[str, Any] | None = None  # the snapshot's form trigger message


def _mark(tracker: DialogueStateTracker) -> StoredPart | None:
    part = getattr(tracker, "_stored_part", None)
    return part if isinstance(part, StoredPart) else None


def snapshot_events(tracker: DialogueStateTracker, timestamp: float) -> list[Event]:
    """Events that recreate `tracker`'s state (slots, active form, pause, follow-up) from an empty one."""
    events: list[Event] = [
        SlotSet(name, slot.value, timestamp=timestamp)
        for name, slot in tracker.slots.items()
        if slot.has_been_set
    ]
    loop = tracker.active_loop
    if loop is not None and loop.name:
        events.append(ActiveLoop(loop.name, timestamp=timestamp))
        if loop.is_interrupted:
            events.append(LoopInterrupted(True, timestamp=timestamp))
        if loop.rejected:
            events.append(ActionExecutionRejected(loop.name, timestamp=timestamp))
    if tracker.is_paused():
        events.append(ConversationPaused(timestamp=timestamp))
    if tracker.followup_action and tracker.followup_action != ACTION_LISTEN_NAME:
        events.append(FollowupAction(tracker.followup_action, timestamp=timestamp))
    return events


def _dumps(event: Event) -> str:
    return json.dumps(event.as_dict(), ensure_ascii=False)


def _loads(raw: bytes | str) -> Event:
    event = Event.from_parameters(json.loads(raw))
    if event is None:
        raise ValueError(f"a stored tracker event could not be read: {str(raw)[:80]!r}")
    return event


class WindowedRedisTrackerStore(TrackerStore):
    """Append-only events in Redis; a turn reads a snapshot and a bounded window of recent events."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        use_ssl: bool = False,
        record_exp: float | None = None,
        window_turns: int = DEFAULT_WINDOW_TURNS,
        window_slack: int = DEFAULT_WINDOW_SLACK,
        event_broker: Any = None,
        client: Any = None,
        sentinels: str | None = None,
        sentinel_master: str | None = None,
        sentinel_password: str | None = None,
        **kwargs: Any,
    ) -> None:
        """`sentinels` (`host:port,...`, empty for none): the store talks to the master they name for
        `sentinel_master`, following a failover, and `host` and `port` are not used."""
        super().__init__(domain, event_broker, **kwargs)
        if int(window_turns) < 1 or int(window_slack) < 1:
            raise ValueError("tracker_store: window_turns and window_slack must be at least 1")
        self.window_turns = int(window_turns)
        self.window_slack = int(window_slack)
        self.record_exp = int(record_exp) if record_exp else 0
        if client is None:
            import redis.asyncio

            from common.redis_connect import async_master, sentinel_config

            options: dict[str, Any] = {
                "db": int(db),
                "username": username or None,
                "password": password or None,
                "ssl": bool(use_ssl),
            }
            if sentinels:
                config = sentinel_config(sentinels, sentinel_master or "", sentinel_password)
                client = async_master(config, **options)
            else:
                client = redis.asyncio.Redis(host=host, port=int(port), **options)
        self.red = client
        self._load = self.red.register_script(_LOAD)
        self._append = self.red.register_script(_APPEND)

    # ---- reading -------------------------------------------------------------------------------

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session's tracker: the snapshot, then the window's events (from the session's
        start, if the session started inside the window)."""
        start, snapshot, raw = await self._load(keys=self._keys(sender_id))
        if not raw:
            return await self._retrieve_legacy(sender_id, latest_session=True)
        start = int(start)
        events = [_loads(item) for item in raw]
        session = _last_session_start(events)
        prefix: list[Event] = []
        if session is not None:
            start += session
            events = events[session:]
        trigger = None
        if session is None and snapshot:
            saved = json.loads(snapshot)
            prefix = [_loads(json.dumps(item)) for item in saved["events"]]
            trigger = saved.get("loop_trigger")
        tracker = self._build(sender_id, prefix + events, len(prefix), trigger)
        tracker._stored_part = StoredPart(  # type: ignore[attr-defined]
            base=start, prefix=len(prefix), stored=len(events), start=start, loop_trigger=trigger
        )
        return tracker

    async def retrieve_full_tracker(self, sender_id: str) -> DialogueStateTracker | None:
        raw = await self.red.lrange(EVENTS_PREFIX + sender_id, 0, -1)
        if not raw:
            return await self._retrieve_legacy(sender_id, latest_session=False)
        events = [_loads(item) for item in raw]
        tracker = self._build(sender_id, events)
        start = int(await self.red.hget(HEAD_PREFIX + sender_id, "start") or 0)
        tracker._stored_part = StoredPart(  # type: ignore[attr-defined]
            base=0, prefix=0, stored=len(events), start=start
        )
        return tracker

    async def _retrieve_legacy(self, sender_id: str, latest_session: bool) -> DialogueStateTracker | None:
        """A conversation Rasa's own Redis store saved: read as it was, moved here on the next save."""
        stored = await self.red.get(LEGACY_PREFIX + sender_id)
        if stored is None:
            return None
        tracker = self.deserialise_tracker(sender_id, stored)
        if tracker is None:
            return None
        events = list(tracker.events)
        if latest_session:
            session = _last_session_start(events)
            if session:
                tracker = self._build(sender_id, events[session:])
        tracker._legacy_events = events  # type: ignore[attr-defined]
        return tracker

    def _build(
        self,
        sender_id: str,
        events: list[Event],
        prefix: int = 0,
        loop_trigger: dict[str, Any] | None = None,
    ) -> DialogueStateTracker:
        """A tracker from `events`, the first `prefix` of them a snapshot: after those, the active form
        gets back the message that triggered it (an ActiveLoop event alone would take the latest)."""
        tracker = self.init_tracker(sender_id)
        for event in events[:prefix]:
            tracker.update(event)
        if prefix and tracker.active_loop is not None:
            tracker.active_loop.trigger_message = loop_trigger
        for event in events[prefix:]:
            tracker.update(event)
        return tracker

    async def keys(self) -> Iterable[str]:
        return [
            key.decode()[len(HEAD_PREFIX) :] if isinstance(key, bytes) else key[len(HEAD_PREFIX) :]
            async for key in self.red.scan_iter(HEAD_PREFIX + "*", count=1000)
        ]

    async def exists(self, conversation_id: str) -> bool:
        keys = (EVENTS_PREFIX, HEAD_PREFIX, LEGACY_PREFIX)
        return bool(await self.red.exists(*(prefix + conversation_id for prefix in keys)))

    # ---- writing -------------------------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        events = list(tracker.events)
        part = _mark(tracker)
        legacy = getattr(tracker, "_legacy_events", None)
        if part is not None:
            new = events[part.prefix + part.stored :]
            length = await self._write(tracker, events, part, new, expected=part.base + part.stored)
            if length < 0:
                logger.warning(
                    "Conversation %s was saved by another process meanwhile; appending this turn's "
                    "events and leaving the window as the other process wrote it.",
                    tracker.sender_id,
                )
                await self._write(tracker, events, part, new, expected=-1, move=False)
                # Where this tracker's events now sit in the list is not known: the next save of this
                # tracker object merges as for a tracker Rasa built itself.
                tracker._stored_part = None  # type: ignore[attr-defined]
                return
            mapped_from = part.prefix
        elif legacy is not None:
            # The first save of a conversation from Rasa's own store writes its whole history once.
            known = {id(event) for event in legacy}  # events compare equal without their timestamps
            history = legacy + [event for event in events if id(event) not in known]
            part = StoredPart(base=0, prefix=0, stored=0, start=0)
            length = await self._move_legacy(tracker, history, part)
            del tracker._legacy_events  # type: ignore[attr-defined]
            mapped_from = len(events)
        else:
            # A tracker Rasa built itself (a new conversation, or events posted over the HTTP API).
            part, new, mapped_from = await self._unmarked(tracker.sender_id, events)
            length = await self._write(tracker, events, part, new, expected=-1, move=mapped_from == 0)
        # From now on the tracker's events from `mapped_from` on are the list's last entries.
        held = len(events) - mapped_from
        tracker._stored_part = StoredPart(  # type: ignore[attr-defined]
            base=length - held,
            prefix=mapped_from,
            stored=held,
            start=part.start,
            loop_trigger=part.loop_trigger if mapped_from == part.prefix else _trigger(tracker),
        )

    async def _move_legacy(
        self, tracker: DialogueStateTracker, history: list[Event], part: StoredPart
    ) -> int:
        """Writes a whole history (in chunks) with its head and removes the old key, in one transaction."""
        sender = tracker.sender_id
        start, snapshot = self._next_window(tracker, history, part)
        part.start = start
        pipe = self.red.pipeline(transaction=True)
        pipe.delete(EVENTS_PREFIX + sender, HEAD_PREFIX + sender)
        for i in range(0, len(history), CHUNK):
            pipe.rpush(EVENTS_PREFIX + sender, *(_dumps(event) for event in history[i : i + CHUNK]))
        pipe.hset(
            HEAD_PREFIX + sender, mapping={"start": start, **({"snapshot": snapshot} if snapshot else {})}
        )
        if self.record_exp:
            pipe.expire(EVENTS_PREFIX + sender, self.record_exp)
            pipe.expire(HEAD_PREFIX + sender, self.record_exp)
        pipe.delete(LEGACY_PREFIX + sender)
        await pipe.execute()
        return len(history)

    async def _unmarked(self, sender_id: str, events: list[Event]) -> tuple[StoredPart, list[Event], int]:
        """What of an unmarked tracker is new: everything, for a conversation not stored yet; else, as
        Rasa's own store merges, the events after the last stored one."""
        start, _snapshot, raw = await self._load(keys=self._keys(sender_id))
        if not raw:
            return StoredPart(base=0, prefix=0, stored=0, start=0), events, 0
        stored = [_loads(item) for item in raw]
        last = stored[-1].timestamp
        new = [e for e in events if e.timestamp > last or (e.timestamp == last and e not in stored)]
        return StoredPart(base=0, prefix=len(events), stored=0, start=int(start)), new, len(events)

    async def _write(
        self,
        tracker: DialogueStateTracker,
        events: list[Event],
        part: StoredPart,
        new: list[Event],
        expected: int,
        move: bool = True,
    ) -> int:
        start, snapshot = self._next_window(tracker, events, part) if move else ("", "")
        args: list[Any] = [expected, self.record_exp, start, snapshot]
        args.extend(_dumps(event) for event in new)
        length = int(await self._append(keys=self._keys(tracker.sender_id), args=args))
        if length >= 0 and start != "":
            part.start = int(start)
            if new and self.event_broker is not None:
                await self._stream_new_events(self.event_broker, new, tracker.sender_id)
        return length

    def _next_window(
        self, tracker: DialogueStateTracker, events: list[Event], part: StoredPart
    ) -> tuple[int, str]:
        """Where the window starts after this save, and the snapshot for it ('' when unchanged).

        Rasa folds a form's happy-path runs into one when it builds the policies' states, so turns
        answered inside a form add almost nothing to what the policies look back on. The window therefore
        counts only turns that begin outside a form, keeps `window_turns` of them, and starts where no
        form is active. It moves only when `window_slack` more have gathered, so the state is replayed
        every few turns, not on every save. A form that lasts longer than `LOOP_CAP` windows is cut all
        the same."""
        turns = [i for i in range(part.prefix, len(events)) if isinstance(events[i], UserUttered)]
        if len(turns) <= self.window_turns + self.window_slack:
            return part.start, ""
        # Each candidate begins at the listen that preceded the customer's message.
        candidates = [i - 1 if i > part.prefix and _is_listen(events[i - 1]) else i for i in turns]
        state = self._build(tracker.sender_id, events[: part.prefix], part.prefix, part.loop_trigger)
        free: list[bool] = []  # no form active where the candidate begins
        position = part.prefix
        for candidate in candidates:
            for event in events[position:candidate]:
                state.update(event)
            position = candidate
            free.append(state.active_loop is None or not state.active_loop.name)
        counted = [k for k, is_free in enumerate(free) if is_free]
        cut: int | None = None
        if len(counted) > self.window_turns + self.window_slack:
            # the latest loop-free start that keeps `window_turns` loop-free turns in the window
            cut = candidates[counted[-self.window_turns]]
        elif len(turns) > LOOP_CAP * self.window_turns:
            cut = candidates[-self.window_turns]
        if cut is None or cut <= part.prefix:
            return part.start, ""
        state = self._build(tracker.sender_id, events[:cut], part.prefix, part.loop_trigger)
        snapshot = {
            "events": [event.as_dict() for event in snapshot_events(state, events[cut].timestamp)],
            "loop_trigger": _trigger(state),
        }
        # The list index of events[cut]: events from the prefix on start at `part.base`.
        return part.base + (cut - part.prefix), json.dumps(snapshot, ensure_ascii=False)

    @staticmethod
    def _keys(sender_id: str) -> list[str]:
        return [EVENTS_PREFIX + sender_id, HEAD_PREFIX + sender_id]


def _trigger(tracker: DialogueStateTracker) -> dict[str, Any] | None:
    return tracker.active_loop.trigger_message if tracker.active_loop is not None else None


def _is_listen(event: Event) -> bool:
    return isinstance(event, ActionExecuted) and event.action_name == ACTION_LISTEN_NAME


def _last_session_start(events: list[Event]) -> int | None:
    for i in range(len(events) - 1, -1, -1):
        event = events[i]
        if isinstance(event, ActionExecuted) and event.action_name == ACTION_SESSION_START_NAME:
            return i
    return None
