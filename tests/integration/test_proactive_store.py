"""The proactive store and scheduler against a real Redis: events recorded once, one message per order per
day even with two schedulers, quiet hours, opt-out, retries and the cluster-wide lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from handoff.proactive.events import OrderEvent, parse_event
from handoff.proactive.scheduler import Proactive, Scheduler
from handoff.proactive.store import (
    Claim,
    ProactiveStore,
    due_key,
    event_key,
    order_key,
)
from handoff.proactive.triggers import Trigger, TriggerConfig
from tests.integration.api_helpers import own_database

pytestmark = pytest.mark.integration

REDIS_DB = 9  # the due set and the lease are global: a database of its own, emptied around each test
SHANGHAI = ZoneInfo("Asia/Shanghai")
CONFIG = TriggerConfig.load()  # Asia/Shanghai, quiet 21:00-09:00


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


def event(event_id: str, kind: str = "order.updated", at: datetime | None = None, **order: Any) -> OrderEvent:
    return parse_event(
        {
            "event_id": event_id,
            "type": kind,
            "occurred_at": (at or local(4, 10)).isoformat(),
            "order": {
                "id": "SO-12345678",
                "customer_id": "cust-1",
                "status": "shipped",
                "placed_at": local(1, 10).isoformat(),
                "promised_by": "2026-03-08",
                "carrier": "SF Express",
                "tracking_number": "SF1234567890",
                "language": "zh",
                **order,
            },
        }
    )


def refund(event_id: str = "e-refund", at: datetime | None = None) -> OrderEvent:
    return event(event_id, "refund.processed", at, refund_amount=25.5, currency="USD")


class Outbox:
    """The sender: keeps what it was given; fails while `failing` is set."""

    def __init__(self) -> None:
        self.sent: list[Proactive] = []
        self.failing = False

    async def send(self, message: Proactive) -> None:
        await asyncio.sleep(0)  # a real send awaits I/O: let a racing scheduler run in between
        if self.failing:
            raise ConnectionError("channel down")
        self.sent.append(message)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with own_database(redis_url, REDIS_DB) as client:
        yield client


@pytest.fixture
def store(redis: Redis) -> ProactiveStore:
    return ProactiveStore(redis)


def scheduler(store: ProactiveStore, outbox: Outbox, config: TriggerConfig = CONFIG) -> Scheduler:
    return Scheduler(store, config, outbox, clock=lambda: local(4, 12))


# -- recording events --------------------------------------------------------------------------------


async def test_a_replayed_event_id_changes_nothing(store: ProactiveStore, redis: Redis) -> None:
    assert await store.record(refund(), now=local(4, 10)) is True
    before = await store.state("SO-12345678")
    due_before = await store.due_at("SO-12345678")
    assert before is not None and [n.event_id for n in before.notices] == ["e-refund"]
    # the same id again, with other content and later: refused, and nothing moves
    replay = event("e-refund", "order.updated", at=local(5, 10), status="delivered")
    assert await store.record(replay, now=local(5, 11)) is False
    assert await store.state("SO-12345678") == before
    assert await store.due_at("SO-12345678") == due_before == local(4, 10)
    assert 0 < await redis.ttl(event_key("e-refund")) <= 7 * 86400


async def test_only_a_newer_event_replaces_the_snapshot(store: ProactiveStore) -> None:
    await store.record(event("e-2", at=local(4, 11), status="delivered"), now=local(4, 12))
    # an older event arriving late still counts as news, but does not turn the order back
    await store.record(event("e-1", "return.received", at=local(4, 10)), now=local(4, 12))
    state = await store.state("SO-12345678")
    assert state is not None and state.order.status.value == "delivered" and state.event_id == "e-2"
    assert [(n.trigger, n.event_id) for n in state.notices] == [(Trigger.RETURN_RECEIVED, "e-1")]


async def test_an_event_recorded_during_a_run_is_not_rescheduled_away(store: ProactiveStore) -> None:
    await store.record(event("e-1"), now=local(4, 10))
    [claim] = await store.claim_due(local(4, 10), limit=10, hold_seconds=300)
    assert await store.claim_due(local(4, 10), limit=10, hold_seconds=300) == []  # held
    await store.record(refund(), now=local(4, 10, 1))
    assert await store.reschedule(claim, None) is False  # the run read the state before the refund
    assert await store.due_at("SO-12345678") == local(4, 10, 1)


# -- sending -----------------------------------------------------------------------------------------


async def test_a_refund_is_told_once_in_the_customers_language(store: ProactiveStore) -> None:
    outbox = Outbox()
    await store.record(refund(), now=local(4, 10))
    [message] = await scheduler(store, outbox).run_once(local(4, 12))
    assert outbox.sent == [message]
    assert message.trigger is Trigger.REFUND_PROCESSED and message.language == "zh"
    assert message.customer_id == "cust-1" and message.event_id == "e-refund"
    assert "SO-12345678" in message.text and "25.50 USD" in message.text and "退款" in message.text
    assert message.channels == ("web", "telegram", "email")
    [logged] = await store.sent_log()
    assert logged["key"] == "refund_processed:e-refund" and logged["customer_id"] == "cust-1"
    assert await scheduler(store, outbox).run_once(local(5, 12)) == []  # never again
    state = await store.state("SO-12345678")
    assert state is not None and state.notices == () and "refund_processed:e-refund" in state.done


async def test_two_schedulers_racing_on_a_due_order_send_once(store: ProactiveStore) -> None:
    outbox = Outbox()
    await store.record(refund(), now=local(4, 10))
    results = await asyncio.gather(*(scheduler(store, outbox).run_once(local(4, 12)) for _ in range(2)))
    assert sorted(len(r) for r in results) == [0, 1] and len(outbox.sent) == 1


class NoHoldStore(ProactiveStore):
    """Hands every due order to every caller, as when a claim ran out while its run was still sending."""

    async def claim_due(self, now: datetime, limit: int, hold_seconds: float) -> list[Claim]:
        due = await self._redis.zrangebyscore(due_key(), "-inf", int(now.timestamp() * 1000), withscores=True)
        return [Claim(order_id, int(score)) for order_id, score in due]


async def test_the_daily_guard_holds_when_two_runs_evaluate_the_same_order(redis: Redis) -> None:
    store = NoHoldStore(redis)
    outbox = Outbox()
    await store.record(refund(), now=local(4, 10))
    await store.record(event("e-return", "return.received", at=local(4, 10, 30)), now=local(4, 10))
    runs = [scheduler(store, outbox).run_once(local(4, 12)) for _ in range(3)]
    await asyncio.gather(*runs)
    assert [m.trigger for m in outbox.sent] == [Trigger.REFUND_PROCESSED]


async def test_one_message_per_order_per_day_the_rest_waits_for_tomorrow(store: ProactiveStore) -> None:
    outbox = Outbox()
    await store.record(refund(), now=local(4, 10))
    await scheduler(store, outbox).run_once(local(4, 12))
    await store.record(event("e-return", "return.received", at=local(4, 15)), now=local(4, 15))
    assert await scheduler(store, outbox).run_once(local(4, 15)) == []
    assert await store.due_at("SO-12345678") == local(5, 9)  # midnight is in quiet hours
    [message] = await scheduler(store, outbox).run_once(local(5, 9))
    assert message.trigger is Trigger.RETURN_RECEIVED and len(outbox.sent) == 2


async def test_quiet_hours_postpone_to_their_end(store: ProactiveStore) -> None:
    outbox = Outbox()
    await store.record(refund(at=local(4, 22)), now=local(4, 22))
    assert await scheduler(store, outbox).run_once(local(4, 22)) == []
    assert await store.due_at("SO-12345678") == local(5, 9)
    assert await scheduler(store, outbox).run_once(local(5, 8, 59)) == []  # not due yet
    [message] = await scheduler(store, outbox).run_once(local(5, 9))
    assert message.event_id == "e-refund" and len(outbox.sent) == 1


async def test_an_opted_out_customer_is_not_told_and_the_news_is_settled(store: ProactiveStore) -> None:
    outbox = Outbox()
    await store.opt_out("cust-1")
    await store.record(refund(), now=local(4, 10))
    assert await scheduler(store, outbox).run_once(local(4, 12)) == [] and outbox.sent == []
    # only the late-shipment check remains: 06:00 after the promised day, in quiet hours until 09:00
    assert await store.due_at("SO-12345678") == local(9, 9)
    # opting back in does not bring the old news back, but new news is told
    await store.opt_in("cust-1")
    assert await store.opted_out("cust-1") is False
    await store.record(event("e-return", "return.received", at=local(5, 10)), now=local(5, 10))
    [message] = await scheduler(store, outbox).run_once(local(5, 12))
    assert message.trigger is Trigger.RETURN_RECEIVED


async def test_an_order_without_a_customer_sends_nothing(store: ProactiveStore) -> None:
    outbox = Outbox()
    await store.record(event("e-1", "return.received", customer_id=None), now=local(4, 10))
    assert await scheduler(store, outbox).run_once(local(4, 12)) == []
    state = await store.state("SO-12345678")
    assert state is not None and state.notices == () and "return_received:e-1" in state.done


async def test_a_failed_send_is_tried_again_later(store: ProactiveStore) -> None:
    outbox = Outbox()
    outbox.failing = True
    await store.record(refund(), now=local(4, 10))
    assert await scheduler(store, outbox).run_once(local(4, 12)) == []
    retry = local(4, 12) + timedelta(seconds=CONFIG.scheduler.retry_seconds)
    assert await store.due_at("SO-12345678") == retry
    outbox.failing = False
    [message] = await scheduler(store, outbox).run_once(retry)  # the day was given back
    assert message.trigger is Trigger.REFUND_PROCESSED


async def test_time_triggers_are_checked_when_they_fall_due(store: ProactiveStore) -> None:
    outbox = Outbox()
    placed = local(4, 10)
    await store.record(
        event("e-1", at=placed, status="processing", placed_at=placed.isoformat(), promised_by="2026-03-10"),
        now=placed,
    )
    assert await scheduler(store, outbox).run_once(local(4, 11)) == []
    assert await store.due_at("SO-12345678") == local(6, 10)  # 48 hours after it was placed
    [stuck] = await scheduler(store, outbox).run_once(local(6, 10))
    assert stuck.trigger is Trigger.STUCK_PROCESSING
    assert await store.due_at("SO-12345678") == local(11, 9)  # 06:00 late, then quiet until 09:00
    [late] = await scheduler(store, outbox).run_once(local(11, 9))
    assert late.trigger is Trigger.LATE_SHIPMENT and "3月10日" in late.text
    assert await store.due_at("SO-12345678") is None  # nothing left that could fire


async def test_a_forgotten_order_leaves_the_due_set(store: ProactiveStore, redis: Redis) -> None:
    await store.record(event("e-1"), now=local(4, 10))
    await redis.delete(order_key("SO-12345678"))
    assert await scheduler(store, Outbox()).run_once(local(4, 12)) == []
    assert await store.due_at("SO-12345678") is None


# -- the lease ---------------------------------------------------------------------------------------


async def test_the_lease_has_one_holder_at_a_time(store: ProactiveStore) -> None:
    assert await store.hold_lease("worker-a", 60) is True
    assert await store.hold_lease("worker-b", 60) is False
    assert await store.hold_lease("worker-a", 60) is True  # renewed
    await store.release_lease("worker-b")  # not theirs: no effect
    assert await store.lease_holder() == "worker-a"
    await store.release_lease("worker-a")
    assert await store.hold_lease("worker-b", 60) is True


async def test_two_workers_running_the_loop_send_once_and_give_the_lease_back(store: ProactiveStore) -> None:
    outbox = Outbox()
    await store.record(refund(), now=local(4, 10))
    stopping = asyncio.Event()
    workers = [scheduler(store, outbox) for _ in range(2)]
    tasks = [asyncio.create_task(worker.run(stopping)) for worker in workers]
    for _ in range(200):
        if outbox.sent:
            break
        await asyncio.sleep(0.01)
    holder = await store.lease_holder()
    assert holder in {worker.holder for worker in workers}
    stopping.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert len(outbox.sent) == 1 and await store.lease_holder() is None


async def test_run_once_refuses_a_naive_time(store: ProactiveStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await scheduler(store, Outbox()).run_once(datetime(2026, 3, 4, 12))
    assert datetime(2026, 3, 4, 4, tzinfo=UTC) == local(4, 12)
