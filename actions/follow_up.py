"""The same ask about another order: "ok and SO-10009125?" right after an order's or a refund's status was
given asks the same about the new order, however the understanding read the message."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

#: Forms whose answer a customer may ask again about another order in a few words.
REPEATABLE_FORMS = ("order_status_form", "refund_status_form")


def same_ask_again(tracker: Tracker) -> str | None:
    """The status form that finished in the assistant's last turn, when the latest message names an order
    and no form is running; None otherwise."""
    if (tracker.active_loop or {}).get("name"):
        return None
    latest = tracker.latest_message or {}
    if not any(e.get("entity") == "order_id" for e in latest.get("entities") or []):
        return None
    events: list[dict[str, Any]] = list(tracker.events)
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if len(users) < 2:
        return None
    last_turn = events[users[-2] + 1 : users[-1]]  # what ran between the previous message and this one
    ran = [e.get("name") for e in last_turn if e.get("event") == "active_loop"]
    finished = len(ran) >= 2 and ran[-1] is None and ran[-2] in REPEATABLE_FORMS
    return str(ran[-2]) if finished else None
