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
from actions.returns.items import (
    clauses,
    is_keep_clause,
    match_item,
    named_in,
    named_to_cancel,
    named_to_keep,
)
from common.formatting import PAYMENT_METHODS, STATUSES, format_money, label
from common.patterns import normalise_order_id

CANCEL_FORM = "cancel_order_form"
RECENT_MESSAGES = 3  # the customer's messages up to the cancel request that still name its item
YES_NO = {
    "en": [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
    "zh": [{"title": "是的", "payload": "/affirm"}, {"title": "不用了", "payload": "/deny"}],
}


def items_line(items: tuple[OrderItem, ...], language: str) -> str:
    names = [f"{i.name_zh if language == 'zh' else i.name} ×{i.quantity}" for i in items]
    return ("、" if language == "zh" else ", ").join(names)


def lines_to_cancel(order: Order, tracker: Tracker) -> tuple[OrderItem, ...]:
    """The whole order, the one line the customer means ("cancel the headphones in SO-…"), or the lines they
    did not name to keep. The read-back still asks before anything changes."""
    if len(order.items) < 2:
        return order.items
    messages = _request_messages(tracker)
    kept = _only_kept(order, messages)
    item = _line_meant(order, messages, tracker.get_slot("item"), kept)
    if item is not None:
        return (item,)
    # "跑鞋那双帮我去掉 T恤和裤子照常发" with the first name unmatched: what they keep stays on the order.
    rest = tuple(i for i in order.items if i.sku not in kept)
    return rest or order.items


def _line_meant(order: Order, messages: list[str], entity: object, kept: set[str]) -> OrderItem | None:
    """The one item named where the customer asks to cancel ("cancel the shoes but keep the jeans"); else
    the item entity, unless they only named it to keep it; else the one item their messages name."""
    to_cancel = _newest_named_to_cancel(order, messages)
    if len(to_cancel) == 1:
        return to_cancel[0]
    item = match_item(order, entity) if isinstance(entity, str) else None
    if item is not None and item.sku not in kept and not _said_to_keep(str(entity), messages):
        return item
    mentioned = {i.sku: i for text in messages for i in named_in(order, text) if i.sku not in kept}
    return next(iter(mentioned.values())) if len(mentioned) == 1 else None


def _newest_named_to_cancel(order: Order, messages: list[str]) -> list[OrderItem]:
    """What the newest message that names items to cancel names: a later "actually, the jeans" wins."""
    return next((named for text in messages if (named := named_to_cancel(order, text))), [])


def _only_kept(order: Order, messages: list[str]) -> set[str]:
    """SKUs the customer named to keep and never named to cancel."""
    kept = {i.sku for text in messages for i in named_to_keep(order, text)}
    return kept - {i.sku for text in messages for i in named_to_cancel(order, text)}


def _said_to_keep(words: str, messages: list[str]) -> bool:
    """The entity's own words stand in a clause that keeps ("面霜和精华还要"), even where no item name
    matched them there: never cancel what the customer said to keep."""
    words = words.strip().lower()
    return bool(words) and any(
        words in part for text in messages for part in clauses(text) if is_keep_clause(part)
    )


def _request_messages(tracker: Tracker) -> list[str]:
    """The customer's messages about this cancellation, newest first: the last few before the cancel form
    started and all since, so the read-back and the cancellation after the "yes" read the same words. Without
    a form (the action called directly), the last few."""
    said = [
        (index, str(e.get("text") or ""))
        for index, e in enumerate(tracker.events)
        if e.get("event") == "user"
    ]
    start = form_start(tracker.events, CANCEL_FORM)
    before = sum(1 for index, _ in said if start is None or index < start)
    return [text for _, text in reversed(said[max(0, before - RECENT_MESSAGES) :])]


def form_start(events: list[dict[str, Any]], form: str) -> int | None:
    """Where `form` was last activated; a repeated activation while it runs does not count."""
    start, active = None, None
    for index, event in enumerate(events):
        if event.get("event") == "active_loop":
            if event.get("name") == form and active != form:
                start = index
            active = event.get("name")
    return start


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
