"""Cancelling an order and changing its address: read back, done only on a yes, and audited."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.orders.access import order_access
from actions.orders.action import OrderAction
from actions.orders.model import Actor, Order, OrderItem, OrderStateError, OrderStatus
from actions.orders.store import OrderStore
from actions.providers import order_store
from actions.returns.items import match_item, named_in
from common.formatting import PAYMENT_METHODS, STATUSES, format_money, label
from common.patterns import normalise_order_id

YES_NO = {
    "en": [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
    "zh": [{"title": "是的", "payload": "/affirm"}, {"title": "不用了", "payload": "/deny"}],
}


def items_line(items: tuple[OrderItem, ...], language: str) -> str:
    names = [f"{i.name_zh if language == 'zh' else i.name} ×{i.quantity}" for i in items]
    return ("、" if language == "zh" else ", ").join(names)


def lines_to_cancel(order: Order, tracker: Tracker) -> tuple[OrderItem, ...]:
    """The whole order, or the one line the customer named ("cancel the headphones in SO-…"), as an entity
    or, failing that, by its name in one of their recent messages."""
    if len(order.items) < 2:
        return order.items
    named = tracker.get_slot("item")
    item = match_item(order, named) if isinstance(named, str) else None
    if item is None:
        recent = [str(e.get("text") or "") for e in tracker.events if e.get("event") == "user"][-3:]
        mentioned = {i.sku: i for text in recent for i in named_in(order, text)}
        item = next(iter(mentioned.values())) if len(mentioned) == 1 else None
    return (item,) if item is not None else order.items


class ReadBack(Action, ABC):
    """Base for the questions that read a change back before it is made: the proven order's response and
    its values, with Yes / No buttons."""

    def __init__(self, store: OrderStore | None = None) -> None:
        self._store = store

    @abstractmethod
    def name(self) -> str:
        """Abstract, so the executor registers only the concrete read-backs."""

    @abstractmethod
    def read_back(self, order: Order, tracker: Tracker, language: str) -> tuple[str, dict[str, Any]]:
        """The response to send and its values."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, object]
    ) -> list[EventType]:
        raw = tracker.get_slot("order_id")
        order_id = normalise_order_id(raw) if isinstance(raw, str) else None
        order = await (self._store or order_store()).get(order_id) if order_id else None
        if order is None or not order_access(order, tracker):
            return []
        language = conversation.language(tracker)
        response, values = self.read_back(order, tracker, language)
        dispatcher.utter_message(response=response, order_id=order.id, buttons=YES_NO[language], **values)
        return []


class ActionAskConfirmCancel(ReadBack):
    def name(self) -> str:
        return "action_ask_confirm_cancel"

    def read_back(self, order: Order, tracker: Tracker, language: str) -> tuple[str, dict[str, Any]]:
        lines = lines_to_cancel(order, tracker)
        partial = len(lines) < len(order.items)
        return "utter_confirm_cancel_items" if partial else "utter_confirm_cancel", {
            "items": items_line(lines, language),
            "amount": format_money(sum(i.price * i.quantity for i in lines), order.currency),
            "payment_method": label(PAYMENT_METHODS, order.payment_method, language),
        }


class ActionAskConfirmAddress(ReadBack):
    def name(self) -> str:
        return "action_ask_confirm_address"

    def read_back(self, order: Order, tracker: Tracker, language: str) -> tuple[str, dict[str, Any]]:
        return "utter_confirm_address", {
            "old_address": order.shipping_address,
            "new_address": str(tracker.get_slot("new_address") or ""),
        }


class ActionCancelOrder(OrderAction):
    def name(self) -> str:
        return "action_cancel_order"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order, actor: Actor
    ) -> list[EventType]:
        language = conversation.language(tracker)
        if order.status is OrderStatus.SHIPPED:
            dispatcher.utter_message(response="utter_cancel_shipped", order_id=order.id)
            return []
        if order.status is OrderStatus.DELIVERED:
            dispatcher.utter_message(response="utter_cancel_delivered", order_id=order.id)
            return []
        if not order.cancellable:
            _not_possible(dispatcher, order, language)
            return []
        if tracker.get_slot("confirm_cancel") != "yes":
            dispatcher.utter_message(response="utter_change_not_made", order_id=order.id)
            return [SlotSet("item", None)]
        lines = lines_to_cancel(order, tracker)
        partial = len(lines) < len(order.items)
        try:
            if partial:
                await self.store.cancel_items(order.id, [i.sku for i in lines], actor)
            else:
                await self.store.cancel(order.id, actor)
        except OrderStateError:  # changed state since the read-back
            _not_possible(dispatcher, order, language)
            return [SlotSet("item", None)]
        if partial:
            dispatcher.utter_message(
                response="utter_items_cancelled", order_id=order.id, items=items_line(lines, language)
            )
        else:
            dispatcher.utter_message(response="utter_order_cancelled", order_id=order.id)
        if order.status is OrderStatus.PAID:  # paid money goes back at once
            dispatcher.utter_message(
                response="utter_cancel_refund_note",
                amount=format_money(sum(i.price * i.quantity for i in lines), order.currency),
                payment_method=label(PAYMENT_METHODS, order.payment_method, language),
                arrival_days=self.policy.refund_arrival_days.get(order.payment_method, "3-7"),
            )
        return [SlotSet("item", None)]


def _not_possible(dispatcher: CollectingDispatcher, order: Order, language: str) -> None:
    dispatcher.utter_message(
        response="utter_cancel_not_possible",
        order_id=order.id,
        status=label(STATUSES, order.status.value, language),
    )


class ActionChangeAddress(OrderAction):
    clear_on_not_found = ("new_address",)

    def name(self) -> str:
        return "action_change_address"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order, actor: Actor
    ) -> list[EventType]:
        address = str(tracker.get_slot("new_address") or "")
        if not order.cancellable:
            _address_locked(dispatcher, order)
            return []
        if tracker.get_slot("confirm_address") != "yes" or not address:
            dispatcher.utter_message(response="utter_change_not_made", order_id=order.id)
            return []
        try:
            await self.store.change_address(order.id, address, actor)
        except OrderStateError:
            _address_locked(dispatcher, order)
            return []
        dispatcher.utter_message(response="utter_address_changed", order_id=order.id, new_address=address)
        return []


def _address_locked(dispatcher: CollectingDispatcher, order: Order) -> None:
    dispatcher.utter_message(
        response="utter_address_locked",
        order_id=order.id,
        carrier=order.carrier or "",
        tracking_number=order.tracking_number or "",
    )
