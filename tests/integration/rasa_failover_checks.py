"""Rasa's side of a Redis failover: the tracker and lock stores that endpoints.yml configures, built by
Rasa's own factories, keep working on the master the sentinels promote. Run with the Rasa virtualenv's
Python by tests/integration/test_redis_failover.py, which drives it line by line:

  stdin  {"url", "sentinels", "master", "sentinel_password"}  -> stdout {"phase": "before", ...}
  stdin  "go" (the primary was killed and a replica promoted) -> stdout {"phase": "after", ...}
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered
from rasa.utils.endpoints import read_endpoint_config

from bot.serve import ROOT, redis_settings, resolve_template, retention_seconds, tracker_store_settings
from common.redis_connect import sentinel_config

SENDER = "failover-chat"
HELD = "failover-held"  # a lock left issued after the failover, for the test to find on the new master
DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet]
responses:
  utter_greet: [{text: "hi"}]
"""
)


def report(data: dict[str, Any]) -> None:
    print(json.dumps(data), flush=True)


def turn(text: str) -> list[Event]:
    return [
        ActionExecuted("action_listen"),
        UserUttered(text, {"name": "greet", "confidence": 1.0}),
        ActionExecuted("utter_greet"),
        BotUttered(f"echo: {text}"),
    ]


def stores(settings: dict[str, str]) -> tuple[Any, Any]:
    """The stores exactly as the Rasa server gets them: endpoints.yml filled in by bot.serve, then Rasa's
    own factories (which quietly fall back to memory for a tracker store they cannot build)."""
    sentinel = sentinel_config(settings["sentinels"], settings["master"], settings["sentinel_password"])
    env = {
        **redis_settings(settings["url"], sentinel),
        **tracker_store_settings({}),
        "ACTIONS_URL": "http://127.0.0.1:5055",
        "ACTIONS_TOKEN": "a" * 20,
        "RASA_TRACKER_RETENTION_SECONDS": str(retention_seconds({})),
    }
    with tempfile.TemporaryDirectory() as directory:
        endpoints = Path(directory) / "endpoints.yml"
        endpoints.write_text(resolve_template((ROOT / "endpoints.yml").read_text(), env))
        tracker_config = read_endpoint_config(str(endpoints), "tracker_store")
        lock_config = read_endpoint_config(str(endpoints), "lock_store")
    return TrackerStore.create(tracker_config, DOMAIN), LockStore.create(lock_config)


def master_of(client: Any) -> list[Any] | None:
    address = getattr(client.connection_pool, "master_address", None)
    return [str(address[0]), int(address[1])] if address else None


async def texts(store: Any) -> list[str]:
    tracker = await store.retrieve(SENDER)
    return [e.text for e in tracker.events if isinstance(e, UserUttered)] if tracker else []


async def take_turn(store: Any, locks: Any, text: str) -> None:
    """A turn as Rasa's processor takes it: under the conversation's lock, retrieve, extend, save."""
    async with locks.lock(SENDER, wait_time_in_seconds=0.05):
        tracker = await store.retrieve(SENDER) or await store.create_tracker(
            SENDER, append_action_listen=False
        )
        for event in turn(text):
            tracker.update(event)
        await store.save(tracker)


async def main() -> None:
    settings = json.loads(sys.stdin.readline())
    store, locks = stores(settings)
    await take_turn(store, locks, "before the failover")
    report(
        {
            "phase": "before",
            "tracker_store": type(store).__name__,
            "lock_store": type(locks).__name__,
            "texts": await texts(store),
            "master": master_of(store.red),
            "lock_master": master_of(locks.red),
        }
    )
    if sys.stdin.readline().strip() != "go":
        return
    errors: list[str] = []
    deadline = time.monotonic() + 20
    while True:
        try:
            await take_turn(store, locks, "after the failover")
            locks.issue_ticket(HELD)
            break
        except Exception as exc:  # the first calls find their connections to the old primary dead
            errors.append(type(exc).__name__)
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    report(
        {
            "phase": "after",
            "texts": await texts(store),
            "master": master_of(store.red),
            "lock_master": master_of(locks.red),
            "errors": errors,
        }
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main())
