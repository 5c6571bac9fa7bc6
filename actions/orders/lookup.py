"""Finding the customer's order from the conversation, without leaking other customers' orders."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions import conversation
from actions.orders.model import Order
from actions.orders.store import OrderStore
from bot.patterns import normalise_order_id


async def lookup_order(store: OrderStore, raw_order_id: str | None, tracker: Tracker) -> Order | None:
    """The order if it exists and the customer may see it.

    A logged-in customer (customer_id in the channel metadata) only sees their own orders; someone
    else's order reads as not found, so order numbers cannot be probed.
    """
    order_id = normalise_order_id(raw_order_id) if isinstance(raw_order_id, str) else None
    if order_id is None:
        return None
    order = await store.get(order_id)
    customer = conversation.customer_id(tracker)
    if order is not None and customer is not None and order.customer_id != customer:
        return None
    return order


async def find_customer_order(store: OrderStore, tracker: Tracker) -> tuple[str | None, Order | None]:
    """The order named in the `order_id` slot: (normalised id or None, order or None)."""
    raw = tracker.get_slot("order_id")
    order_id = normalise_order_id(raw) if isinstance(raw, str) else None
    return order_id, await lookup_order(store, order_id, tracker)
