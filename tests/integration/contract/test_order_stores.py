"""The OrderStore contract (actions/orders/store.py): the demo SQLite store and the actions' fake, both
holding the demo orders of data/orders/orders.yml."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions.orders.model import Actor, AuditEntry, Order, OrderStateError, OrderStatus
from actions.orders.sqlite_store import SqliteOrderStore
from actions.orders.store import OrderStore
from tests.unit.fakes import FakeOrderStore

SEED = Path(__file__).resolve().parents[3] / "data" / "orders" / "orders.yml"
ACTOR = Actor("conv-7", "web", "cust-1001", "storefront")
NEW_ADDRESS = "200 Pine St, Seattle, WA 98101"
SHIPPED_OR_LATER = ["shipped", "delivered", "returned", "cancelled"]


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    return yaml.safe_load(SEED.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Demo:
    database: Path  # seeded once (reading the seed takes most of a second); each test changes a copy
    orders: tuple[Order, ...]  # as the real store reads them: the fake's orders


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, seed: dict[str, Any]) -> Demo:
    database = tmp_path_factory.mktemp("orders") / "orders.sqlite"

    async def read_all() -> list[Order | None]:
        store = SqliteOrderStore(database, SEED)
        return [await store.get(raw["id"]) for raw in seed["orders"]]

    return Demo(database, tuple(o for o in asyncio.run(read_all()) if o is not None))


@pytest.fixture(params=["sqlite", "fake"])
def store(request: pytest.FixtureRequest, tmp_path: Path, demo: Demo) -> OrderStore:
    if request.param == "fake":
        return FakeOrderStore(*demo.orders)
    copy = tmp_path / "orders.sqlite"
    with closing(sqlite3.connect(demo.database)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)  # consistent whatever the seeding connection left in its write-ahead log
    return SqliteOrderStore(copy, SEED)


def seeded(seed: dict[str, Any], status: str, min_items: int = 1) -> dict[str, Any]:
    """The first demo order in this state with at least `min_items` lines."""
    return next(o for o in seed["orders"] if o["status"] == status and len(o["items"]) >= min_items)


async def fetch(store: OrderStore, order_id: str) -> Order:
    order = await store.get(order_id)
    assert order is not None
    return order


def lines(order: Order) -> str:
    return ", ".join(f"{item.sku} x{item.quantity}" for item in order.items)


def assert_stamped(trail: list[AuditEntry]) -> None:
    """The store sets each entry's time: an ISO timestamp with its time zone."""
    assert all(datetime.fromisoformat(entry.at).tzinfo is not None for entry in trail)


async def test_an_order_is_found_by_its_id_and_an_unknown_id_finds_nothing(
    store: OrderStore, seed: dict[str, Any]
) -> None:
    raw = seeded(seed, "delivered")
    order = await fetch(store, raw["id"])
    assert (order.id, order.customer_id, order.status.value) == (raw["id"], raw["customer"], "delivered")
    assert [item.sku for item in order.items] == [item["sku"] for item in raw["items"]]
    assert await store.get("SO-00000000") is None


async def test_a_customers_recent_orders_come_newest_first(store: OrderStore, seed: dict[str, Any]) -> None:
    days = Counter((o["customer"], o["placed_days_ago"]) for o in seed["orders"])
    customer = next(c for (c, _), orders in days.items() if orders > 1)  # two orders placed on one day
    mine = [o for o in seed["orders"] if o["customer"] == customer]
    # Newest first; orders placed on the same day by id, highest first.
    expected = [o["id"] for o in sorted(mine, key=lambda o: (-o["placed_days_ago"], o["id"]), reverse=True)]
    assert len(expected) > 5
    assert [o.id for o in await store.recent_for_customer(customer)] == expected[:5]
    assert [o.id for o in await store.recent_for_customer(customer, limit=2)] == expected[:2]
    assert await store.recent_for_customer("cust-0000") == []


@pytest.mark.parametrize("status", ["pending", "paid"])
async def test_an_unshipped_order_is_cancelled_and_a_paid_one_refunded(
    store: OrderStore, seed: dict[str, Any], status: str
) -> None:
    raw = seeded(seed, status)
    refund = date.today() if status == "paid" else None
    cancelled = await store.cancel(raw["id"], ACTOR)
    assert (cancelled.status, cancelled.cancelled_on, cancelled.refund_issued_on) == (
        OrderStatus.CANCELLED, date.today(), refund,
    )  # fmt: skip
    assert await fetch(store, raw["id"]) == cancelled
    (entry,) = await store.audit_trail(raw["id"])
    refunded = refund.isoformat() if refund else ""
    assert entry == AuditEntry(
        raw["id"], "cancelled", "conv-7", "web", "cust-1001", "storefront",
        before={"status": status, "refund_issued_on": ""},
        after={"status": "cancelled", "refund_issued_on": refunded},
        at=entry.at,
    )  # fmt: skip
    assert_stamped([entry])


async def test_cancelling_some_lines_keeps_the_others_and_all_lines_cancel_the_order(
    store: OrderStore, seed: dict[str, Any]
) -> None:
    raw = seeded(seed, "paid", min_items=2)
    order = await fetch(store, raw["id"])
    first, *rest = [item.sku for item in order.items]
    partly = await store.cancel_items(raw["id"], [first, "NOT-ON-IT"], ACTOR)
    assert [item.sku for item in partly.items] == rest and partly.status is OrderStatus.PAID
    assert await fetch(store, raw["id"]) == partly
    everything = await store.cancel_items(raw["id"], rest)
    assert everything.status is OrderStatus.CANCELLED and everything.refund_issued_on == date.today()
    trail = await store.audit_trail(raw["id"])
    assert [(e.event, e.before["status"], e.after["status"]) for e in trail] == [
        ("items_cancelled", "paid", "paid"),
        ("items_cancelled", "paid", "cancelled"),
    ]
    # Lines as "SKU xQUANTITY"; cancelling the last ones leaves them on the cancelled order.
    assert [(e.before["items"], e.after["items"]) for e in trail] == [
        (lines(order), lines(partly)),
        (lines(partly), lines(partly)),
    ]
    assert (trail[0].conversation_id, trail[1].conversation_id, trail[1].verified_by) == ("conv-7", "", None)
    assert_stamped(trail)


async def test_cancelling_lines_the_order_does_not_have_is_refused(
    store: OrderStore, seed: dict[str, Any]
) -> None:
    raw = seeded(seed, "pending")
    before = await fetch(store, raw["id"])
    with pytest.raises(OrderStateError):
        await store.cancel_items(raw["id"], ["NOT-ON-IT"], ACTOR)
    assert await fetch(store, raw["id"]) == before
    assert await store.audit_trail(raw["id"]) == []


async def test_the_address_changes_before_shipment_with_its_postcode(
    store: OrderStore, seed: dict[str, Any]
) -> None:
    raw = seeded(seed, "paid")
    moved = await store.change_address(raw["id"], NEW_ADDRESS, ACTOR)
    assert (moved.shipping_address, moved.postcode, moved.status) == (NEW_ADDRESS, "98101", OrderStatus.PAID)
    assert await fetch(store, raw["id"]) == moved
    (entry,) = await store.audit_trail(raw["id"])
    assert (entry.event, entry.before, entry.after) == (
        "address_changed", {"shipping_address": raw["shipping_address"]}, {"shipping_address": NEW_ADDRESS},
    )  # fmt: skip
    assert_stamped([entry])


@pytest.mark.parametrize("status", SHIPPED_OR_LATER)
async def test_a_shipped_order_cannot_be_changed_and_a_refusal_leaves_no_trace(
    store: OrderStore, seed: dict[str, Any], status: str
) -> None:
    raw = seeded(seed, status)
    before = await fetch(store, raw["id"])
    with pytest.raises(OrderStateError):
        await store.cancel(raw["id"], ACTOR)
    with pytest.raises(OrderStateError):
        await store.cancel_items(raw["id"], [before.items[0].sku], ACTOR)
    with pytest.raises(OrderStateError):
        await store.change_address(raw["id"], NEW_ADDRESS, ACTOR)
    assert await fetch(store, raw["id"]) == before
    assert await store.audit_trail(raw["id"]) == []


async def test_an_unknown_order_cannot_be_changed(store: OrderStore) -> None:
    with pytest.raises(KeyError):
        await store.cancel("SO-00000000", ACTOR)
    with pytest.raises(KeyError):
        await store.cancel_items("SO-00000000", ["SKU"], ACTOR)
    with pytest.raises(KeyError):
        await store.change_address("SO-00000000", NEW_ADDRESS, ACTOR)


async def test_a_return_is_authorised_once_per_item(store: OrderStore, seed: dict[str, Any]) -> None:
    raw = seeded(seed, "delivered", min_items=2)
    first, second = (item["sku"] for item in raw["items"][:2])
    authorisation = await store.create_return(raw["id"], first, "damaged", ACTOR)
    assert re.fullmatch(r"RA-[0-9]{6}", authorisation.number)
    assert (authorisation.order_id, authorisation.sku, authorisation.reason, authorisation.created_on) == (
        raw["id"], first, "damaged", date.today(),
    )  # fmt: skip
    assert await store.create_return(raw["id"], first, "changed_mind") == authorisation  # asked again
    other = await store.create_return(raw["id"], second, "wrong_size")
    assert other.number != authorisation.number
    trail = await store.audit_trail(raw["id"])
    assert [(e.event, e.before, e.conversation_id) for e in trail] == [
        ("return_authorised", {}, "conv-7"),
        ("return_authorised", {}, ""),
    ]
    assert [e.after for e in trail] == [
        {"sku": first, "reason": "damaged", "return_number": authorisation.number},
        {"sku": second, "reason": "wrong_size", "return_number": other.number},
    ]
    assert_stamped(trail)


async def test_a_return_needs_an_existing_order_and_one_of_its_items(
    store: OrderStore, seed: dict[str, Any]
) -> None:
    raw = seeded(seed, "delivered")
    with pytest.raises(KeyError):
        await store.create_return("SO-00000000", raw["items"][0]["sku"], "damaged", ACTOR)
    with pytest.raises(OrderStateError):
        await store.create_return(raw["id"], "NOT-IN-THIS-ORDER", "damaged", ACTOR)
    assert await store.audit_trail(raw["id"]) == []


async def test_recorded_entries_join_the_trail_in_order_and_are_stamped(
    store: OrderStore, seed: dict[str, Any]
) -> None:
    raw = seeded(seed, "paid")
    await store.record(AuditEntry(raw["id"], "check_failed", "conv-8", "rest", None, None))
    await store.change_address(raw["id"], NEW_ADDRESS, ACTOR)
    at = "2026-03-10T09:00:00+00:00"
    dated = AuditEntry(raw["id"], "check_passed", "conv-8", "rest", None, "order_check", at=at)
    await store.record(dated)
    unknown = "SO-99999999"  # attempts to prove an order that does not exist are recorded too
    await store.record(AuditEntry(unknown, "check_failed", "conv-9", "web", None, None))
    trail = await store.audit_trail(raw["id"])
    assert [e.event for e in trail] == ["check_failed", "address_changed", "check_passed"]
    assert trail[2] == dated  # a time given is kept
    assert_stamped(trail)
    assert [e.conversation_id for e in await store.audit_trail(unknown)] == ["conv-9"]
    assert await store.audit_trail("SO-00000000") == []
