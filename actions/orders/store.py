"""The order store interface: what a shop backend must provide to the assistant.

Implement this protocol over your shop's API or database and pass it to the actions' provider
(actions/providers.py). Every method is async and must not block the event loop. Each change takes the
`Actor` who asked for it and must record it in the order's audit trail together with the change.
"""

from __future__ import annotations

from typing import Protocol

from actions.orders.model import Actor, AuditEntry, Order, ReturnAuthorization


class OrderStore(Protocol):
    async def get(self, order_id: str) -> Order | None:
        """The order with this canonical id ("SO-12345678"), or None."""
        ...

    async def recent_for_customer(self, customer_id: str, limit: int = 5) -> list[Order]:
        """The customer's most recent orders, newest first."""
        ...

    async def cancel(self, order_id: str, actor: Actor | None = None) -> Order:
        """Cancel an unshipped order. Raises OrderStateError once it has shipped."""
        ...

    async def cancel_items(self, order_id: str, skus: list[str], actor: Actor | None = None) -> Order:
        """Cancel some lines of an unshipped order (all of them cancels the order). Raises OrderStateError
        once it has shipped or when none of the SKUs is on the order."""
        ...

    async def change_address(self, order_id: str, address: str, actor: Actor | None = None) -> Order:
        """Change the shipping address before shipment. Raises OrderStateError after."""
        ...

    async def create_return(
        self, order_id: str, sku: str, reason: str, actor: Actor | None = None
    ) -> ReturnAuthorization:
        """Record an authorised return of one item and give it a return authorisation number.

        KeyError for an unknown order, OrderStateError for an item the order does not hold."""
        ...

    async def record(self, entry: AuditEntry) -> None:
        """Add a line to the order's audit trail (attempts to prove the order, for instance)."""
        ...

    async def audit_trail(self, order_id: str) -> list[AuditEntry]:
        """The order's audit trail, oldest first."""
        ...


class OrderMovements(Protocol):
    """What a shop's own systems do to an order: the warehouse ships it, the carrier delivers it or reports a
    problem, the returns desk receives a parcel, payments refund it. The assistant never calls these; the
    demo store implements them so that demos and tests can move an order along and post the event a real
    backend would (actions/orders/demo_events.py). Each is audited like a customer's change, and each raises
    KeyError for an unknown order and OrderStateError when the order's state does not allow the move."""

    async def make_late(self, order_id: str, days_overdue: int = 2, actor: Actor | None = None) -> Order:
        """Move the promised delivery date `days_overdue` days into the past of an order still processing
        or shipped."""
        ...

    async def make_stuck(self, order_id: str, days_ago: int = 5, actor: Actor | None = None) -> Order:
        """Move the order date of an order still processing `days_ago` days into the past."""
        ...

    async def ship(
        self, order_id: str, carrier: str, tracking_number: str, actor: Actor | None = None
    ) -> Order:
        """Hand a paid order to the carrier today; a promised date that has passed (or none) moves ahead."""
        ...

    async def report_exception(self, order_id: str, text: str, actor: Actor | None = None) -> Order:
        """The carrier's delivery problem with a shipped order, in the carrier's words."""
        ...

    async def deliver(self, order_id: str, actor: Actor | None = None) -> Order:
        """A shipped order delivered today."""
        ...

    async def receive_return(self, order_id: str, actor: Actor | None = None) -> Order:
        """The returned parcel of a delivered order arrived today."""
        ...

    async def refund(self, order_id: str, amount: float, actor: Actor | None = None) -> Order:
        """Refund `amount` (in the order's currency) of a dispatched order today. ValueError for an amount
        that is not positive or that, with earlier refunds, is more than the order's total."""
        ...
