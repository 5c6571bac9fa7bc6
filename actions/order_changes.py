"""Cancelling an order and changing its address: allowed only before shipment."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.formatting import PAYMENT_METHODS, STATUSES, format_money, label
from actions.orders.action import OrderAction
from actions.orders.model import Order, OrderStateError, OrderStatus


class ActionCancelOrder(OrderAction):
    def name(self) -> str:
        return "action_cancel_order"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order) -> list[EventType]:
        language = conversation.language(tracker)
        if order.status is OrderStatus.SHIPPED:
            dispatcher.utter_message(response="utter_cancel_shipped", order_id=order.id)
            return []
        if order.status is OrderStatus.DELIVERED:
            dispatcher.utter_message(response="utter_cancel_delivered", order_id=order.id)
            return []
        try:
            cancelled = await self.store.cancel(order.id)
        except OrderStateError:
            dispatcher.utter_message(
                response="utter_cancel_not_possible",
                order_id=order.id,
                status=label(STATUSES, order.status.value, language),
            )
            return []
        dispatcher.utter_message(response="utter_order_cancelled", order_id=order.id)
        if cancelled.refund_issued_on is not None:
            policy = self.policy
            dispatcher.utter_message(
                response="utter_cancel_refund_note",
                amount=format_money(cancelled.total, cancelled.currency),
                payment_method=label(PAYMENT_METHODS, cancelled.payment_method, language),
                arrival_days=policy.refund_arrival_days.get(cancelled.payment_method, "3-7"),
            )
        return []


class ActionChangeAddress(OrderAction):
    clear_on_not_found = ("new_address",)

    def name(self) -> str:
        return "action_change_address"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order) -> list[EventType]:
        address = str(tracker.get_slot("new_address") or "")
        try:
            await self.store.change_address(order.id, address)
        except OrderStateError:
            dispatcher.utter_message(
                response="utter_address_locked",
                order_id=order.id,
                carrier=order.carrier or "",
                tracking_number=order.tracking_number or "",
            )
            return [SlotSet("new_address", None)]
        dispatcher.utter_message(response="utter_address_changed", order_id=order.id, new_address=address)
        return [SlotSet("new_address", None)]
