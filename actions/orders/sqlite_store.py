"""The demo order store: SQLite, seeded from data/orders/orders.yml with dates relative to today."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import math
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from actions.orders.model import (
    Actor,
    AuditEntry,
    Order,
    OrderItem,
    OrderStateError,
    OrderStatus,
    ReturnAuthorization,
)
from actions.orders.verification import postcode_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, placed_on TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer_id, placed_on);
CREATE TABLE IF NOT EXISTS returns (
    number TEXT PRIMARY KEY, order_id TEXT NOT NULL, sku TEXT NOT NULL, reason TEXT NOT NULL,
    created_on TEXT NOT NULL, UNIQUE (order_id, sku)
);
-- Kept across daily re-seeds: who changed or tried to prove which order, how verified, before and after.
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, event TEXT NOT NULL, at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_order ON audit (order_id, id);
"""

DATE_FIELDS = {
    "placed_days_ago": "placed_on",
    "shipped_days_ago": "shipped_on",
    "delivered_days_ago": "delivered_on",
    "cancelled_days_ago": "cancelled_on",
    "return_received_days_ago": "return_received_on",
    "refund_issued_days_ago": "refund_issued_on",
}
UNSHIPPED = {OrderStatus.PENDING.value, OrderStatus.PAID.value}
DISPATCHED = {OrderStatus.SHIPPED.value, OrderStatus.DELIVERED.value, OrderStatus.RETURNED.value}
DAYS_TO_DELIVER = 3  # the promise a shipment gets when the order had none, or one already past
MAX_CARRIER_TEXT = 64
MAX_EXCEPTION_TEXT = 500


def _order_from_row(data: dict[str, Any]) -> Order:
    dates = {
        name: date.fromisoformat(data[name]) if data.get(name) else None for name in DATE_FIELDS.values()
    }
    dates["eta"] = date.fromisoformat(data["eta"]) if data.get("eta") else None
    return Order(
        id=data["id"],
        customer_id=data["customer"],
        status=OrderStatus(data["status"]),
        currency=data["currency"],
        items=tuple(OrderItem(**item) for item in data["items"]),
        carrier=data.get("carrier"),
        tracking_number=data.get("tracking_number"),
        return_number=data.get("return_number"),
        shipping_address=data.get("shipping_address", ""),
        payment_method=data.get("payment_method", "card"),
        email=data.get("email", ""),
        phone=str(data.get("phone", "")),
        postcode=postcode_of(data.get("shipping_address", "")),
        **dates,  # type: ignore[arg-type]
    )


def _absolute(order: dict[str, Any], today: date) -> dict[str, Any]:
    out = {k: v for k, v in order.items() if k not in DATE_FIELDS and k != "eta_days"}
    for relative, absolute in DATE_FIELDS.items():
        if relative in order:
            out[absolute] = (today - timedelta(days=int(order[relative]))).isoformat()
    if "eta_days" in order:
        out["eta"] = (today + timedelta(days=int(order["eta_days"]))).isoformat()
    return out


class SqliteOrderStore:
    """Seeds once per day (or when the seed file changes) so relative dates stay relative to today."""

    def __init__(self, db_path: Path, seed_path: Path, today: Callable[[], date] = date.today) -> None:
        self._db_path = db_path
        self._seed_path = seed_path
        self._today = today
        self._ready_on: date | None = None
        self._lock = asyncio.Lock()
        self._connections = threading.local()

    def _connect(self) -> sqlite3.Connection:
        """This thread's connection, kept (the queries run in asyncio's worker threads): opening one per
        query cost more than the query. `with conn:` still makes each write one transaction."""
        conn: sqlite3.Connection | None = getattr(self._connections, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._db_path, timeout=10)
            self._connections.conn = conn
        return conn

    def _seed_if_stale(self) -> None:
        self._db_path.parent.mkdir(parents=True, exist_ok=True)
        seed_text = self._seed_path.read_bytes()
        stamp = f"{hashlib.sha256(seed_text).hexdigest()}:{self._today().isoformat()}"
        if not self._db_path.exists():  # customer data: this user only (SQLite's own files follow)
            os.close(os.open(self._db_path, os.O_CREAT | os.O_WRONLY, 0o600))
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # kept in the file: once, not on every query
            conn.executescript(SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'seed'").fetchone()
            if row and row[0] == stamp:
                return
            seed = yaml.safe_load(seed_text)
            conn.execute("DELETE FROM orders")
            conn.execute("DELETE FROM returns")
            conn.execute("DELETE FROM customers")
            conn.executemany(
                "INSERT INTO customers (id, data) VALUES (?, ?)",
                [(c["id"], json.dumps(c, ensure_ascii=False)) for c in seed["customers"]],
            )
            today = self._today()
            contacts = {c["id"]: {"email": c.get("email", ""), "phone": str(c.get("phone", ""))}
                        for c in seed["customers"]}  # fmt: skip
            rows = []
            for order in seed["orders"]:
                data = {**contacts.get(order["customer"], {}), **_absolute(order, today)}
                rows.append(
                    (data["id"], data["customer"], data["placed_on"], json.dumps(data, ensure_ascii=False))
                )
            conn.executemany(
                "INSERT INTO orders (id, customer_id, placed_on, data) VALUES (?, ?, ?, ?)", rows
            )
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('seed', ?)", (stamp,))

    async def _ensure_ready(self) -> None:
        # Checked again on a new day: relative dates (return windows) must not age in a long-running server.
        today = self._today()
        if self._ready_on == today:
            return
        async with self._lock:
            if self._ready_on != today:
                await asyncio.to_thread(self._seed_if_stale)
                self._ready_on = today

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._connect() as conn:
            return [json.loads(row[0]) for row in conn.execute(sql, params).fetchall()]

    async def get(self, order_id: str) -> Order | None:
        await self._ensure_ready()
        rows = await asyncio.to_thread(self._query, "SELECT data FROM orders WHERE id = ?", (order_id,))
        return _order_from_row(rows[0]) if rows else None

    async def recent_for_customer(self, customer_id: str, limit: int = 5) -> list[Order]:
        await self._ensure_ready()
        rows = await asyncio.to_thread(
            self._query,
            "SELECT data FROM orders WHERE customer_id = ? ORDER BY placed_on DESC, id DESC LIMIT ?",
            (customer_id, limit),
        )
        return [_order_from_row(row) for row in rows]

    def _update(
        self,
        order_id: str,
        change: Callable[[dict[str, Any]], None],
        actor: Actor | None,
        event: str,
        fields: tuple[str, ...],
    ) -> Order:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")  # serialise read-modify-write across workers
            row = conn.execute("SELECT data FROM orders WHERE id = ?", (order_id,)).fetchone()
            if row is None:
                raise KeyError(order_id)
            data = json.loads(row[0])
            before = {name: _audit_value(data.get(name)) for name in fields}
            change(data)
            conn.execute(
                "UPDATE orders SET data = ?, placed_on = ? WHERE id = ?",
                (json.dumps(data, ensure_ascii=False), data["placed_on"], order_id),
            )
            after = {name: _audit_value(data.get(name)) for name in fields}
            # The change and its audit line commit together.
            insert_audit(conn, AuditEntry.of(order_id, event, actor, before, after))
        return _order_from_row(data)

    async def cancel(self, order_id: str, actor: Actor | None = None) -> Order:
        def change(data: dict[str, Any]) -> None:
            was = data["status"]
            if was not in UNSHIPPED:
                raise OrderStateError(f"order {order_id} is {was}")
            data["status"] = OrderStatus.CANCELLED.value
            data["cancelled_on"] = self._today().isoformat()
            if was == OrderStatus.PAID.value:  # a paid order is refunded at once
                data["refund_issued_on"] = self._today().isoformat()

        await self._ensure_ready()
        return await asyncio.to_thread(
            self._update, order_id, change, actor, "cancelled", ("status", "refund_issued_on")
        )

    async def cancel_items(self, order_id: str, skus: list[str], actor: Actor | None = None) -> Order:
        def change(data: dict[str, Any]) -> None:
            if data["status"] not in UNSHIPPED:
                raise OrderStateError(f"order {order_id} is {data['status']}")
            keep = [item for item in data["items"] if item["sku"] not in skus]
            gone = [item for item in data["items"] if item["sku"] in skus]
            if not gone:
                raise OrderStateError(f"order {order_id} has none of {skus}")
            if not keep:  # every line: the whole order is cancelled
                cancel(data)
                return
            data["items"] = keep
            refunded = self._today().isoformat() if data["status"] == OrderStatus.PAID.value else None
            data.setdefault("cancelled_lines", []).extend({**item, "refunded_on": refunded} for item in gone)

        def cancel(data: dict[str, Any]) -> None:
            was = data["status"]
            data["status"] = OrderStatus.CANCELLED.value
            data["cancelled_on"] = self._today().isoformat()
            if was == OrderStatus.PAID.value:
                data["refund_issued_on"] = self._today().isoformat()

        await self._ensure_ready()
        return await asyncio.to_thread(
            self._update, order_id, change, actor, "items_cancelled", ("status", "items")
        )

    async def change_address(self, order_id: str, address: str, actor: Actor | None = None) -> Order:
        def change(data: dict[str, Any]) -> None:
            if data["status"] not in UNSHIPPED:
                raise OrderStateError(f"order {order_id} is {data['status']}")
            data["shipping_address"] = address

        await self._ensure_ready()
        return await asyncio.to_thread(
            self._update, order_id, change, actor, "address_changed", ("shipping_address",)
        )

    def _record(self, entry: AuditEntry) -> None:
        with self._connect() as conn:
            insert_audit(conn, entry)

    async def record(self, entry: AuditEntry) -> None:
        await self._ensure_ready()
        await asyncio.to_thread(self._record, entry.stamped())

    async def audit_trail(self, order_id: str) -> list[AuditEntry]:
        await self._ensure_ready()
        rows = await asyncio.to_thread(
            self._query, "SELECT data FROM audit WHERE order_id = ? ORDER BY id", (order_id,)
        )
        return [AuditEntry(**row) for row in rows]

    def _insert_return(
        self, order_id: str, sku: str, reason: str, actor: Actor | None
    ) -> ReturnAuthorization:
        created = self._today()
        with self._connect() as conn:
            row = conn.execute("SELECT data FROM orders WHERE id = ?", (order_id,)).fetchone()
            if row is None:
                raise KeyError(order_id)
            if sku not in {item["sku"] for item in json.loads(row[0])["items"]}:
                raise OrderStateError(f"order {order_id} has no item {sku}")
            existing = conn.execute(
                "SELECT number, reason, created_on FROM returns WHERE order_id = ? AND sku = ?",
                (order_id, sku),
            ).fetchone()
            if existing:  # asking twice gives the same authorisation, not a second one
                number, old_reason, created_on = existing
                return ReturnAuthorization(number, order_id, sku, old_reason, date.fromisoformat(created_on))
            number = f"RA-{secrets.randbelow(900_000) + 100_000}"
            conn.execute(
                "INSERT INTO returns (number, order_id, sku, reason, created_on) VALUES (?, ?, ?, ?, ?)",
                (number, order_id, sku, reason, created.isoformat()),
            )
            after = {"sku": sku, "reason": reason, "return_number": number}
            insert_audit(conn, AuditEntry.of(order_id, "return_authorised", actor, {}, after))
        return ReturnAuthorization(number, order_id, sku, reason, created)

    async def create_return(
        self, order_id: str, sku: str, reason: str, actor: Actor | None = None
    ) -> ReturnAuthorization:
        await self._ensure_ready()
        return await asyncio.to_thread(self._insert_return, order_id, sku, reason, actor)

    async def customer_language(self, customer_id: str) -> str | None:
        """The language the demo customer's record names ("en", "zh"), or None."""
        await self._ensure_ready()
        rows = await asyncio.to_thread(self._query, "SELECT data FROM customers WHERE id = ?", (customer_id,))
        language = rows[0].get("language") if rows else None
        return language if isinstance(language, str) and language else None

    # Movements (actions.orders.store.OrderMovements): what the shop's own systems do to an order, for
    # demos and tests. Like the changes above, each commits with its audit line; a daily re-seed undoes them.

    async def _move(
        self,
        order_id: str,
        change: Callable[[dict[str, Any]], None],
        actor: Actor | None,
        event: str,
        fields: tuple[str, ...],
    ) -> Order:
        await self._ensure_ready()
        return await asyncio.to_thread(self._update, order_id, change, actor, event, fields)

    async def make_late(self, order_id: str, days_overdue: int = 2, actor: Actor | None = None) -> Order:
        if days_overdue < 1:
            raise ValueError(f"days_overdue must be at least 1, not {days_overdue}")

        def change(data: dict[str, Any]) -> None:
            _require_status(order_id, data, UNSHIPPED | {OrderStatus.SHIPPED.value})
            data["eta"] = (self._today() - timedelta(days=days_overdue)).isoformat()

        return await self._move(order_id, change, actor, "eta_changed", ("eta",))

    async def make_stuck(self, order_id: str, days_ago: int = 5, actor: Actor | None = None) -> Order:
        if days_ago < 1:
            raise ValueError(f"days_ago must be at least 1, not {days_ago}")

        def change(data: dict[str, Any]) -> None:
            _require_status(order_id, data, UNSHIPPED)
            data["placed_on"] = (self._today() - timedelta(days=days_ago)).isoformat()

        return await self._move(order_id, change, actor, "placed_on_changed", ("placed_on",))

    async def ship(
        self, order_id: str, carrier: str, tracking_number: str, actor: Actor | None = None
    ) -> Order:
        carrier = _bounded_text("carrier", carrier, MAX_CARRIER_TEXT)
        tracking_number = _bounded_text("tracking_number", tracking_number, MAX_CARRIER_TEXT)

        def change(data: dict[str, Any]) -> None:
            # A pending order is still waiting for its payment: nothing leaves the warehouse before it.
            _require_status(order_id, data, {OrderStatus.PAID.value})
            today = self._today()
            data.update(
                status=OrderStatus.SHIPPED.value,
                shipped_on=today.isoformat(),
                carrier=carrier,
                tracking_number=tracking_number,
            )
            if not data.get("eta") or date.fromisoformat(data["eta"]) < today:
                data["eta"] = (today + timedelta(days=DAYS_TO_DELIVER)).isoformat()

        fields = ("status", "carrier", "tracking_number", "eta")
        return await self._move(order_id, change, actor, "shipped", fields)

    async def report_exception(self, order_id: str, text: str, actor: Actor | None = None) -> Order:
        text = _bounded_text("text", text, MAX_EXCEPTION_TEXT)

        def change(data: dict[str, Any]) -> None:
            _require_status(order_id, data, {OrderStatus.SHIPPED.value})
            data["delivery_exception"] = text

        return await self._move(order_id, change, actor, "delivery_exception", ("delivery_exception",))

    async def deliver(self, order_id: str, actor: Actor | None = None) -> Order:
        def change(data: dict[str, Any]) -> None:
            _require_status(order_id, data, {OrderStatus.SHIPPED.value})
            data.update(status=OrderStatus.DELIVERED.value, delivered_on=self._today().isoformat())
            data.pop("delivery_exception", None)  # the problem is over once the parcel arrived

        return await self._move(order_id, change, actor, "delivered", ("status", "delivered_on"))

    async def receive_return(self, order_id: str, actor: Actor | None = None) -> Order:
        def change(data: dict[str, Any]) -> None:
            received_on = data.get("return_received_on")
            if data["status"] == OrderStatus.RETURNED.value and received_on:
                raise OrderStateError(f"order {order_id}'s return was received on {received_on}")
            _require_status(order_id, data, {OrderStatus.DELIVERED.value, OrderStatus.RETURNED.value})
            data.update(status=OrderStatus.RETURNED.value, return_received_on=self._today().isoformat())
            if not data.get("return_number"):
                data["return_number"] = self._return_number(order_id)

        fields = ("status", "return_received_on", "return_number")
        return await self._move(order_id, change, actor, "return_received", fields)

    def _return_number(self, order_id: str) -> str:
        """The order's first return authorisation, or a new number for a parcel that came without one. Runs
        on this thread's connection: inside the caller's transaction."""
        sql = "SELECT number FROM returns WHERE order_id = ? ORDER BY created_on, number LIMIT 1"
        row = self._connect().execute(sql, (order_id,)).fetchone()
        return str(row[0]) if row else f"RA-{secrets.randbelow(900_000) + 100_000}"

    async def refund(self, order_id: str, amount: float, actor: Actor | None = None) -> Order:
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount):
            raise ValueError(f"amount must be a number, not {amount!r}")
        amount = round(float(amount), 2)
        if amount <= 0:
            raise ValueError(f"amount must be more than 0, not {amount}")

        def change(data: dict[str, Any]) -> None:
            # Unshipped orders are refunded by cancelling them; a cancelled one was refunded then.
            _require_status(order_id, data, DISPATCHED)
            total = round(sum(item["price"] * item["quantity"] for item in data["items"]), 2)
            refunded = round(float(data.get("refunded_amount") or 0) + amount, 2)
            if refunded > total:
                left = round(total - float(data.get("refunded_amount") or 0), 2)
                raise ValueError(f"amount {amount} is more than the {left} {data['currency']} left to refund")
            data.update(refunded_amount=refunded, refund_issued_on=self._today().isoformat())

        return await self._move(order_id, change, actor, "refunded", ("refunded_amount", "refund_issued_on"))


def _require_status(order_id: str, data: dict[str, Any], allowed: set[str]) -> None:
    if data["status"] not in allowed:
        raise OrderStateError(f"order {order_id} is {data['status']}, not {' or '.join(sorted(allowed))}")


def _bounded_text(name: str, value: str, limit: int) -> str:
    text = value.strip()
    if not text or len(text) > limit or not text.isprintable():
        raise ValueError(f"{name} must be 1-{limit} printable characters")
    return text


def _audit_value(value: Any) -> str:
    """Item lists are recorded by SKU and quantity; everything else as text."""
    if isinstance(value, list):
        return ", ".join(f"{item['sku']} x{item['quantity']}" for item in value if isinstance(item, dict))
    return str(value or "")


def insert_audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    """One line of an order's audit trail, inside the caller's transaction (the change it records)."""
    data = dataclasses.asdict(entry)
    conn.execute(
        "INSERT INTO audit (order_id, event, at, data) VALUES (?, ?, ?, ?)",
        (entry.order_id, entry.event, entry.at, json.dumps(data, ensure_ascii=False)),
    )
