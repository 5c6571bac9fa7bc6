"""Finding the customer's order from the conversation, without leaking other customers' orders."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions.orders.access import order_access
from actions.orders.model import Order
from actions.orders.store import OrderStore
from common.patterns import normalise_order_id


async def lookup_order(store: OrderStore, raw_order_id: str | None, tracker: Tracker) -> Order | None:
    """The order if it exists and the customer has proved it (see actions.orders.access); an order
    they have not proved reads as not found, so order numbers cannot be probed."""
    order_id = normalise_order_id(raw_order_id) if isinstance(raw_order_id, str) else None
    if order_id is None:
        return None
    order = await store.get(order_id)
    return order if order is not None and order_access(order, tracker) else None


async def find_customer_order(store: OrderStore, tracker: Tracker) -> tuple[str | None, Order | None]:
    """The order named in the `order_id` slot: (normalised id or None, order or None)."""
    raw = tracker.get_slot("order_id")
    order_id = normalise_order_id(raw) if isinstance(raw, str) else None
    return order_id, await lookup_order(store, order_id, tracker)
