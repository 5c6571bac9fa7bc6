"""Base for actions that act on the order in the `order_id` slot."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.orders.lookup import find_customer_order
from actions.orders.model import Order
from actions.orders.store import OrderStore
from actions.providers import order_store, return_policy
from actions.returns.policy import ReturnPolicy


class OrderAction(Action, ABC):
    """Looks the order up (the customer's own only); an unknown order is reported and the slot cleared."""

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
    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order) -> list[EventType]:
        """Do the action's work on a found order."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        order_id, order = await find_customer_order(self.store, tracker)
        if order is None:
            dispatcher.utter_message(response="utter_order_not_found", order_id=order_id or "")
            return [SlotSet(slot, None) for slot in ("order_id", *self.clear_on_not_found)]
        return await self.act(dispatcher, tracker, order)
