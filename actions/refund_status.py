"""Where the customer's refund is."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.formatting import PAYMENT_METHODS, format_date, format_money, label
from actions.orders.lookup import find_customer_order
from actions.orders.model import OrderStatus
from actions.orders.store import OrderStore
from actions.providers import order_store, return_policy
from actions.returns.policy import ReturnPolicy


class ActionRefundStatus(Action):
    def __init__(self, store: OrderStore | None = None, policy: ReturnPolicy | None = None) -> None:
        self._store = store
        self._policy = policy

    def name(self) -> str:
        return "action_refund_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        order_id, order = await find_customer_order(self._store or order_store(), tracker)
        if order is None:
            dispatcher.utter_message(response="utter_order_not_found", order_id=order_id or "")
            return [SlotSet("order_id", None)]
        language = conversation.language(tracker)
        policy = self._policy or return_policy()
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
