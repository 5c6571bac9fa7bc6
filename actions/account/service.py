"""The customer service interface: what the store does for a customer's account on request, beyond
reading orders. Implement it over your shop's mailer and identity backend and pass it to the actions'
provider (actions/account/__init__.py); the SQLite demo (sqlite_service.py) queues messages in an outbox.

Every method takes the `Actor` who asked and must record the request with it. Nothing here sends an email
to an address the customer typed: an invoice goes to the address on the order, a reset link only to an
address an account already has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from actions.orders.model import Actor, Order, OrderStatus

INVOICE_RESENDS_PER_DAY = 3  # per order
RESET_REQUESTS_PER_HOUR = 3  # per email address, whether an account uses it or not
RESET_LINK_LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class InvoiceSent:
    order_id: str
    masked_email: str  # "j***@example.com": enough for the customer to recognise, not to learn
    reference: str  # the queued message, for the customer and for a person who follows it up


class AccountActionError(Exception):
    """A request the store refuses; the action answers it politely."""


class UnknownOrder(AccountActionError, LookupError):
    """No order with this id."""


class NoInvoice(AccountActionError):
    """The order has no invoice (see `has_invoice`), or no email address to send it to."""


class TooManyRequests(AccountActionError):
    """Over the limit for this order or address; the customer may try again later."""


def has_invoice(order: Order) -> bool:
    """An invoice is issued when payment is taken: never while payment is pending, nor for an order
    cancelled before payment (a cancelled order that was paid has a refund date)."""
    if order.status is OrderStatus.PENDING:
        return False
    if order.status is OrderStatus.CANCELLED:
        return order.refund_issued_on is not None
    return True


def mask_email(email: str) -> str:
    """ "jane.doe@example.com" → "j***@example.com"; "" for anything that is not an address."""
    local, at, domain = email.strip().partition("@")
    if not at or not local or not domain:
        return ""
    return f"{local[0]}***@{domain}"


class CustomerService(Protocol):
    async def resend_invoice(self, order_id: str, actor: Actor) -> InvoiceSent:
        """Queue the order's invoice to the email address on the order and record who asked.

        UnknownOrder for an unknown order, NoInvoice for one without an invoice, TooManyRequests past
        INVOICE_RESENDS_PER_DAY for the order."""
        ...

    async def start_password_reset(self, email: str, actor: Actor) -> None:
        """Queue a reset link (valid RESET_LINK_LIFETIME_SECONDS) if an account uses this address; else do
        nothing. Either way the request is recorded and the call looks the same to the caller: same
        result, time of the same order, so nobody learns which addresses have accounts.

        TooManyRequests past RESET_REQUESTS_PER_HOUR for the address (counted whether or not an account
        uses it)."""
        ...

    async def account_email(self, customer_id: str) -> str | None:
        """The email address of a customer the channel vouched for (signed in), or None."""
        ...
