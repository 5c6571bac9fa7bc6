"""Order status and tracking."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.orders.action import OrderAction
from actions.orders.model import Actor, Order
from common.formatting import format_date


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


class ActionOrderStatus(OrderAction):
    def name(self) -> str:
        return "action_order_status"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order, actor: Actor
    ) -> list[EventType]:
        language = conversation.language(tracker)
        dispatcher.utter_message(
            response=f"utter_order_status_{order.status.value}", **status_variables(order, language)
        )
        return [SlotSet("order_id", order.id)]
