"""Where the customer's refund is, and what happens when it is later than the policy promised."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.orders.action import OrderAction
from actions.orders.model import Actor, Order, OrderStatus
from actions.orders.store import OrderStore
from actions.returns.policy import ReturnPolicy
from common.formatting import PAYMENT_METHODS, format_date, format_money, label


def add_business_days(start: date, days: int) -> date:
    """The date `days` business days (Monday to Friday) after `start`."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def refund_due(order: Order, policy: ReturnPolicy) -> date | None:
    """The last day the policy allows for issuing this order's refund, once the return was received."""
    if order.return_received_on is None:
        return None
    return add_business_days(order.return_received_on, policy.refund_processing_days)


class ActionRefundStatus(OrderAction):
    def __init__(
        self, store: OrderStore | None = None, policy: ReturnPolicy | None = None, today: date | None = None
    ) -> None:
        super().__init__(store, policy)
        self._today = today

    def name(self) -> str:
        return "action_refund_status"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order, actor: Actor
    ) -> list[EventType]:
        response, values = refund_report(order, self.policy, conversation.language(tracker), self._today)
        dispatcher.utter_message(response=response, **values)
        if response == OVERDUE:
            # A promise already broken is not repeated: acknowledged and taken to a person at once.
            return [SlotSet("handoff_reason", "refund_overdue"), FollowupAction("action_handoff")]
        return []


OVERDUE = "utter_refund_overdue"


def refund_report(
    order: Order, policy: ReturnPolicy, language: str, today: date | None = None
) -> tuple[str, dict[str, Any]]:
    """What to tell the customer about the order's refund: the response and its values. OVERDUE means
    the policy's date has passed; the caller hands the case to a person."""
    due = refund_due(order, policy)
    values = {
        "order_id": order.id,
        "amount": format_money(order.total, order.currency),
        "payment_method": label(PAYMENT_METHODS, order.payment_method, language),
        "arrival_days": policy.refund_arrival_days.get(order.payment_method, "3-7"),
        "processing_days": policy.refund_processing_days,
        "refund_issued_on": format_date(order.refund_issued_on, language),
        "return_received_on": format_date(order.return_received_on, language),
        "refund_due_on": format_date(due, language),
    }
    if order.refund_issued_on is not None:
        return "utter_refund_issued", values
    if due is not None and (today or date.today()) > due:
        return OVERDUE, values
    if order.status is OrderStatus.RETURNED and order.return_received_on is not None:
        return "utter_refund_processing", values
    if order.status is OrderStatus.RETURNED:
        return "utter_refund_awaiting_return", values
    return "utter_refund_none", values
