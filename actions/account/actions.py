"""Resending an invoice and starting a password reset on the customer's request.

The invoice is proven like any order (actions/order_forms.py), read back with the masked address on the
order, and queued only on a yes. A reset request gets the same answer whether or not an account uses the
address; a signed-in customer is not asked for one.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import conversation
from actions.account import customer_service
from actions.account.service import (
    CustomerService,
    NoInvoice,
    TooManyRequests,
    UnknownOrder,
    has_invoice,
    mask_email,
)
from actions.order_changes import ReadBack
from actions.order_forms import CHECK_SLOT, STUCK_SLOT, OrderIdValidation, read_back_value, stuck_events
from actions.orders.access import actor_for
from actions.orders.action import OrderAction, offer_person_when_stuck
from actions.orders.model import Actor, Order, OrderStatus
from actions.orders.store import OrderStore
from common.patterns import EMAIL

INVOICE_FORM = "invoice_form"
CONFIRM_SLOT = "confirm_invoice"
RESET_SLOT = "reset_email"
# Messages that are not an answer to the question asked, as the domain's `not_intent` lists say.
NOT_AN_ANSWER = frozenset(
    {
        "request_human", "complain", "deny", "goodbye", "bot_challenge", "ask_policy", "ask_shipping",
        "payment_problem", "account_help", "request_invoice", "promo_discount", "other_shop",
        "resend_invoice", "reset_password",
    }
)  # fmt: skip
#: What a knowledge-base answer to these intents may offer to do next (a response with one button).
OFFERS_BY_INTENT = {
    "request_invoice": "utter_offer_resend_invoice",
    "account_help": "utter_offer_password_reset",
}


class _UsesCustomerService:
    """The service given to the action (tests), else the process-wide one, created on first use."""

    _service: CustomerService | None = None

    @property
    def service(self) -> CustomerService:
        return self._service or customer_service()


class ValidateInvoiceForm(OrderIdValidation):
    """The order, proven as for its status, then the read-back; a yes is needed only for an order that
    has an invoice to send (the final action explains why others have none)."""

    def name(self) -> str:
        return "validate_invoice_form"

    def slots_for_order(self, slots: list[str], order: Order, tracker: Tracker) -> list[str]:
        return (
            slots
            if has_invoice(order) and mask_email(order.email)
            else [s for s in slots if s != CONFIRM_SLOT]
        )

    async def extract_order_check(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The answer to the order check, while the `order_check` slot's own from_text mapping
        (bot/domain/verification.yml) does not name this form; once it does, this adds nothing."""
        if tracker.active_loop_name != INVOICE_FORM or tracker.get_slot("requested_slot") != CHECK_SLOT:
            return {}
        if CHECK_SLOT in tracker.slots_to_validate():
            return {}  # the domain's mapping filled it
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = str(tracker.latest_message.get("text") or "").strip()
        return {CHECK_SLOT: text} if text and intent not in NOT_AN_ANSWER else {}

    async def validate_confirm_invoice(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {CONFIRM_SLOT: read_back_value(value, tracker)}


class ActionAskConfirmInvoice(ReadBack):
    def name(self) -> str:
        return "action_ask_confirm_invoice"

    def read_back(self, order: Order, tracker: Tracker, language: str) -> tuple[str, dict[str, Any]]:
        return "utter_confirm_invoice", {"email": mask_email(order.email)}


class ActionResendInvoice(_UsesCustomerService, OrderAction):
    """Queues the invoice to the address on the order, only after a yes to the read-back."""

    def __init__(
        self,
        store: OrderStore | None = None,
        service: CustomerService | None = None,
    ) -> None:
        super().__init__(store)
        self._service = service

    def name(self) -> str:
        return "action_resend_invoice"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return [*await super().run(dispatcher, tracker, domain), SlotSet(CONFIRM_SLOT, None)]

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order, actor: Actor
    ) -> list[EventType]:
        if not has_invoice(order):
            unpaid = (
                "utter_invoice_pending" if order.status is OrderStatus.PENDING else "utter_invoice_unpaid"
            )
            dispatcher.utter_message(response=unpaid, order_id=order.id)
            return []
        if not mask_email(order.email):  # nowhere to send it: the form did not read it back
            dispatcher.utter_message(response="utter_invoice_unavailable", order_id=order.id)
            return []
        if tracker.get_slot(CONFIRM_SLOT) != "yes":
            dispatcher.utter_message(response="utter_invoice_not_sent", order_id=order.id)
            return []
        try:
            sent = await self.service.resend_invoice(order.id, actor)
        except TooManyRequests:
            dispatcher.utter_message(response="utter_invoice_limit", order_id=order.id)
        except (NoInvoice, UnknownOrder):  # no address on the order, or it changed since the read-back
            dispatcher.utter_message(response="utter_invoice_unavailable", order_id=order.id)
        else:
            dispatcher.utter_message(
                response="utter_invoice_sent",
                order_id=order.id,
                email=sent.masked_email,
                reference=sent.reference,
            )
        return []


class ValidatePasswordResetForm(_UsesCustomerService, FormValidationAction):
    """The address to send a reset link to; a signed-in customer's account already has one."""

    def __init__(self, service: CustomerService | None = None) -> None:
        self._service = service

    def name(self) -> str:
        return "validate_password_reset_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        return [*events, *stuck_events(tracker, events)]

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot(STUCK_SLOT):
            return []
        customer = conversation.customer_id(tracker)
        if customer and await self.service.account_email(customer):
            return []
        return list(domain_slots)

    async def validate_reset_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        found = EMAIL.search(str(value or ""))
        if found is None:
            dispatcher.utter_message(response="utter_reset_email_invalid")
            return {RESET_SLOT: None}
        return {RESET_SLOT: found.group(0).lower()}


class ActionStartPasswordReset(_UsesCustomerService, Action):
    """Asks the service for a reset link and gives the same answer whatever it found: whether an address
    has an account is never said to someone who is not signed in to it."""

    def __init__(self, service: CustomerService | None = None) -> None:
        self._service = service

    def name(self) -> str:
        return "action_start_password_reset"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        done = [SlotSet(RESET_SLOT, None)]  # the address is not kept in the conversation
        stuck = offer_person_when_stuck(dispatcher, tracker)
        if stuck is not None:
            return [*stuck, *done]
        customer = conversation.customer_id(tracker)
        account_email = await self.service.account_email(customer) if customer else None
        email = account_email or str(tracker.get_slot(RESET_SLOT) or "")
        if not email:
            dispatcher.utter_message(response="utter_form_stopped")
            return done
        actor = actor_for(tracker, conversation.verified_by(tracker))
        try:
            await self.service.start_password_reset(email, actor)
        except TooManyRequests:
            dispatcher.utter_message(response="utter_password_reset_limit")
            return done
        if account_email:
            dispatcher.utter_message(response="utter_password_reset_sent_to_account", email=mask_email(email))
        else:
            dispatcher.utter_message(response="utter_password_reset_sent")
        return done
