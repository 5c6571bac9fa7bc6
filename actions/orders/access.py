"""Whether this conversation may see or change an order, and who it is for the audit trail."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions import conversation
from actions.orders.model import Actor, Order
from actions.orders.verification import (
    ORDER_CHECK,
    access_by_channel,
    channel_identity,
    verified_orders,
)


def order_access(order: Order, tracker: Tracker) -> str | None:
    """How the customer proved this order ("storefront", "order_check", ...), or None if they have not."""
    customer, phone, verified_by = channel_identity(conversation.metadata(tracker))
    how = access_by_channel(order, customer, phone, verified_by)
    if how is not None:
        return how
    if order.id in verified_orders(tracker.get_slot("verified_orders")):
        return ORDER_CHECK
    return None


def actor_for(tracker: Tracker, verified_by: str | None) -> Actor:
    customer, _, _ = channel_identity(conversation.metadata(tracker))
    return Actor(
        conversation_id=tracker.sender_id,
        channel=str(conversation.metadata(tracker).get("channel") or ""),
        customer_id=customer,
        verified_by=verified_by or "",
    )
