"""The returns flow: which item, why, and whether the policy lets the assistant authorise it."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import conversation
from actions.formatting import CONDITIONS, PAYMENT_METHODS, format_money, label
from actions.handoff import ActionHandoff
from actions.order_forms import OrderIdValidation
from actions.orders.access import actor_for, order_access
from actions.orders.lookup import find_customer_order, lookup_order
from actions.orders.model import Order, OrderItem
from actions.orders.store import OrderStore
from actions.providers import order_store, return_policy
from actions.returns.policy import Outcome, ReturnPolicy, decide

logger = logging.getLogger(__name__)

REASONS = {"damaged", "wrong_size", "wrong_item", "not_as_described", "changed_mind"}
DEFAULT_CARRIER = {"en": "UPS", "zh": "顺丰"}


def match_item(order: Order, text: str) -> OrderItem | None:
    """The order's item the customer means: by SKU or by (part of) its English or Chinese name."""
    wanted = text.strip().lower()
    if not wanted:
        return None
    for item in order.items:
        if wanted == item.sku.lower():
            return item
    for item in order.items:
        names = (item.name.lower(), item.name_zh)
        if any(wanted in name or name in wanted for name in names):
            return item
    words = [w for w in wanted.replace(",", " ").split() if len(w) > 2]
    scored = [(sum(w in item.name.lower() for w in words), item) for item in order.items]
    best = max(scored, key=lambda pair: pair[0], default=(0, None))
    return best[1] if best[0] > 0 else None


def item_name(item: OrderItem, language: str) -> str:
    return item.name_zh if language == "zh" else item.name


class ValidateReturnForm(OrderIdValidation):
    def name(self) -> str:
        return "validate_return_form"

    async def on_verified(self, order: Order, tracker: Tracker) -> dict[str, Any]:
        """The item named earlier in the conversation, or the only one of the order."""
        named = tracker.get_slot("item")
        item = match_item(order, named) if isinstance(named, str) else None
        if item is None and len(order.items) == 1:
            item = order.items[0]  # nothing to choose
        return {"item": item.sku} if item is not None else {}

    async def validate_item(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        order = await lookup_order(self.store, tracker.get_slot("order_id"), tracker)
        if order is None:
            return {"item": value}  # matched once the order is proven (on_verified)
        item = match_item(order, str(value or ""))
        if item is None:
            dispatcher.utter_message(response="utter_item_not_in_order", item=str(value), order_id=order.id)
            return {"item": None}
        return {"item": item.sku}

    async def validate_return_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"return_reason": value if value in REASONS else None}


class ActionAskItem(Action):
    """Offers the order's items as buttons."""

    def __init__(self, store: OrderStore | None = None) -> None:
        self._store = store

    def name(self) -> str:
        return "action_ask_item"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = conversation.language(tracker)
        _, order = await find_customer_order(self._store or order_store(), tracker)
        items = order.items if order else ()
        buttons = [
            {"title": item_name(i, language), "payload": f'/inform{{"item":"{i.sku}"}}'} for i in items
        ]
        dispatcher.utter_message(response="utter_ask_item", buttons=buttons)
        return []


class ActionCheckReturn(Action):
    """Applies the return policy; authorises, explains, or hands the case to a person."""

    def __init__(
        self,
        store: OrderStore | None = None,
        policy: ReturnPolicy | None = None,
        handoff: ActionHandoff | None = None,
        today: date | None = None,
    ) -> None:
        self._store = store
        self._policy = policy
        self._handoff = handoff or ActionHandoff(store=store)
        self._today = today

    def name(self) -> str:
        return "action_check_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        store = self._store or order_store()
        reset = [SlotSet("item", None), SlotSet("return_reason", None), SlotSet("order_check", None)]
        try:
            order_id, order = await find_customer_order(store, tracker)
            item = order.item(str(tracker.get_slot("item"))) if order else None
            if order is None or item is None:
                locked = tracker.get_slot("order_check") == "locked"
                if locked:
                    dispatcher.utter_message(response="utter_order_check_locked")
                else:
                    dispatcher.utter_message(response="utter_order_not_found", order_id=order_id or "")
                return [*reset, SlotSet("order_id", None), SlotSet("return_outcome", "not_returnable_yet")]
            return [*reset, *await self._decide(dispatcher, tracker, store, order, item)]
        except Exception:
            logger.exception("actions.returns.backend_error", extra={"conversation_id": tracker.sender_id})
            events = await self._handoff.handoff(dispatcher, tracker, "backend_error")
            return [*reset, SlotSet("return_outcome", "needs_agent"), *events]

    async def _decide(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        store: OrderStore,
        order: Order,
        item: OrderItem,
    ) -> list[EventType]:
        language = conversation.language(tracker)
        policy = self._policy or return_policy()
        reason = tracker.get_slot("return_reason")
        decision = decide(order, item, reason, self._today or date.today(), policy)
        names = {"order_id": order.id, "item": item_name(item, language)}
        if decision.eligible:
            actor = actor_for(tracker, order_access(order, tracker))
            authorisation = await store.create_return(order.id, item.sku, str(reason), actor)
            dispatcher.utter_message(
                response="utter_return_authorised",
                **names,
                return_number=authorisation.number,
                days_left=max(decision.days_left, 1),
                carrier=order.carrier or DEFAULT_CARRIER[language],
                amount=format_money(item.price * item.quantity, order.currency),
                payment_method=label(PAYMENT_METHODS, order.payment_method, language),
                processing_days=policy.refund_processing_days,
                arrival_days=policy.refund_arrival_days.get(order.payment_method, "3-7"),
            )
            return [SlotSet("return_outcome", "authorised")]
        if decision.outcome is Outcome.NEEDS_AGENT:
            dispatcher.utter_message(response="utter_return_needs_agent", **names)
            # The next rule runs action_handoff with this reason.
            return [
                SlotSet("return_outcome", "needs_agent"),
                SlotSet("handoff_reason", decision.handoff_reason),
            ]
        if decision.outcome in (Outcome.OUTSIDE_WINDOW, Outcome.NON_RETURNABLE, Outcome.CONDITION):
            dispatcher.utter_message(
                response=f"utter_return_{decision.outcome.value}",
                **names,
                window_days=decision.window_days,
                condition=label(CONDITIONS, item.condition, language),
            )
            # The customer may insist: the next rule offers a person with this reason.
            return [
                SlotSet("return_outcome", "offer_agent"),
                SlotSet("handoff_reason", decision.handoff_reason),
            ]
        dispatcher.utter_message(
            response=f"utter_return_{decision.outcome.value}",
            **names,
            return_number=order.return_number or "",
        )
        return [SlotSet("return_outcome", "not_returnable_yet")]
