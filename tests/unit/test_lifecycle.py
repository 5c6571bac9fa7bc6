"""The handoff lifecycle (handoff/lifecycle.py): withdrawing, the sweeper and its tickets, live events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from handoff import keys
from handoff.bot_client import BotReply
from handoff.conversations import Owner
from handoff.hub import Hub
from handoff.lifecycle import HandoffLifecycle, sweep_forever
from handoff.notices import notice
from handoff.routing.config import Hours
from handoff.routing.engine import RoutingError
from handoff.tickets.model import AutoReason
from handoff.transcript import InMemoryTranscriptStore
from tests.unit.fakes import Conversations, FakeRouting, FakeTickets, MemoryRedis

TUESDAY_NIGHT = 1_700_000_000.0  # 2023-11-14 22:13 UTC
MONDAY_MORNING = 1_699_867_800.0  # 2023-11-13 09:30 UTC
MONDAY_NINE_TO_TEN = Hours("UTC", {0: ((540, 600),)})


class QuietBot:
    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        return []

    async def resume(self, sender: str, intent: str | None) -> list[BotReply]:
        return []


@dataclass
class World:
    lifecycle: HandoffLifecycle
    routing: FakeRouting
    conversations: Conversations
    transcripts: InMemoryTranscriptStore
    tickets: FakeTickets
    redis: MemoryRedis

    def waiting(
        self, conversation_id: str, owner: Owner = Owner.QUEUED, queued_at: str = "1699999900.0"
    ) -> None:
        self.routing.owners[conversation_id] = owner.value
        self.conversations.owners[conversation_id] = owner
        self.conversations.fields[conversation_id] = {"queued_at": queued_at, "language": "en"}

    async def told(self, conversation_id: str) -> list[str]:
        """What the customer was told by the service (system messages they see)."""
        return [m.text for m in await self.transcripts.read(conversation_id) if m.author == "system"]

    def service_level(self) -> list[dict[str, str]]:
        return self.redis.streams.get(keys.service_level_events(), [])


def make_world(hours: Hours | None = None, now: float = TUESDAY_NIGHT) -> World:
    routing, conversations = FakeRouting(hours), Conversations()
    transcripts, tickets, redis = InMemoryTranscriptStore(), FakeTickets(), MemoryRedis()
    hub = Hub(transcripts, conversations, QuietBot(), conversations)
    lifecycle = HandoffLifecycle(routing, hub, tickets, redis, clock=lambda: now)  # type: ignore[arg-type]
    return World(lifecycle, routing, conversations, transcripts, tickets, redis)


# -- withdrawing -----------------------------------------------------------------------------------


async def test_a_customer_who_leaves_the_queue_is_a_miss_and_their_case_a_ticket_they_are_told_of() -> None:
    world = make_world()
    world.waiting("c1")
    previous, ticket_id = await world.lifecycle.withdraw("c1")
    assert (previous, ticket_id) == ("queued", "T-000001")
    assert world.routing.owners["c1"] == "closed"
    assert [(t.conversation_id, t.reason) for t in world.tickets.created] == [
        ("c1", AutoReason.CUSTOMER_LEFT)
    ]
    assert [(e["conversation_id"], e["outcome"], e["reason"]) for e in world.service_level()] == [
        ("c1", "abandoned", "customer_left")
    ]
    assert await world.told("c1") == [notice("left_queue", "en", ticket="T-000001")]


async def test_the_ticket_another_worker_made_is_returned_and_the_customer_told_only_once() -> None:
    world = make_world()
    world.waiting("c1", Owner.OFFERED)
    await world.tickets.create_auto("c1", AutoReason.NOBODY_AVAILABLE)
    assert await world.lifecycle.withdraw("c1") == ("offered", "T-000001")
    assert len(world.tickets.created) == 1
    assert await world.told("c1") == []


async def test_withdrawing_an_answered_chat_makes_no_ticket_and_counts_nothing() -> None:
    world = make_world()
    world.waiting("c1", Owner.AGENT)
    assert await world.lifecycle.withdraw("c1") == ("agent", None)
    assert world.tickets.created == [] and world.service_level() == []
    assert await world.told("c1") == []


async def test_a_waiting_only_withdrawal_leaves_an_agents_chat_alone() -> None:
    world = make_world()
    world.waiting("c1", Owner.AGENT)
    with pytest.raises(RoutingError, match="already with an agent"):
        await world.lifecycle.withdraw("c1", waiting_only=True)
    assert world.routing.owners["c1"] == "agent"
    assert world.tickets.created == [] and world.service_level() == []


async def test_an_accepted_offer_counts_its_wait_once() -> None:
    world = make_world()
    world.redis.hashes[keys.conversation("c1")] = {"queued_at": "100.0", "assigned_at": "112.5"}
    await world.lifecycle.answered("c1")
    await world.lifecycle.answered("c1")  # a second worker, or a repeated request
    assert world.service_level() == [{"conversation_id": "c1", "outcome": "answered", "wait": "12.500"}]


# -- live events -----------------------------------------------------------------------------------


async def test_a_transfer_tells_the_previous_holders_consoles_and_no_one_else() -> None:
    world = make_world()
    await world.lifecycle.transferred_away("c1", "ann")
    await world.lifecycle.transferred_away("c2", None)  # nobody held it (staff moved a waiting chat)
    assert world.redis.published == [
        (keys.routing_events(), {"type": "released", "conversation_id": "c1", "agent_id": "ann"})
    ]


async def test_an_agent_typing_is_a_live_event_for_the_widget() -> None:
    world = make_world()
    await world.lifecycle.agent_typing("c1", "ann")
    event = {"type": "typing", "conversation_id": "c1", "author": "agent", "agent_id": "ann"}
    assert world.redis.published == [(keys.live_events(), event)]


# -- the sweeper -----------------------------------------------------------------------------------


async def test_a_sweep_makes_a_ticket_when_nobody_was_free_in_time_and_offers_it_once() -> None:
    world = make_world()
    world.waiting("c1")
    world.routing.due_tickets = ["c1"]
    await world.lifecycle.sweep_once()
    world.routing.due_tickets = ["c1"]  # another worker's sweep reports it too
    await world.lifecycle.sweep_once()
    assert [(t.conversation_id, t.reason) for t in world.tickets.created] == [
        ("c1", AutoReason.NOBODY_AVAILABLE)
    ]
    assert await world.told("c1") == [notice("ticket_offer", "en", ticket="T-000001")]


async def test_out_of_hours_every_waiting_handoff_becomes_a_ticket_once() -> None:
    world = make_world(MONDAY_NINE_TO_TEN, now=TUESDAY_NIGHT)
    for cid in ("early", "widened", "told"):
        world.waiting(cid)
    world.redis.sorted_sets[keys.waiting()] = {"early": 1.0, "told": 2.0}
    world.redis.sorted_sets[keys.waiting_widened()] = {"widened": 0.5}
    world.redis.hashes[keys.conversation("told")] = {"ticket_offered": "1"}  # the overflow ticket's customer
    await world.lifecycle.sweep_once()
    await world.lifecycle.sweep_once()
    assert [(t.conversation_id, t.reason) for t in world.tickets.created] == [
        ("early", AutoReason.OUT_OF_HOURS),
        ("widened", AutoReason.OUT_OF_HOURS),
    ]
    for cid, ticket_id in (("early", "T-000001"), ("widened", "T-000002")):
        assert world.redis.hashes[keys.conversation(cid)]["ticket_offered"] == "1"
        assert await world.told(cid) == [notice("out_of_hours", "en", ticket=ticket_id)]
    assert await world.told("told") == []
    assert world.routing.sweeps == 2


async def test_within_opening_hours_waiting_handoffs_keep_waiting() -> None:
    world = make_world(MONDAY_NINE_TO_TEN, now=MONDAY_MORNING)
    world.waiting("c1")
    world.redis.sorted_sets[keys.waiting()] = {"c1": 1.0}
    await world.lifecycle.sweep_once()
    assert world.tickets.created == [] and await world.told("c1") == []


async def test_the_sweeper_outlives_a_failed_sweep_and_ends_when_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = make_world()
    world.routing.failing_sweeps = 1
    stopping = asyncio.Event()
    task = asyncio.create_task(world.lifecycle.run_sweeper(0.01, stopping))
    for _ in range(200):
        if world.routing.sweeps >= 3:
            break
        await asyncio.sleep(0.01)
    stopping.set()
    await asyncio.wait_for(task, 1.0)
    assert world.routing.sweeps >= 3 and task.exception() is None
    assert [r.message for r in caplog.records] == ["hub.routing.sweep_failed"]


async def test_the_sweep_loop_runs_any_sweep_until_stopped() -> None:
    runs: list[float] = []
    stopping = asyncio.Event()

    async def sweep() -> None:
        runs.append(asyncio.get_running_loop().time())
        if len(runs) == 2:
            stopping.set()

    await asyncio.wait_for(sweep_forever(sweep, 0.01, stopping), 1.0)
    assert len(runs) == 2
