"""Order status and tracking."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.formatting import format_date
from actions.orders.lookup import find_customer_order
from actions.orders.model import Order
from actions.orders.store import OrderStore
from actions.providers import order_store


def status_variables(order: Order, language: str) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "placed_on": format_date(order.placed_on, language),
        "shipped_on": format_date(order.shipped_on, language),
        "delivered_on": format_date(order.delivered_on, language),
        "cancelled_on": format_date(order.cancelled_on, language),
        "eta": format_date(order.eta, language),
        "carrier": order.carrier or "",
        "tracking_number": order.tracking_number or "",
        "return_number": order.return_number or "",
    }


class ActionOrderStatus(Action):
    def __init__(self, store: OrderStore | None = None) -> None:
        self._store = store

    def name(self) -> str:
        return "action_order_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        store = self._store or order_store()
        order_id, order = await find_customer_order(store, tracker)
        if order is None:
            dispatcher.utter_message(response="utter_order_not_found", order_id=order_id or "")
            return [SlotSet("order_id", None)]
        language = conversation.language(tracker)
        dispatcher.utter_message(
            response=f"utter_order_status_{order.status.value}", **status_variables(order, language)
        )
        return [SlotSet("order_id", order.id)]
