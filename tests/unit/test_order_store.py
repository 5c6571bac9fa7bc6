import asyncio
import re
import sqlite3
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from actions.orders.model import Actor, AuditEntry, OrderStateError, OrderStatus
from actions.orders.sqlite_store import SqliteOrderStore

SEED = Path(__file__).resolve().parents[2] / "data" / "orders" / "orders.yml"


@pytest.fixture
def seed() -> dict:
    return yaml.safe_load(SEED.read_text(encoding="utf-8"))


def test_seed_has_enough_orders_in_every_state(seed: dict) -> None:
    orders = seed["orders"]
    assert len(orders) >= 50
    assert {o["status"] for o in orders} == {s.value for s in OrderStatus}
    assert len({o["id"] for o in orders}) == len(orders)


async def test_dates_are_relative_to_today(tmp_path: Path, seed: dict) -> None:
    today = date(2026, 3, 10)
    store = SqliteOrderStore(tmp_path / "orders.sqlite", SEED, today=lambda: today)
    raw = next(o for o in seed["orders"] if o["status"] == "delivered")
    order = await store.get(raw["id"])
    assert order is not None
    assert order.delivered_on == today - timedelta(days=raw["delivered_days_ago"])
    assert order.status is OrderStatus.DELIVERED
    assert order.items and order.total > 0


async def test_reseeds_on_a_new_day(tmp_path: Path, seed: dict) -> None:
    day = [date(2026, 3, 10)]
    db = tmp_path / "orders.sqlite"
    raw = next(o for o in seed["orders"] if o["status"] == "delivered")
    first = await SqliteOrderStore(db, SEED, today=lambda: day[0]).get(raw["id"])
    day[0] = date(2026, 3, 11)
    second = await SqliteOrderStore(db, SEED, today=lambda: day[0]).get(raw["id"])
    assert first is not None and second is not None
    assert second.delivered_on == first.delivered_on + timedelta(days=1)  # type: ignore[operator]


async def test_unknown_order_and_recent_orders(tmp_path: Path, seed: dict) -> None:
    store = SqliteOrderStore(tmp_path / "orders.sqlite", SEED)
    assert await store.get("SO-00000000") is None
    customer = seed["orders"][0]["customer"]
    recent = await store.recent_for_customer(customer, limit=3)
    assert 0 < len(recent) <= 3
    assert all(o.customer_id == customer for o in recent)
    assert [o.placed_on for o in recent] == sorted((o.placed_on for o in recent), reverse=True)


async def test_orders_carry_their_owners_contact_details(tmp_path: Path, seed: dict) -> None:
    store = SqliteOrderStore(tmp_path / "orders.sqlite", SEED)
    raw = seed["orders"][0]
    customer = next(c for c in seed["customers"] if c["id"] == raw["customer"])
    order = await store.get(raw["id"])
    assert order is not None
    assert (order.email, order.phone) == (customer["email"], str(customer["phone"]))


async def test_changes_and_checks_are_audited_and_survive_a_reseed(tmp_path: Path, seed: dict) -> None:
    day = [date(2026, 3, 10)]
    db = tmp_path / "orders.sqlite"
    raw = next(o for o in seed["orders"] if o["status"] == "paid")
    actor = Actor("conv-7", "web", None, "order_check")
    store = SqliteOrderStore(db, SEED, today=lambda: day[0])
    await store.change_address(raw["id"], "200 Pine St, Seattle, WA 98101", actor)
    await store.cancel(raw["id"], actor)
    await store.record(AuditEntry(raw["id"], "check_failed", "conv-8", "rest", None, None))
    day[0] = date(2026, 3, 11)
    trail = await SqliteOrderStore(db, SEED, today=lambda: day[0]).audit_trail(raw["id"])
    assert [e.event for e in trail] == ["address_changed", "cancelled", "check_failed"]
    assert trail[0].before == {"shipping_address": raw["shipping_address"]}
    assert trail[0].after == {"shipping_address": "200 Pine St, Seattle, WA 98101"}
    assert (trail[1].conversation_id, trail[1].verified_by, trail[1].after["status"]) == (
        "conv-7", "order_check", "cancelled",
    )  # fmt: skip
    assert all(e.at for e in trail)


async def test_a_refused_change_leaves_no_audit_line(tmp_path: Path, seed: dict) -> None:
    store = SqliteOrderStore(tmp_path / "orders.sqlite", SEED)
    raw = next(o for o in seed["orders"] if o["status"] == "shipped")
    with pytest.raises(OrderStateError):
        await store.cancel(raw["id"], Actor("c", "web", None, "storefront"))
    assert await store.audit_trail(raw["id"]) == []


async def test_the_order_file_is_private(tmp_path: Path) -> None:
    db = tmp_path / "orders.sqlite"
    await SqliteOrderStore(db, SEED).get("SO-10001021")
    assert db.stat().st_mode & 0o077 == 0


async def test_cancelling_some_lines_keeps_the_rest_and_is_audited(tmp_path: Path, seed: dict) -> None:
    store = SqliteOrderStore(tmp_path / "orders.sqlite", SEED)
    raw = next(o for o in seed["orders"] if o["status"] == "paid" and len(o["items"]) >= 2)
    first, *rest = [i["sku"] for i in raw["items"]]
    order = await store.cancel_items(raw["id"], [first], Actor("c", "web", None, "storefront"))
    assert [i.sku for i in order.items] == rest and order.status is OrderStatus.PAID
    with pytest.raises(OrderStateError):
        await store.cancel_items(raw["id"], ["NOT-THERE"])
    everything = await store.cancel_items(raw["id"], rest)
    assert everything.status is OrderStatus.CANCELLED
    assert [e.event for e in await store.audit_trail(raw["id"])] == ["items_cancelled", "items_cancelled"]


async def test_kept_connections_see_changes_made_elsewhere(tmp_path: Path, seed: dict) -> None:
    """Each worker thread keeps its connection; a write elsewhere (another store process, the scenario
    runner's restore) is seen by the next read."""
    db = tmp_path / "orders.sqlite"
    reader, writer = SqliteOrderStore(db, SEED), SqliteOrderStore(db, SEED)
    raw = next(o for o in seed["orders"] if o["status"] == "paid")
    before = await reader.get(raw["id"])
    assert before is not None and before.status is OrderStatus.PAID
    await writer.cancel(raw["id"], Actor("c1", "rest", None, "order_check"))
    after = await reader.get(raw["id"])
    assert after is not None and after.status is OrderStatus.CANCELLED


# Movements (actions.orders.store.OrderMovements): seeded once, each test on a copy.
TODAY = date(2026, 3, 10)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("seeded") / "orders.sqlite"
    asyncio.run(SqliteOrderStore(database, SEED, today=lambda: TODAY).get("SO-10001021"))
    return database


@pytest.fixture
def moving(tmp_path: Path, seeded: Path) -> SqliteOrderStore:
    copy = tmp_path / "orders.sqlite"
    with closing(sqlite3.connect(seeded)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return SqliteOrderStore(copy, SEED, today=lambda: TODAY)


def first(seed: dict, status: str, **having: object) -> str:
    return str(
        next(
            o["id"]
            for o in seed["orders"]
            if o["status"] == status and all((key in o) == bool(want) for key, want in having.items())
        )
    )


async def test_an_order_is_shipped_delivered_returned_and_refunded(
    moving: SqliteOrderStore, seed: dict
) -> None:
    order_id = first(seed, "paid")
    shipped = await moving.ship(order_id, " UPS ", "1Z0000000001")
    assert (shipped.status, shipped.shipped_on, shipped.carrier, shipped.tracking_number) == (
        OrderStatus.SHIPPED, TODAY, "UPS", "1Z0000000001",
    )  # fmt: skip
    assert shipped.eta == TODAY + timedelta(days=3)  # it had no promise: it gets one
    await moving.report_exception(order_id, "Address not found")
    delivered = await moving.deliver(order_id)
    assert (delivered.status, delivered.delivered_on) == (OrderStatus.DELIVERED, TODAY)
    received = await moving.receive_return(order_id)
    assert (received.status, received.return_received_on) == (OrderStatus.RETURNED, TODAY)
    assert received.return_number and re.fullmatch(r"RA-\d{6}", received.return_number)
    refunded = await moving.refund(order_id, 12.5)
    assert refunded.refund_issued_on == TODAY
    trail = await moving.audit_trail(order_id)
    assert [e.event for e in trail] == [
        "shipped", "delivery_exception", "delivered", "return_received", "refunded",
    ]  # fmt: skip
    assert trail[0].before["status"] == "paid" and trail[0].after["carrier"] == "UPS"
    assert trail[1].after == {"delivery_exception": "Address not found"}
    assert trail[4].after == {"refunded_amount": "12.5", "refund_issued_on": TODAY.isoformat()}
    assert all(e.conversation_id == "" and e.at for e in trail)  # the shop's systems, not a conversation


async def test_a_late_or_stuck_order_has_its_dates_moved_back(moving: SqliteOrderStore, seed: dict) -> None:
    shipped = first(seed, "shipped", eta_days=True)
    late = await moving.make_late(shipped, days_overdue=2)
    assert late.eta == TODAY - timedelta(days=2) and late.status is OrderStatus.SHIPPED
    paid = first(seed, "paid")
    stuck = await moving.make_stuck(paid, days_ago=6)
    assert stuck.placed_on == TODAY - timedelta(days=6)
    customer = stuck.customer_id
    recent = await moving.recent_for_customer(customer, limit=50)
    assert [o.placed_on for o in recent] == sorted((o.placed_on for o in recent), reverse=True)
    assert [e.event for e in await moving.audit_trail(paid)] == ["placed_on_changed"]
    assert (await moving.audit_trail(shipped))[0].after == {"eta": (TODAY - timedelta(days=2)).isoformat()}


@pytest.mark.parametrize(
    ("status", "move"),
    [
        ("delivered", "make_late"),
        ("shipped", "make_stuck"),
        ("pending", "ship"),  # still waiting for its payment
        ("paid", "report_exception"),
        ("paid", "deliver"),
        ("shipped", "receive_return"),
        ("paid", "refund"),  # unshipped orders are refunded by cancelling them
        ("cancelled", "refund"),
    ],
)
async def test_moves_the_order_state_does_not_allow_are_refused_without_an_audit_line(
    moving: SqliteOrderStore, seed: dict, status: str, move: str
) -> None:
    order_id = first(seed, status)
    arguments = {
        "ship": ("UPS", "1Z0000000001"), "report_exception": ("Address not found",), "refund": (1.0,),
    }.get(move, ())  # fmt: skip
    before = await moving.get(order_id)
    with pytest.raises(OrderStateError, match=f"order {order_id} is {status}"):
        await getattr(moving, move)(order_id, *arguments)
    assert await moving.get(order_id) == before
    assert await moving.audit_trail(order_id) == []


async def test_a_return_is_received_once_under_its_authorisation(
    moving: SqliteOrderStore, seed: dict
) -> None:
    order_id = first(seed, "delivered")
    sku = next(o for o in seed["orders"] if o["id"] == order_id)["items"][0]["sku"]
    authorisation = await moving.create_return(order_id, sku, "too small")
    received = await moving.receive_return(order_id)
    assert received.return_number == authorisation.number
    with pytest.raises(OrderStateError, match="return was received"):
        await moving.receive_return(order_id)


async def test_refunds_add_up_to_the_order_total_at_most(moving: SqliteOrderStore, seed: dict) -> None:
    order_id = first(seed, "delivered")
    order = await moving.get(order_id)
    assert order is not None
    await moving.refund(order_id, order.total - 1)
    with pytest.raises(ValueError, match=r"amount 1\.01 is more than the 1\.0 .* left to refund"):
        await moving.refund(order_id, 1.01)
    await moving.refund(order_id, 1)
    assert [e.after["refunded_amount"] for e in await moving.audit_trail(order_id)] == [
        str(round(order.total - 1, 2)), str(order.total),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("move", "arguments", "message"),
    [
        ("refund", (0,), "amount must be more than 0"),
        ("refund", (-5.0,), "amount must be more than 0"),
        ("refund", (float("nan"),), "amount must be a number"),
        ("refund", (True,), "amount must be a number"),
        ("ship", ("", "1Z1"), "carrier must be 1-64"),
        ("ship", ("UPS", "1Z" * 40), "tracking_number must be 1-64"),
        ("report_exception", ("  ",), "text must be 1-500"),
        ("report_exception", ("bad\nline",), "text must be 1-500 printable"),
        ("make_late", (0,), "days_overdue must be at least 1"),
        ("make_stuck", (-1,), "days_ago must be at least 1"),
    ],
)
async def test_bad_arguments_name_the_field(
    moving: SqliteOrderStore, move: str, arguments: tuple, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await getattr(moving, move)("SO-10001021", *arguments)


async def test_moving_an_unknown_order_is_a_key_error(moving: SqliteOrderStore) -> None:
    with pytest.raises(KeyError):
        await moving.deliver("SO-00000000")


async def test_a_customers_language_comes_from_their_record(moving: SqliteOrderStore) -> None:
    assert await moving.customer_language("cust-2001") == "zh"
    assert await moving.customer_language("cust-1001") == "en"
    assert await moving.customer_language("nobody") is None
