"""Reading the conversation's context (language, customer, channel) from the tracker."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker


def language(tracker: Tracker) -> str:
    value = tracker.get_slot("language")
    return value if value in ("en", "zh") else "en"


def metadata(tracker: Tracker) -> dict[str, Any]:
    """Metadata the hub attaches to every customer message (channel, customer_id, ...)."""
    meta = tracker.latest_message.get("metadata") if tracker.latest_message else None
    return meta if isinstance(meta, dict) else {}


def customer_id(tracker: Tracker) -> str | None:
    value = metadata(tracker).get("customer_id")
    return value if isinstance(value, str) and value else None
