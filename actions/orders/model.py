"""Orders as the actions see them: plain data, independent of any backend."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURNED = "returned"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class OrderItem:
    sku: str
    name: str
    name_zh: str
    category: str
    price: float
    quantity: int
    condition: str  # new, unopened, opened, used, damaged


class OrderStateError(Exception):
    """The order's state does not allow the change (e.g. cancelling a shipped order)."""


@dataclass(frozen=True)
class ReturnAuthorization:
    number: str
    order_id: str
    sku: str
    reason: str
    created_on: date


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: str
    status: OrderStatus
    currency: str
    placed_on: date
    items: tuple[OrderItem, ...] = field(default_factory=tuple)
    shipped_on: date | None = None
    delivered_on: date | None = None
    cancelled_on: date | None = None
    eta: date | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    return_number: str | None = None
    shipping_address: str = ""
    payment_method: str = "card"
    return_received_on: date | None = None
    refund_issued_on: date | None = None
    # The customer's contact details on the order: what an anonymous customer proves the order with.
    email: str = ""
    phone: str = ""
    postcode: str = ""

    @property
    def cancellable(self) -> bool:
        """Unshipped: it can still be cancelled or sent elsewhere."""
        return self.status in (OrderStatus.PENDING, OrderStatus.PAID)

    def item(self, sku: str) -> OrderItem | None:
        return next((item for item in self.items if item.sku == sku), None)

    @property
    def total(self) -> float:
        return round(sum(item.price * item.quantity for item in self.items), 2)


@dataclass(frozen=True)
class Actor:
    """Who asks for a change to an order, as the audit trail records it."""

    conversation_id: str
    channel: str
    customer_id: str | None  # the verified customer, if the channel vouched for one
    verified_by: str  # storefront, rest_token, telegram_contact, order_check


@dataclass(frozen=True)
class AuditEntry:
    """One line of an order's audit trail: a change, or an attempt to prove the order."""

    order_id: str
    event: str  # cancelled, address_changed, return_authorised, check_passed, check_failed, check_locked
    conversation_id: str
    channel: str
    customer_id: str | None
    verified_by: str | None
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    at: str = ""  # ISO timestamp, set by the store

    @classmethod
    def of(
        cls, order_id: str, event: str, actor: Actor | None, before: dict[str, str], after: dict[str, str]
    ) -> AuditEntry:
        """A change made now by `actor` (None: the system)."""
        return cls(
            order_id, event, actor.conversation_id if actor else "", actor.channel if actor else "",
            actor.customer_id if actor else None, actor.verified_by if actor else None, before, after,
            audit_time(),
        )  # fmt: skip

    def stamped(self) -> AuditEntry:
        """This entry with its time, if the caller left it unset."""
        return self if self.at else replace(self, at=audit_time())


def audit_time() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
