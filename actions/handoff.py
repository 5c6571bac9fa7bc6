"""Handing a conversation to a person, with the context packet the agent's console shows."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.follow_up import same_ask_again
from actions.hub_client import HubClient, HubError
from actions.orders.access import order_access
from actions.orders.model import Order
from actions.orders.store import OrderStore
from actions.orders.verification import channel_identity
from actions.providers import handoff_cues, hub_client, order_store
from common.affect import (
    FRUSTRATION_LEVELS,
    OFFER_PERSON_ACTION,
    frustration,
    ordered_flags,
    risk_flags,
)
from common.patterns import normalise_order_id

logger = logging.getLogger(__name__)

#: Reasons that the customer's own words can make more precise (data/policy/handoff_reasons.yml).
REFINABLE_REASONS = frozenset({"customer_request", "complaint"})
REASON_BY_INTENT = {
    "request_human": "customer_request",
    "complain": "complaint",
    "request_exception": "policy_exception",
}
TRANSCRIPT_LIMIT = 50
PHOTO_REASONS = frozenset({"damaged_goods", "wrong_item", "injury", "counterfeit"})
#: The reason when a frustrated customer accepts the person the assistant offered (action_offer_person).
FRUSTRATED = "frustrated"
#: Reasons about an order: a waiting customer is asked for its number if the assistant does not know it.
ORDER_REASONS = frozenset(
    {"customer_request", "complaint", "refund_overdue", "outside_window", "policy_exception"}
)


def intent_history(tracker: Tracker) -> list[dict[str, Any]]:
    """Every customer turn's intent and confidence, oldest first."""
    history = []
    for event in tracker.events:
        if event.get("event") == "user":
            intent = (event.get("parse_data") or {}).get("intent") or {}
            history.append(
                {
                    "text": event.get("text"),
                    "intent": intent.get("name"),
                    "confidence": intent.get("confidence"),
                }
            )
    return history


def affect_summary(tracker: Tracker) -> dict[str, Any]:
    """What the agent's card shows of the customer's mood: every risk flag raised in the conversation, the
    latest frustration level and the highest one."""
    affects = [
        (event.get("parse_data") or {}).get("affect")
        for event in tracker.events
        if event.get("event") == "user"
    ]
    flags = {flag for affect in affects for flag in risk_flags(affect)}
    levels = [frustration(affect) for affect in affects if affect]
    return {
        "risk": ordered_flags(flags),
        "frustration": levels[-1] if levels else "calm",
        "peak_frustration": max(levels, key=FRUSTRATION_LEVELS.index) if levels else "calm",
    }


def previous_bot_action(tracker: Tracker) -> str | None:
    """The last action the assistant ran before the customer's latest message."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return None
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return str(event.get("name"))
    return None


def transcript(tracker: Tracker) -> list[dict[str, Any]]:
    lines = []
    for event in tracker.events:
        if event.get("event") == "user":
            lines.append({"author": "customer", "text": event.get("text"), "ts": event.get("timestamp")})
        elif event.get("event") == "bot" and event.get("text"):
            lines.append({"author": "bot", "text": event.get("text"), "ts": event.get("timestamp")})
    return lines[-TRANSCRIPT_LIMIT:]


def order_summary(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status.value,
        "placed_on": order.placed_on.isoformat(),
        "delivered_on": order.delivered_on.isoformat() if order.delivered_on else None,
        "total": order.total,
        "currency": order.currency,
        "items": [
            {"sku": i.sku, "name": i.name, "category": i.category, "condition": i.condition}
            for i in order.items
        ],
    }


def identity(tracker: Tracker, order: Order | None) -> dict[str, Any]:
    """Who the customer is and how that is known, for the agent's card: the channel's word, or an order
    the customer proved in the chat; unverified otherwise."""
    customer, phone, verified_by = channel_identity(conversation.metadata(tracker))
    how = order_access(order, tracker) if order is not None else None
    proven = order is not None and how is not None
    return {
        "customer_id": customer or (order.customer_id if order is not None and how else None),
        "verified_by": verified_by or how,
        "verified_phone": phone,
        # where a ticket's replies can be emailed: the address of an order the customer proved is theirs
        **({"email": order.email} if proven and order is not None and order.email else {}),
    }


def build_packet(tracker: Tracker, reason: str, order: Order | None) -> dict[str, Any]:
    hidden = ("kb_hits", "verified_orders", "order_check")
    slots = {k: v for k, v in tracker.current_slot_values().items() if v is not None and k not in hidden}
    latest = tracker.latest_message.get("intent") or {}
    who = identity(tracker, order)
    proven = order is not None and order_access(order, tracker) is not None
    return {
        "conversation_id": tracker.sender_id,
        "reason": reason,
        "language": conversation.language(tracker),
        "channel": str(
            conversation.metadata(tracker).get("channel") or tracker.get_latest_input_channel() or ""
        ),
        "customer_id": who["customer_id"],
        "identity": who,
        "intent": latest.get("name"),
        "intent_history": intent_history(tracker),
        "entities": tracker.latest_message.get("entities") or [],
        "slots": slots,
        # The agent sees the order the customer named; `verified` says whether they proved it is theirs.
        "order": {**order_summary(order), "verified": proven} if order else {},
        "kb_hits": tracker.get_slot("kb_hits") or [],
        "affect": affect_summary(tracker),
        "transcript": transcript(tracker),
    }


async def _order_if_known(store: OrderStore, tracker: Tracker) -> Order | None:
    raw = tracker.get_slot("order_id")
    order_id = normalise_order_id(raw) if isinstance(raw, str) else None
    if not order_id:
        return None
    try:
        return await store.get(order_id)
    except Exception:  # the packet is still worth sending without the order
        logger.warning("actions.handoff.order_lookup_failed", exc_info=True)
        return None


class ActionHandoff(Action):
    def __init__(self, hub: HubClient | None = None, store: OrderStore | None = None) -> None:
        self._hub = hub
        self._store = store

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name", "")
        reason = tracker.get_slot("handoff_reason") or REASON_BY_INTENT.get(intent, "customer_request")
        if previous_bot_action(tracker) == OFFER_PERSON_ACTION:
            reason = FRUSTRATED
        flagged = risk_flags(tracker.latest_message.get("affect"))
        if flagged:  # safety, fraud and legal threats outrank whatever the message is about
            return await self.handoff(dispatcher, tracker, flagged[0])
        if reason in REFINABLE_REASONS:  # "the kettle gave me a shock": safety, not a generic complaint
            said = " ".join(str(line["text"] or "") for line in intent_history(tracker)[-3:])
            reason = handoff_cues().reason(said, conversation.language(tracker)) or reason
        return await self.handoff(dispatcher, tracker, reason)

    async def handoff(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        reason: str,
        kb_hits: list[Any] | None = None,
        experiments: dict[str, str] | None = None,
    ) -> list[EventType]:
        """Post the packet to the hub and tell the customer; other actions call this for their triggers.
        `experiments`: the experiment variants that led to this handoff ({experiment id: variant})."""
        order = await _order_if_known(self._store or order_store(), tracker)
        packet = build_packet(tracker, reason, order)
        if kb_hits is not None:
            packet["kb_hits"] = kb_hits
        if experiments:
            packet["experiments"] = dict(experiments)
        try:
            await (self._hub or hub_client()).create_handoff(packet)
        except HubError:
            logger.exception("actions.handoff.failed", extra={"conversation_id": tracker.sender_id})
            dispatcher.utter_message(response="utter_handoff_failed")
            return [SlotSet("handoff_reason", None)]
        # The hub tells the customer their live queue position and wait; the assistant only confirms, and
        # asks once for what the agent will need, without holding the customer back.
        dispatcher.utter_message(response="utter_handoff_queued")
        ended = [ActiveLoop(None), SlotSet("requested_slot", None)] if tracker.active_loop else []
        if reason in PHOTO_REASONS:
            dispatcher.utter_message(response="utter_handoff_send_photo")
        elif order is None and reason in ORDER_REASONS and tracker.get_slot("stuck_on") != "order_id":
            dispatcher.utter_message(response="utter_handoff_send_order_number")
        return [
            *ended,
            SlotSet("handoff_reason", None),
            SlotSet("kb_hits", None),
            SlotSet("stuck_on", None),
            SlotSet("policy_decision", None),
            ConversationPaused(),
        ]


class ActionOfferPerson(Action):
    """Offers a person to a customer whose frustration has stayed high (bot.escalation decides when).

    A form in progress ends: the customer's next "yes" answers this offer, not the form's question."""

    def name(self) -> str:
        return OFFER_PERSON_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_offer_person_frustrated")
        return [ActiveLoop(None), SlotSet("requested_slot", None)] if tracker.active_loop else []


class ActionLowConfidence(Action):
    """Ask to rephrase once; the second unclear turn in a row goes to a person."""

    def __init__(self, handoff: ActionHandoff | None = None) -> None:
        self._handoff = handoff or ActionHandoff()

    def name(self) -> str:
        return "action_low_confidence"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        again = same_ask_again(tracker)
        if again is not None:  # "ok and SO-…?" after a status answer: the same ask, about that order
            return [FollowupAction(again)]
        if consecutive_fallbacks(tracker) >= 2:
            return await self._handoff.handoff(dispatcher, tracker, "low_confidence")
        dispatcher.utter_message(response="utter_default")
        return []


def consecutive_fallbacks(tracker: Tracker) -> int:
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != "nlu_fallback":
            break
        count += 1
    return count
