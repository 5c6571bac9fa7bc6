"""The CustomerService contract (actions/account/service.py): the SQLite service on a copy of the seeded
demo database and the unit tests' fake; then what only the SQLite service stores (outbox, tokens, log)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import statistics
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from actions.account.service import (
    INVOICE_RESENDS_PER_DAY,
    RESET_REQUESTS_PER_HOUR,
    CustomerService,
    NoInvoice,
    TooManyRequests,
    UnknownOrder,
    mask_email,
)
from actions.account.sqlite_service import SqliteCustomerService
from actions.orders.model import Actor, Order
from actions.orders.sqlite_store import SqliteOrderStore
from actions.orders.store import OrderStore
from tests.unit.fakes import FakeOrderStore
from tests.unit.test_account_flows import FakeCustomerService

SEED = Path(__file__).resolve().parents[3] / "data" / "orders" / "orders.yml"
ACTOR = Actor("conv-7", "web", "cust-1001", "storefront")
ANONYMOUS = Actor("conv-8", "widget", None, "")
STOREFRONT = "https://shop.example"
START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    return yaml.safe_load(SEED.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Demo:
    database: Path  # seeded once; each test works on a copy
    orders: tuple[Order, ...]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, seed: dict[str, Any]) -> Demo:
    database = tmp_path_factory.mktemp("account") / "orders.sqlite"

    async def read_all() -> list[Order | None]:
        store = SqliteOrderStore(database, SEED)
        return [await store.get(raw["id"]) for raw in seed["orders"]]

    return Demo(database, tuple(o for o in asyncio.run(read_all()) if o is not None))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Subject:
    service: CustomerService
    store: OrderStore  # where the audit trail is read
    clock: Clock
    database: Path | None  # the SQLite service's file


def copy_of(demo: Demo, tmp_path: Path) -> Path:
    copy = tmp_path / "orders.sqlite"
    with closing(sqlite3.connect(demo.database)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return copy


def sqlite_subject(demo: Demo, tmp_path: Path) -> Subject:
    clock = Clock()
    database = copy_of(demo, tmp_path)
    store = SqliteOrderStore(database, SEED)
    return Subject(SqliteCustomerService(database, store, STOREFRONT, now=clock), store, clock, database)


@pytest.fixture(params=["sqlite", "fake"])
def subject(request: pytest.FixtureRequest, tmp_path: Path, demo: Demo, seed: dict[str, Any]) -> Subject:
    if request.param == "sqlite":
        return sqlite_subject(demo, tmp_path)
    clock = Clock()
    store = FakeOrderStore(*demo.orders)
    accounts = {c["id"]: c["email"] for c in seed["customers"]}
    return Subject(FakeCustomerService(store, accounts, now=clock), store, clock, None)


@pytest.fixture
def sqlite(tmp_path: Path, demo: Demo) -> Subject:
    return sqlite_subject(demo, tmp_path)


def seeded(seed: dict[str, Any], status: str, refunded: bool | None = None) -> dict[str, Any]:
    return next(
        o for o in seed["orders"]
        if o["status"] == status and (refunded is None or ("refund_issued_days_ago" in o) == refunded)
    )  # fmt: skip


def email_of(seed: dict[str, Any], order: dict[str, Any]) -> str:
    return str(next(c["email"] for c in seed["customers"] if c["id"] == order["customer"]))


def rows(database: Path | None, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    assert database is not None
    with closing(sqlite3.connect(database)) as conn:
        return conn.execute(sql, params).fetchall()


# The contract


async def test_an_invoice_goes_to_the_address_on_the_order_and_is_audited(
    subject: Subject, seed: dict[str, Any]
) -> None:
    order = seeded(seed, "delivered")
    sent = await subject.service.resend_invoice(order["id"], ACTOR)
    assert (sent.order_id, sent.masked_email) == (order["id"], mask_email(email_of(seed, order)))
    assert sent.masked_email.startswith(email_of(seed, order)[0] + "***@") and sent.reference
    (entry,) = await subject.store.audit_trail(order["id"])
    assert (entry.event, entry.conversation_id, entry.channel, entry.customer_id, entry.verified_by) == (
        "invoice_resent", "conv-7", "web", "cust-1001", "storefront",
    )  # fmt: skip
    assert entry.after == {"to": sent.masked_email, "reference": sent.reference}
    assert datetime.fromisoformat(entry.at).tzinfo is not None


async def test_an_unknown_order_and_orders_without_an_invoice_are_refused(
    subject: Subject, seed: dict[str, Any]
) -> None:
    with pytest.raises(UnknownOrder):
        await subject.service.resend_invoice("SO-00000001", ACTOR)
    for unpaid in (seeded(seed, "pending"), seeded(seed, "cancelled", refunded=False)):
        with pytest.raises(NoInvoice):
            await subject.service.resend_invoice(unpaid["id"], ACTOR)
        assert await subject.store.audit_trail(unpaid["id"]) == []
    paid_then_cancelled = seeded(seed, "cancelled", refunded=True)
    assert (await subject.service.resend_invoice(paid_then_cancelled["id"], ACTOR)).order_id


async def test_an_orders_invoice_is_resent_at_most_three_times_a_day(
    subject: Subject, seed: dict[str, Any]
) -> None:
    order, other = seeded(seed, "shipped"), seeded(seed, "paid")
    references = set()
    for _ in range(INVOICE_RESENDS_PER_DAY):
        references.add((await subject.service.resend_invoice(order["id"], ACTOR)).reference)
        subject.clock.now += timedelta(hours=1)
    assert len(references) == INVOICE_RESENDS_PER_DAY
    with pytest.raises(TooManyRequests):
        await subject.service.resend_invoice(order["id"], ACTOR)
    assert len(await subject.store.audit_trail(order["id"])) == INVOICE_RESENDS_PER_DAY
    await subject.service.resend_invoice(other["id"], ACTOR)  # counted per order
    subject.clock.now = START + timedelta(days=1, seconds=1)  # the first one is a day old
    await subject.service.resend_invoice(order["id"], ACTOR)


async def test_reset_requests_are_limited_per_address_whether_or_not_an_account_uses_it(
    subject: Subject, seed: dict[str, Any]
) -> None:
    for email in (seed["customers"][0]["email"], "nobody@example.com"):
        for _ in range(RESET_REQUESTS_PER_HOUR):
            await subject.service.start_password_reset(email, ANONYMOUS)  # the same None either way
        with pytest.raises(TooManyRequests):
            await subject.service.start_password_reset(email.upper(), ANONYMOUS)  # the same address
    await subject.service.start_password_reset("someone.else@example.com", ANONYMOUS)
    subject.clock.now += timedelta(hours=1, seconds=1)
    await subject.service.start_password_reset("nobody@example.com", ANONYMOUS)


async def test_a_signed_in_customers_account_email_is_known(subject: Subject, seed: dict[str, Any]) -> None:
    customer = seed["customers"][5]
    assert await subject.service.account_email(customer["id"]) == customer["email"]
    assert await subject.service.account_email("cust-0000") is None


# What the SQLite service stores


async def test_an_invoice_is_queued_in_the_outbox(sqlite: Subject, seed: dict[str, Any]) -> None:
    order = seeded(seed, "delivered")
    sent = await sqlite.service.resend_invoice(order["id"], ACTOR)
    ((message_id, kind, recipient, title, template, params, created_at, status),) = rows(
        sqlite.database, "SELECT * FROM outbox"
    )
    assert sent.reference == f"EM-{message_id:06d}"
    assert (kind, recipient, status, created_at) == (
        "invoice",
        email_of(seed, order),
        "queued",
        START.isoformat(),
    )
    assert order["id"] in title and template.startswith("invoice_")
    values = json.loads(params)
    assert (values["order_id"], values["invoice_number"]) == (order["id"], "INV-" + order["id"][3:])
    assert [item["sku"] for item in values["items"]] == [item["sku"] for item in order["items"]]


async def test_a_reset_link_is_queued_with_only_the_hash_of_its_token_stored(
    sqlite: Subject, seed: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    customer = seed["customers"][0]
    with caplog.at_level(logging.DEBUG):
        await sqlite.service.start_password_reset(f"  {customer['email'].upper()} ", ANONYMOUS)
    ((kind, recipient, params, status),) = rows(
        sqlite.database, "SELECT kind, recipient, params, status FROM outbox"
    )
    assert (kind, recipient, status) == ("password_reset", customer["email"], "queued")
    link = urlsplit(json.loads(params)["link"])
    assert f"{link.scheme}://{link.netloc}{link.path}" == f"{STOREFRONT}/account/reset-password"
    (token,) = parse_qs(link.query)["token"]
    assert len(token) >= 43  # secrets.token_urlsafe(32)
    ((token_hash, customer_id, created_at, expires_at, used_at),) = rows(
        sqlite.database, "SELECT * FROM password_resets"
    )
    assert token_hash == hashlib.sha256(token.encode()).hexdigest() and customer_id == customer["id"]
    assert datetime.fromisoformat(expires_at) - datetime.fromisoformat(created_at) == timedelta(hours=1)
    assert used_at is None
    ((email_hash, data),) = rows(sqlite.database, "SELECT email_hash, data FROM reset_requests")
    assert email_hash == hashlib.sha256(customer["email"].encode()).hexdigest()
    assert json.loads(data) == {"conversation_id": "conv-8", "channel": "widget", "customer_id": None,
                                "verified_by": ""}  # fmt: skip
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "actions.account.password_reset_requested" in logged
    assert token not in logged and customer["email"] not in logged


async def test_an_address_without_an_account_leaves_only_the_request_in_the_log(sqlite: Subject) -> None:
    await sqlite.service.start_password_reset("nobody@example.com", ANONYMOUS)
    assert rows(sqlite.database, "SELECT * FROM outbox") == []
    assert rows(sqlite.database, "SELECT * FROM password_resets") == []
    ((email_hash,),) = rows(sqlite.database, "SELECT email_hash FROM reset_requests")
    assert email_hash == hashlib.sha256(b"nobody@example.com").hexdigest()
    assert rows(sqlite.database, "SELECT * FROM reset_requests WHERE data LIKE '%nobody%'") == []


async def test_a_reset_takes_about_as_long_whether_or_not_an_account_uses_the_address(
    sqlite: Subject, seed: dict[str, Any]
) -> None:
    service = sqlite.service
    await service.start_password_reset("warm-up@example.com", ANONYMOUS)
    timings: dict[bool, list[float]] = {True: [], False: []}
    for n, customer in enumerate(seed["customers"][:9]):  # alternated, so that load hits both alike
        for has_account, email in ((True, customer["email"]), (False, f"nobody{n}@example.com")):
            started = time.perf_counter()
            await service.start_password_reset(email, ANONYMOUS)
            timings[has_account].append(time.perf_counter() - started)
    known, unknown = statistics.median(timings[True]), statistics.median(timings[False])
    assert max(known, unknown) < 10 * min(known, unknown)  # the same order of magnitude
