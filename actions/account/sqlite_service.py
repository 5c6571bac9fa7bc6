"""The demo customer service: SQLite, in the demo order store's database file.

Messages are not sent from here: they are queued in the `outbox` table, which an email integration reads
(each row: kind, recipient, subject, template and its parameters as JSON, `status` 'queued' until sent).
Invoice resends go to the order's audit trail; reset requests to `reset_requests`, the address only as a
hash. Reset tokens are stored only as their SHA-256; the token itself exists only in the queued message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from actions.account.service import (
    INVOICE_RESENDS_PER_DAY,
    RESET_LINK_LIFETIME_SECONDS,
    RESET_REQUESTS_PER_HOUR,
    InvoiceSent,
    NoInvoice,
    TooManyRequests,
    UnknownOrder,
    has_invoice,
    mask_email,
)
from actions.orders.model import Actor, AuditEntry, Order, OrderItem
from actions.orders.sqlite_store import insert_audit
from actions.orders.store import OrderStore

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, recipient TEXT NOT NULL, subject TEXT NOT NULL,
    template TEXT NOT NULL, params TEXT NOT NULL, created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued'
);
CREATE INDEX IF NOT EXISTS outbox_by_status ON outbox (status, id);
CREATE TABLE IF NOT EXISTS password_resets (
    token_hash TEXT PRIMARY KEY, customer_id TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, used_at TEXT
);
CREATE TABLE IF NOT EXISTS reset_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, email_hash TEXT NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reset_requests_by_email ON reset_requests (email_hash, at);
"""
INVOICE_RESENT = "invoice_resent"
RESET_PATH = "/account/reset-password"
# An id no order has: asking the order store for it makes it create and seed the database file first
# (customer data: it creates the file for this user only), so this service never creates it itself.
_NO_ORDER = "SO-00000000"
SUBJECTS = {
    "invoice": {"en": "Your invoice for order {order_id}", "zh": "订单 {order_id} 的发票"},
    "password_reset": {"en": "Reset your password", "zh": "重置您的密码"},
}


def email_key(email: str) -> str:
    """The address as the limits and the request log know it: a hash of its normal form."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invoice_line(item: OrderItem, language: str) -> dict[str, Any]:
    name = item.name_zh if language == "zh" else item.name
    return {"sku": item.sku, "name": name, "quantity": item.quantity, "price": item.price}


def _stamp(moment: datetime) -> str:
    """UTC, to the second: the audit trail's format, so stamps compare as text."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class SqliteCustomerService:
    def __init__(
        self,
        db_path: Path,
        orders: OrderStore,
        storefront_url: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db_path = db_path
        self._orders = orders
        self._storefront_url = storefront_url.rstrip("/")
        self._now = now
        self._ready = False
        self._lock = asyncio.Lock()
        self._connections = threading.local()

    def _connect(self) -> sqlite3.Connection:
        """This thread's connection, kept as the order store keeps its own."""
        conn: sqlite3.Connection | None = getattr(self._connections, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._db_path, timeout=10)
            self._connections.conn = conn
        return conn

    def _create_schema(self) -> None:
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    async def _ensure_ready(self) -> None:
        if self._ready:
            return
        async with self._lock:
            if not self._ready:
                await self._orders.get(_NO_ORDER)
                await asyncio.to_thread(self._create_schema)
                self._ready = True

    # Invoices

    async def resend_invoice(self, order_id: str, actor: Actor) -> InvoiceSent:
        await self._ensure_ready()
        order = await self._orders.get(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        if not has_invoice(order):
            raise NoInvoice(f"order {order_id} is {order.status.value} and has no invoice")
        if not mask_email(order.email):
            raise NoInvoice(f"order {order_id} has no email address")
        try:
            sent = await asyncio.to_thread(self._queue_invoice, order, actor)
        except TooManyRequests:
            logger.info(
                "actions.account.invoice_resend_refused",
                extra={"order_id": order.id, "conversation_id": actor.conversation_id},
            )
            raise
        logger.info(
            "actions.account.invoice_resent",
            extra={
                "order_id": order.id,
                "conversation_id": actor.conversation_id,
                "reference": sent.reference,
            },
        )
        return sent

    def _queue_invoice(self, order: Order, actor: Actor) -> InvoiceSent:
        now = self._now()
        masked = mask_email(order.email)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")  # the count and the new row in one step, across workers
            (sent_today,) = conn.execute(
                "SELECT COUNT(*) FROM audit WHERE order_id = ? AND event = ? AND at > ?",
                (order.id, INVOICE_RESENT, _stamp(now - timedelta(days=1))),
            ).fetchone()
            if sent_today >= INVOICE_RESENDS_PER_DAY:
                raise TooManyRequests(f"invoice of {order.id} sent {sent_today} times in a day")
            language = self._language(conn, order.customer_id)
            params = {
                "order_id": order.id,
                "invoice_number": f"INV-{order.id.removeprefix('SO-')}",
                "placed_on": order.placed_on.isoformat(),
                "currency": order.currency,
                "total": order.total,
                "payment_method": order.payment_method,
                "items": [_invoice_line(item, language) for item in order.items],
                "language": language,
            }
            message_id = self._queue(conn, "invoice", order.email, language, params, now, order_id=order.id)
            reference = f"EM-{message_id:06d}"
            entry = AuditEntry(
                order.id, INVOICE_RESENT, actor.conversation_id, actor.channel, actor.customer_id,
                actor.verified_by, {}, {"to": masked, "reference": reference}, _stamp(now),
            )  # fmt: skip
            insert_audit(conn, entry)  # in the same transaction as the outbox row
        return InvoiceSent(order.id, masked, reference)

    # Password resets

    async def start_password_reset(self, email: str, actor: Actor) -> None:
        await self._ensure_ready()
        key = email_key(email)
        # The token is made whether or not an account uses the address: both paths do the same work.
        who = {"conversation_id": actor.conversation_id, "channel": actor.channel, "email_key": key[:16]}
        try:
            await asyncio.to_thread(
                self._request_reset, email.strip().lower(), key, secrets.token_urlsafe(32), actor
            )
        except TooManyRequests:
            logger.info("actions.account.password_reset_refused", extra=who)
            raise
        logger.info("actions.account.password_reset_requested", extra=who)

    def _request_reset(self, email: str, key: str, token: str, actor: Actor) -> None:
        now = self._now()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            (recent,) = conn.execute(
                "SELECT COUNT(*) FROM reset_requests WHERE email_hash = ? AND at > ?",
                (key, _stamp(now - timedelta(hours=1))),
            ).fetchone()
            if recent >= RESET_REQUESTS_PER_HOUR:
                raise TooManyRequests("reset links asked for too often for one address")
            conn.execute(
                "INSERT INTO reset_requests (email_hash, at, data) VALUES (?, ?, ?)",
                (key, _stamp(now), json.dumps(dataclasses.asdict(actor), ensure_ascii=False)),
            )
            row = conn.execute(
                "SELECT id, data FROM customers WHERE lower(json_extract(data, '$.email')) = ? LIMIT 1",
                (email,),
            ).fetchone()
            if row is None:
                return
            customer_id, data = row[0], json.loads(row[1])
            expires = now + timedelta(seconds=RESET_LINK_LIFETIME_SECONDS)
            conn.execute(
                "INSERT INTO password_resets (token_hash, customer_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (token_hash(token), customer_id, _stamp(now), _stamp(expires)),
            )
            language = data.get("language") if data.get("language") in ("en", "zh") else "en"
            link = f"{self._storefront_url}{RESET_PATH}?{urlencode({'token': token})}"
            params = {"link": link, "expires_at": _stamp(expires), "language": language}
            self._queue(conn, "password_reset", str(data["email"]), language, params, now)

    async def account_email(self, customer_id: str) -> str | None:
        await self._ensure_ready()
        return await asyncio.to_thread(self._account_email, customer_id)

    def _account_email(self, customer_id: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute("SELECT data FROM customers WHERE id = ?", (customer_id,)).fetchone()
        email = json.loads(row[0]).get("email") if row else None
        return email if isinstance(email, str) and email else None

    # Shared

    @staticmethod
    def _language(conn: sqlite3.Connection, customer_id: str) -> str:
        row = conn.execute("SELECT data FROM customers WHERE id = ?", (customer_id,)).fetchone()
        language = json.loads(row[0]).get("language") if row else None
        return language if language in ("en", "zh") else "en"

    @staticmethod
    def _queue(
        conn: sqlite3.Connection,
        kind: str,
        recipient: str,
        language: str,
        params: dict[str, Any],
        now: datetime,
        **subject_values: str,
    ) -> int:
        subject = SUBJECTS[kind][language].format(**subject_values)
        cursor = conn.execute(
            "INSERT INTO outbox (kind, recipient, subject, template, params, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                kind,
                recipient,
                subject,
                f"{kind}_{language}",
                json.dumps(params, ensure_ascii=False),
                _stamp(now),
            ),
        )
        return int(cursor.lastrowid or 0)
