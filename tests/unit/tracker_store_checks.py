"""Exercises bot.tracker_store against a real Redis with Rasa's own event classes; run by
tests/unit/test_tracker_store.py with the Rasa virtualenv's Python (REDIS_URL in the environment).
Prints one JSON object with what it observed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

import redis.asyncio
from rasa.core.tracker_store import SerializedTrackerAsText
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    LoopInterrupted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, get_trackers_for_conversation_sessions

from bot.rasa_fixes import install
from bot.tracker_store import EVENTS_PREFIX, HEAD_PREFIX, LEGACY_PREFIX, WindowedRedisTrackerStore

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, inform, request_return, chitchat]
entities: [order_id]
slots:
  order_id:
    type: text
    mappings: [{type: from_entity, entity: order_id}]
  language:
    type: categorical
    values: [en, zh]
    mappings: [{type: custom}]
  mood:
    type: text
    influence_conversation: false
    mappings: [{type: custom}]
forms:
  return_form:
    required_slots: [order_id]
responses:
  utter_greet: [{text: "hi"}]
  utter_ask_order_id: [{text: "which order"}]
actions: [action_answer]
"""
)
CLOCK = [1_800_000_000.0]


def at() -> float:
    CLOCK[0] += 0.5
    return CLOCK[0]


def turn_events(i: int) -> list[Event]:
    """One customer turn; the form is active from turn 3 to 20 (answered on its happy path but for an
    interruption at 12, while the window would move), the chat is paused at 30 and resumed at 33."""
    events: list[Event] = [
        ActionExecuted("action_listen", timestamp=at()),
        UserUttered(f"message {i}", {"name": "inform", "confidence": 1.0}, timestamp=at()),
    ]
    if i == 0:
        events += [SlotSet("language", "en", timestamp=at()), ActionExecuted("utter_greet", timestamp=at())]
        events += [BotUttered("hi", timestamp=at())]
    elif i == 3:
        events += [
            ActionExecuted("return_form", timestamp=at()),
            ActiveLoop("return_form", timestamp=at()),
            SlotSet("requested_slot", "order_id", timestamp=at()),
        ]
    elif i == 12:
        events += [LoopInterrupted(True, timestamp=at()), ActionExecuted("action_answer", timestamp=at())]
        events += [SlotSet("mood", "tired", timestamp=at()), ActionExecuted("return_form", timestamp=at())]
    elif i == 20:
        events += [
            ActionExecuted("return_form", timestamp=at()),
            SlotSet("order_id", "SO-12345678", timestamp=at()),
            SlotSet("requested_slot", None, timestamp=at()),
            ActiveLoop(None, timestamp=at()),
        ]
    elif i == 30:
        events += [ActionExecuted("action_answer", timestamp=at()), ConversationPaused(timestamp=at())]
    elif i == 33:
        events += [ConversationResumed(timestamp=at())]
    elif 3 < i < 20:
        # the form's happy path: Rasa folds these runs into the first when it builds the policies' states
        events += [ActionExecuted("return_form", timestamp=at())]
        events += [SlotSet("requested_slot", "order_id", timestamp=at())]
    else:
        events += [ActionExecuted("action_answer", timestamp=at())]
        events += [BotUttered(f"answer {i}", timestamp=at())]
    return events


def state_of(tracker: DialogueStateTracker) -> dict[str, Any]:
    loop = tracker.active_loop
    return {
        "slots": tracker.current_slot_values(),
        "loop": [loop.name, loop.is_interrupted, loop.rejected, loop.trigger_message] if loop else None,
        "paused": tracker.is_paused(),
        "latest": tracker.latest_message.text if tracker.latest_message else None,
        "states": tracker.past_states(DOMAIN)[-8:],
    }


def reference(events: list[Event]) -> DialogueStateTracker:
    tracker = DialogueStateTracker("ref", DOMAIN.slots)
    for event in events:
        tracker.update(event)
    return tracker


async def conversation(
    store: WindowedRedisTrackerStore, sender: str, turns: int, out: dict[str, Any]
) -> None:
    """Turn after turn as Rasa's processor does it: retrieve, add the turn's events, save."""
    history: list[Event] = []
    written: list[int] = []
    original = store._append

    async def recording(keys: Any, args: Any) -> Any:
        written.append(sum(len(str(a)) for a in args[4:]))
        return await original(keys=keys, args=args)

    store._append = recording  # type: ignore[method-assign]
    mismatches, loaded = [], []
    for i in range(turns):
        tracker = await store.retrieve(sender) or await store.create_tracker(
            sender, append_action_listen=False
        )
        if i == 0:
            history = list(tracker.events)
        loaded.append(len(tracker.events))
        for event in turn_events(i):
            tracker.update(event)
            history.append(event)
        await store.save(tracker)
        again = await store.retrieve(sender)
        if state_of(again) != state_of(reference(history)):
            mismatches.append(i)
    store._append = original  # type: ignore[method-assign]
    full = await store.retrieve_full_tracker(sender)
    out["full_history_kept"] = [e.as_dict() for e in full.events] == [e.as_dict() for e in history]
    out["mismatched_turns"] = mismatches
    out["loaded_events"] = loaded
    out["bytes_written"] = written
    out["ttl"] = await store.red.ttl(EVENTS_PREFIX + sender)
    out["head_ttl"] = await store.red.ttl(HEAD_PREFIX + sender)
    out["keys"] = sorted(await store.keys())


async def new_session(store: WindowedRedisTrackerStore, sender: str, out: dict[str, Any]) -> None:
    tracker = await store.retrieve(sender)
    for event in [
        ActionExecuted("action_session_start", timestamp=at()),
        SessionStarted(timestamp=at()),
        SlotSet("language", "en", timestamp=at()),
        ActionExecuted("action_listen", timestamp=at()),
        UserUttered("back again", {"name": "greet", "confidence": 1.0}, timestamp=at()),
    ]:
        tracker.update(event)
    await store.save(tracker)
    latest = await store.retrieve(sender)
    full = await store.retrieve_full_tracker(sender)
    expected = get_trackers_for_conversation_sessions(full)[-1]
    out["session_first_event"] = latest.events[0].as_dict()["name"] if latest.events else None
    out["session_matches"] = [e.as_dict() for e in latest.events] == [e.as_dict() for e in expected.events]


async def legacy(store: WindowedRedisTrackerStore, out: dict[str, Any]) -> None:
    sender = "legacy-customer"
    old = DialogueStateTracker(sender, DOMAIN.slots)
    events = [ActionExecuted("action_listen", timestamp=at())]
    for i in range(4):
        events += turn_events(i)
    for event in events:
        old.update(event)
    await store.red.set(LEGACY_PREFIX + sender, SerializedTrackerAsText.serialise_tracker(old))
    tracker = await store.retrieve(sender)
    out["legacy_read"] = state_of(tracker) == state_of(old)
    extra = turn_events(5)
    for event in extra:
        tracker.update(event)
    await store.save(tracker)
    full = await store.retrieve_full_tracker(sender)
    out["legacy_moved"] = [e.as_dict() for e in full.events] == [e.as_dict() for e in events + extra]
    out["legacy_key_left"] = bool(await store.red.exists(LEGACY_PREFIX + sender))
    # and the next save appends only the new turn
    tracker = await store.retrieve(sender)
    for event in turn_events(6):
        tracker.update(event)
    await store.save(tracker)
    out["legacy_then_appended"] = await store.red.llen(EVENTS_PREFIX + sender) == len(events + extra) + len(
        turn_events(6)
    )


async def two_writers(store: WindowedRedisTrackerStore, out: dict[str, Any]) -> None:
    sender = "two-writers"
    base = await store.create_tracker(sender)
    first, second = await store.retrieve(sender), await store.retrieve(sender)
    a, b = turn_events(1), turn_events(2)
    for event in a:
        first.update(event)
    for event in b:
        second.update(event)
    await store.save(first)
    await store.save(second)
    full = await store.retrieve_full_tracker(sender)
    stored = [e.as_dict() for e in full.events]
    out["both_kept"] = stored == [e.as_dict() for e in list(base.events) + a + b]
    # A writer that moved the window meanwhile keeps its window; the late one only appends.
    sender = "two-writers-long"
    await conversation(store, sender, 20, {})
    first, late = await store.retrieve(sender), await store.retrieve(sender)
    for i in range(20, 30):
        for event in turn_events(i):
            first.update(event)
        await store.save(first)
    for event in turn_events(30):
        late.update(event)
    await store.save(late)
    full = await store.retrieve_full_tracker(sender)
    out["late_writer_state_kept"] = state_of(await store.retrieve(sender)) == state_of(
        reference(list(full.events))
    )


async def posted_events(store: WindowedRedisTrackerStore, out: dict[str, Any]) -> None:
    """A tracker Rasa builds itself for a stored conversation (as the HTTP API's event replacement does)
    adds only what is newer than the stored events."""
    sender = "posted"
    tracker = await store.create_tracker(sender)
    for event in turn_events(1):
        tracker.update(event)
    await store.save(tracker)
    rebuilt = store.init_tracker(sender)
    newer = turn_events(2)
    for event in list(tracker.events) + newer:
        rebuilt.update(event)
    await store.save(rebuilt)
    full = await store.retrieve_full_tracker(sender)
    out["posted_merged"] = [e.as_dict() for e in full.events] == [
        e.as_dict() for e in list(tracker.events) + newer
    ]


async def main() -> None:
    install()
    logging.basicConfig(level=logging.ERROR)
    client = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])
    await client.flushdb()
    store = WindowedRedisTrackerStore(DOMAIN, client=client, record_exp=3600, window_turns=6, window_slack=3)
    out: dict[str, Any] = {}
    await conversation(store, "long-chat", 40, out)
    await new_session(store, "long-chat", out)
    await legacy(store, out)
    await two_writers(store, out)
    await posted_events(store, out)
    try:
        WindowedRedisTrackerStore(DOMAIN, client=client, window_turns=0)
        out["bad_window"] = "accepted"
    except ValueError as exc:
        out["bad_window"] = str(exc)
    await client.aclose() if hasattr(client, "aclose") else await client.close()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
