"""Asking for and validating the order number, shared by every order-related form."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import conversation
from actions.formatting import STATUSES, format_date, label
from actions.orders.lookup import lookup_order
from actions.orders.model import Order
from actions.orders.store import OrderStore
from actions.providers import order_store
from bot.patterns import normalise_order_id

RECENT_ORDERS_OFFERED = 3


class ActionAskOrderId(Action):
    """Asks for the order number; a logged-in customer also gets their recent orders as buttons."""

    def __init__(self, store: OrderStore | None = None) -> None:
        self._store = store

    def name(self) -> str:
        return "action_ask_order_id"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        buttons = []
        customer = conversation.customer_id(tracker)
        if customer:
            language = conversation.language(tracker)
            recent = await (self._store or order_store()).recent_for_customer(customer, RECENT_ORDERS_OFFERED)
            buttons = [
                {"title": _order_button_title(o, language), "payload": f'/inform{{"order_id":"{o.id}"}}'}
                for o in recent
            ]
        dispatcher.utter_message(response="utter_ask_order_id", buttons=buttons)
        return []


def _order_button_title(order: Order, language: str) -> str:
    status = label(STATUSES, order.status.value, language)
    return f"{order.id} · {format_date(order.placed_on, language)} · {status}"


class OrderIdValidation(FormValidationAction):
    """Base for forms that need an order: normalises the number and checks the customer may see it."""

    def __init__(self, store: OrderStore | None = None) -> None:
        self._store = store

    @property
    def store(self) -> OrderStore:
        return self._store or order_store()

    @abstractmethod
    def name(self) -> str:
        """Each form's validation action names itself (abstract, so the executor skips this base)."""

    async def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        order_id = normalise_order_id(value) if isinstance(value, str) else None
        order = await lookup_order(self.store, order_id, tracker)
        if order is None:
            dispatcher.utter_message(response="utter_order_not_found", order_id=order_id or str(value or ""))
            return {"order_id": None}
        return {"order_id": order.id}


class ValidateOrderStatusForm(OrderIdValidation):
    def name(self) -> str:
        return "validate_order_status_form"


class ValidateCancelOrderForm(OrderIdValidation):
    def name(self) -> str:
        return "validate_cancel_order_form"


class ValidateRefundStatusForm(OrderIdValidation):
    def name(self) -> str:
        return "validate_refund_status_form"


class ValidateChangeAddressForm(OrderIdValidation):
    MIN_ADDRESS_CHARS = 8

    def name(self) -> str:
        return "validate_change_address_form"

    async def validate_new_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        address = " ".join(str(value or "").split())
        if len(address) < self.MIN_ADDRESS_CHARS or not any(ch.isalpha() for ch in address):
            dispatcher.utter_message(response="utter_address_too_short")
            return {"new_address": None}
        return {"new_address": address}
