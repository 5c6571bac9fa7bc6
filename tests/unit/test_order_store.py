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
