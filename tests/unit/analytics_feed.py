"""Events for the analytics store tests, fed to the store as the hub's fact stream would."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from handoff.analytics.store import AnalyticsStore

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc).timestamp()


def ev(kind: str, conversation: str, at: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "conversation_id": conversation, "ts": T0 + at, **fields}


class Feed:
    """Hands events to the store with increasing stream ids, as the feed does."""

    def __init__(self, store: AnalyticsStore) -> None:
        self.store = store
        self.n = 0

    def __call__(self, *events: dict[str, Any]) -> int:
        entries = []
        for event in events:
            self.n += 1
            entries.append((f"{1_000_000 + self.n}-0", event))
        return self.store.ingest(entries)


def only_contact(store: AnalyticsStore, conversation: str) -> dict[str, Any]:
    contacts = store.contacts_of(conversation)
    assert len(contacts) == 1
    return contacts[0]
