"""Cancelling an order and changing its address: allowed only before shipment."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.formatting import PAYMENT_METHODS, STATUSES, format_money, label
from actions.orders.lookup import find_customer_order
from actions.orders.model import OrderStateError, OrderStatus
from actions.orders.store import OrderStore
from actions.providers import order_store, return_policy
from actions.returns.policy import ReturnPolicy


class ActionCancelOrder(Action):
    def __init__(self, store: OrderStore | None = None, policy: ReturnPolicy | None = None) -> None:
        self._store = store
        self._policy = policy

    def name(self) -> str:
        return "action_cancel_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        store = self._store or order_store()
        language = conversation.language(tracker)
        order_id, order = await find_customer_order(store, tracker)
        if order is None:
            dispatcher.utter_message(response="utter_order_not_found", order_id=order_id or "")
            return [SlotSet("order_id", None)]
        if order.status is OrderStatus.SHIPPED:
            dispatcher.utter_message(response="utter_cancel_shipped", order_id=order.id)
            return []
        if order.status is OrderStatus.DELIVERED:
            dispatcher.utter_message(response="utter_cancel_delivered", order_id=order.id)
            return []
        try:
            cancelled = await store.cancel(order.id)
        except OrderStateError:
            dispatcher.utter_message(
                response="utter_cancel_not_possible",
                order_id=order.id,
                status=label(STATUSES, order.status.value, language),
            )
            return []
        dispatcher.utter_message(response="utter_order_cancelled", order_id=order.id)
        if cancelled.refund_issued_on is not None:
            policy = self._policy or return_policy()
            dispatcher.utter_message(
                response="utter_cancel_refund_note",
                amount=format_money(cancelled.total, cancelled.currency),
                payment_method=label(PAYMENT_METHODS, cancelled.payment_method, language),
                arrival_days=policy.refund_arrival_days.get(cancelled.payment_method, "3-7"),
            )
        return []


class ActionChangeAddress(Action):
    def __init__(self, store: OrderStore | None = None) -> None:
        self._store = store

    def name(self) -> str:
        return "action_change_address"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        store = self._store or order_store()
        order_id, order = await find_customer_order(store, tracker)
        if order is None:
            dispatcher.utter_message(response="utter_order_not_found", order_id=order_id or "")
            return [SlotSet("order_id", None), SlotSet("new_address", None)]
        address = str(tracker.get_slot("new_address") or "")
        try:
            await store.change_address(order.id, address)
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
