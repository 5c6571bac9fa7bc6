"""Rasa's default fallback, made to end loops: the second unclear answer in a row offers a person.

Rasa runs `action_default_fallback` when nothing predicts the next action, for instance when an answer to a
form's question fills nothing. Its default says "didn't get that" and forgets the message, so the form asks
again, for ever. This one does the same the first time; the second time in a row it ends the form and offers a
person (reason repeated_failure), telling the agent which question it was.

Some messages are not unclear at all though no rule follows them: a request told as a story, which the
understanding reads as a bare answer with the request close behind ("I need to cancel SO-…, ordered it by
mistake"), and an item problem told unasked ("订单SO-…，面霜发错了"). They start the request's form (the
return form for a problem, whose checks send damaged and wrong items to a person), the order proven first.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.follow_up import same_ask_again
from actions.order_forms import MAX_UNCLEAR_ANSWERS
from actions.returns.actions import RETURN_FORM

NAME = "action_default_fallback"
#: Requests a story may be, and the form each starts (data/rules): heard when ranked at least this high.
FORM_BY_REQUEST = {
    "request_return": RETURN_FORM,
    "request_refund": RETURN_FORM,
    "cancel_order": "cancel_order_form",
    "change_address": "change_address_form",
    "order_status": "order_status_form",
    "refund_status": "refund_status_form",
}
#: Forms that only look an order up: an item problem told beside them is the request.
STATUS_FORMS = frozenset({"order_status_form", "refund_status_form"})
REQUEST_HEARD_MIN = 0.15
# An order number beside a few words of request ("SO-… take the shoes off, keep the rest. postcode …") pulls
# the understanding towards a bare answer; the words around the number are the request, heard lower.
REQUEST_WITH_ORDER_MIN = 0.08
REQUEST_WORDS = 3
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


def form_for_a_told_request(tracker: Tracker) -> str | None:
    """Outside any form, a message the understanding read as a bare answer (`inform`) that is a request told
    as a story: the form of the request it also heard ("I need to cancel SO-…, ordered it by mistake":
    `cancel_order` close behind), or, for an item problem told unasked (a return reason), the return form."""
    if (tracker.active_loop or {}).get("name"):
        return None
    latest = tracker.latest_message or {}
    if (latest.get("intent") or {}).get("name") != "inform":
        return None
    heard = [
        (float(r.get("confidence") or 0), FORM_BY_REQUEST[r["name"]])
        for r in latest.get("intent_ranking") or []
        if r.get("name") in FORM_BY_REQUEST
    ]
    best = max(heard, default=(0.0, None))
    problem = any(e.get("entity") == "return_reason" for e in latest.get("entities") or [])
    if best[1] is not None and best[0] >= _heard_min(latest):
        # "SO-…, you sent the wrong book": the order number pulls towards its status, the problem is the ask.
        return RETURN_FORM if problem and best[1] in STATUS_FORMS else best[1]
    return RETURN_FORM if problem else None


def _heard_min(latest: dict[str, Any]) -> float:
    entities = latest.get("entities") or []
    if not any(e.get("entity") == "order_id" for e in entities):
        return REQUEST_HEARD_MIN
    text = str(latest.get("text") or "")
    for start, end in sorted(((e.get("start"), e.get("end")) for e in entities), reverse=True):
        if isinstance(start, int) and isinstance(end, int):
            text = text[:start] + " " + text[end:]  # the identifiers are not the request's words
    words = re.findall(r"[A-Za-z']+|[\u4e00-\u9fff]{2}", text)
    return REQUEST_WITH_ORDER_MIN if len(words) >= REQUEST_WORDS else REQUEST_HEARD_MIN


class ActionDefaultFallback(Action):
    def name(self) -> str:
        return NAME

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        form = same_ask_again(tracker) or form_for_a_told_request(tracker)
        if form is not None:
            return [FollowupAction(form)]
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
