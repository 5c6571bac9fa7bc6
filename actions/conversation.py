"""Reading the conversation's context (language, customer, channel) from the tracker."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.orders.verification import channel_identity


def language(tracker: Tracker) -> str:
    value = tracker.get_slot("language")
    return value if value in ("en", "zh") else "en"


def metadata(tracker: Tracker) -> dict[str, Any]:
    """Metadata the hub attaches to every customer message (channel, customer_id, verified_by, ...)."""
    meta = tracker.latest_message.get("metadata") if tracker.latest_message else None
    return meta if isinstance(meta, dict) else {}


def customer_id(tracker: Tracker) -> str | None:
    """The customer the channel vouches for (signed storefront identity, REST backend); else None."""
    return channel_identity(metadata(tracker))[0]


def verified_by(tracker: Tracker) -> str | None:
    """How the channel verified the customer, if it did."""
    return channel_identity(metadata(tracker))[2]


def client_address(tracker: Tracker) -> str | None:
    """The client's network address (or channel address) as the hub saw it: for attempt limits."""
    value = metadata(tracker).get("client_address")
    return value if isinstance(value, str) and value else None
