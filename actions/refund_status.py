"""Where the customer's refund is."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.formatting import PAYMENT_METHODS, format_date, format_money, label
from actions.orders.action import OrderAction
from actions.orders.model import Actor, Order, OrderStatus


class ActionRefundStatus(OrderAction):
    def name(self) -> str:
        return "action_refund_status"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order, actor: Actor
    ) -> list[EventType]:
        language = conversation.language(tracker)
        policy = self.policy
        values = {
            "order_id": order.id,
            "amount": format_money(order.total, order.currency),
            "payment_method": label(PAYMENT_METHODS, order.payment_method, language),
            "arrival_days": policy.refund_arrival_days.get(order.payment_method, "3-7"),
            "processing_days": policy.refund_processing_days,
            "refund_issued_on": format_date(order.refund_issued_on, language),
            "return_received_on": format_date(order.return_received_on, language),
        }
        if order.refund_issued_on is not None:
            response = "utter_refund_issued"
        elif order.status is OrderStatus.RETURNED and order.return_received_on is not None:
            response = "utter_refund_processing"
        elif order.status is OrderStatus.RETURNED:
            response = "utter_refund_awaiting_return"
        else:
            response = "utter_refund_none"
        dispatcher.utter_message(response=response, **values)
        return []
