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
