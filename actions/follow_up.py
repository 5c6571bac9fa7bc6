"""The same ask about another order: "ok and SO-10009125?" right after an order's or a refund's status was
given asks the same about the new order, however the understanding read the message."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher

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
    loops = [(i, e.get("name")) for i, e in enumerate(events[: users[-1]]) if e.get("event") == "active_loop"]
    # The form must have ended between the previous message and this one; it may have started turns before
    # ("where's my refund?" … the order number … the postcode).
    if len(loops) < 2 or loops[-1][1] is not None or loops[-1][0] < users[-2]:
        return None
    form = loops[-2][1]
    return str(form) if form in REPEATABLE_FORMS else None


class ActionWelcome(Action):
    """Thanks, answered; but "great thanks. and SO-10009125?" right after a status answer is the same ask
    about that order (the classifier hears the thanks), so the status form runs again instead."""

    def name(self) -> str:
        return "action_welcome"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        again = same_ask_again(tracker)
        if again is not None:
            return [FollowupAction(again)]
        dispatcher.utter_message(response="utter_welcome")
        return []
