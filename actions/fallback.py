"""Rasa's default fallback, made to end loops: the second unclear answer in a row offers a person.

Rasa runs `action_default_fallback` when nothing predicts the next action, for instance when an answer to a
form's question fills nothing. Its default says "didn't get that" and forgets the message, so the form asks
again, for ever. This one does the same the first time; the second time in a row it ends the form and offers a
person (reason repeated_failure), telling the agent which question it was.

One message is not unclear at all though no rule follows it: an answer nobody asked for that says what
is wrong with an item ("订单SO-…，面霜发错了", "SO-… the kettle arrived broken"). It starts the return
form, whose checks send damaged and wrong items to a person with the order proven first.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.order_forms import MAX_UNCLEAR_ANSWERS

NAME = "action_default_fallback"
RETURN_FORM = "return_form"
#: Requests that a message told as a story may be, where a return would be the wrong flow to start.
OTHER_REQUESTS = frozenset(
    {"cancel_order", "change_address", "order_status", "refund_status", "request_refund"}
)
OTHER_REQUEST_MIN = 0.15
#: Actions that may stand between two unclear answers without breaking the run: listening, and the form
#: asking its question again.
_NEUTRAL = ("action_listen", NAME)
_ASKING = tuple(f"{kind}_ask_" for kind in ("action", "utter"))  # a form's question, by name prefix


def unclear_in_a_row(tracker: Tracker) -> int:
    """How many fallbacks ran for the latest customer messages, counting back until anything else ran."""
    form = (tracker.active_loop or {}).get("name")
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "action":
            continue
        name = event.get("name")
        if name == NAME:
            count += 1
        elif name not in _NEUTRAL and name != form and not str(name).startswith(_ASKING):
            break
    return count


def reports_an_item_problem(tracker: Tracker) -> bool:
    """Outside any form, a bare answer (`inform`) that carries a return reason, and that the understanding
    did not also hear as another request ("I need to cancel SO-…, ordered it by mistake": a close
    `cancel_order` is no return)."""
    if (tracker.active_loop or {}).get("name"):
        return False
    latest = tracker.latest_message or {}
    if (latest.get("intent") or {}).get("name") != "inform":
        return False
    other_request = any(
        r.get("name") in OTHER_REQUESTS and float(r.get("confidence") or 0) >= OTHER_REQUEST_MIN
        for r in latest.get("intent_ranking") or []
    )
    return not other_request and any(e.get("entity") == "return_reason" for e in latest.get("entities") or [])


class ActionDefaultFallback(Action):
    def name(self) -> str:
        return NAME

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if reports_an_item_problem(tracker):
            return [FollowupAction(RETURN_FORM)]
        if unclear_in_a_row(tracker) + 1 < MAX_UNCLEAR_ANSWERS:
            dispatcher.utter_message(response="utter_default")
            # As Rasa's own, the message is forgotten so a form asks its question again; the language it
            # was written in is kept (the revert would undo it).
            return [UserUtteranceReverted(), SlotSet("language", conversation.language(tracker))]
        dispatcher.utter_message(response="utter_form_stuck")
        asked = tracker.get_slot("requested_slot")
        return [
            ActiveLoop(None),
            SlotSet("requested_slot", None),
            SlotSet("stuck_on", str(asked or tracker.latest_message.get("text") or "")),
            SlotSet("handoff_reason", "repeated_failure"),
            FollowupAction("utter_offer_agent"),  # a yes hands off (data/rules/handoff.yml)
        ]
