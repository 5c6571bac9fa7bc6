"""Base for actions that act on the order in the `order_id` slot, once the customer has proved it."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.orders.access import actor_for, order_access
from actions.orders.model import Actor, Order
from actions.orders.store import OrderStore
from actions.providers import order_store, return_policy
from actions.returns.policy import ReturnPolicy
from common.patterns import normalise_order_id

logger = logging.getLogger(__name__)

#: Per-request slots every order form fills again next time.
FORM_SCRATCH = (
    "order_check",
    "confirm_cancel",
    "confirm_address",
    "new_address",
    "form_stuck",
    "form_failures",
)


def offer_person_when_stuck(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType] | None:
    """After two unclear answers to one question (see order_forms.stuck_events): say so and offer a person,
    keeping which question it was for the agent. None when the form was not stuck."""
    stuck = tracker.get_slot("form_stuck")
    if not stuck:
        return None
    dispatcher.utter_message(response="utter_form_stuck")
    return [
        *(SlotSet(slot, None) for slot in FORM_SCRATCH),
        SlotSet("stuck_on", str(stuck)),
        SlotSet("handoff_reason", "repeated_failure"),
        FollowupAction("utter_offer_agent"),  # a yes hands off (data/rules/handoff.yml)
    ]


class OrderAction(Action, ABC):
    """Looks the order up and checks access again (never trusting the form alone); an order the customer
    has not proved reads like an unknown one."""

    #: Slots cleared, besides `order_id`, when the order is not found.
    clear_on_not_found: tuple[str, ...] = ()

    def __init__(self, store: OrderStore | None = None, policy: ReturnPolicy | None = None) -> None:
        self._store = store
        self._policy = policy

    @property
    def store(self) -> OrderStore:
        return self._store or order_store()

    @property
    def policy(self) -> ReturnPolicy:
        return self._policy or return_policy()

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order, actor: Actor
    ) -> list[EventType]:
        """Do the action's work on a found, proven order."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        stuck = offer_person_when_stuck(dispatcher, tracker)
        if stuck is not None:
            return stuck
        raw = tracker.get_slot("order_id")
        order_id = normalise_order_id(raw) if isinstance(raw, str) else None
        order = await self.store.get(order_id) if order_id else None
        how = order_access(order, tracker) if order is not None else None
        scratch = [SlotSet(slot, None) for slot in FORM_SCRATCH]
        if order is None or how is None:
            if tracker.get_slot("order_check") == "locked":
                dispatcher.utter_message(response="utter_order_check_locked")
            else:
                dispatcher.utter_message(response="utter_order_not_found", order_id=order_id or "")
            clear = {"order_id", *self.clear_on_not_found}
            return [*scratch, *(SlotSet(slot, None) for slot in sorted(clear - set(FORM_SCRATCH)))]
        return [*await self.act(dispatcher, tracker, order, actor_for(tracker, how)), *scratch]
