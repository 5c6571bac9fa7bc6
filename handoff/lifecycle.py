"""What happens to a handoff besides routing it: withdrawing it, the periodic sweep (offer timeouts,
overflow, the tickets that keep a case nobody can take now) and the events consoles and widgets follow.

Handlers call one method each; every worker runs the sweeper, and the routing scripts and the tickets'
once-per-handoff keys make concurrent sweeps harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from handoff import keys, service_level
from handoff.analytics.feed import AnalyticsFeed, fact
from handoff.hub import Hub
from handoff.notices import notice
from handoff.routing.engine import RoutingEngine
from handoff.tickets.model import AutoReason
from handoff.tickets.store import TicketStore

logger = logging.getLogger(__name__)

OUT_OF_HOURS_BATCH = 1000  # waiting conversations ticketed per set and sweep
TICKET_OFFERED = "ticket_offered"  # conversation field: the customer was told their case is a ticket


class HandoffLifecycle:
    def __init__(
        self,
        engine: RoutingEngine,
        hub: Hub,
        tickets: TicketStore,
        redis: Redis,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._hub = hub
        self._tickets = tickets
        self._redis = redis
        self._clock = clock
        self.analytics: AnalyticsFeed | None = None  # set when the analytical store is on

    # -- one conversation ----------------------------------------------------------------------------

    async def withdraw(self, conversation_id: str, waiting_only: bool = False) -> tuple[str, str | None]:
        """End routing for a conversation (the customer left, or the case was solved elsewhere): the
        previous owner, and the ticket that keeps the case when nobody had answered yet (a miss for the
        service level; the customer is told its number). `waiting_only` refuses (RoutingError) once an
        agent holds the chat."""
        queued_at = (await self._hub.fields(conversation_id, "queued_at"))["queued_at"]
        previous, _holder = await self._engine.release(conversation_id, None, "closed", waiting_only)
        if previous not in ("queued", "offered"):
            return previous, None
        wait = await service_level.record_abandoned(self._redis, conversation_id, "customer_left", queued_at)
        if self.analytics is not None and wait is not None:
            await self.analytics.emit(fact("abandoned", conversation_id, reason="customer_left", wait=wait))
        ticket, created = await self._tickets.create_auto(conversation_id, AutoReason.CUSTOMER_LEFT)
        if created:
            language = await self._hub.language(conversation_id)
            await self._hub.system_notice(conversation_id, notice("left_queue", language, ticket=ticket.id))
        return previous, ticket.id

    async def answered(self, conversation_id: str, agent_id: str | None = None) -> None:
        """An agent accepted the offer: the wait counts for the service level (once per handoff)."""
        wait = await service_level.record_answered(self._redis, conversation_id)
        if self.analytics is not None and wait is not None:
            await self.analytics.emit(fact("accepted", conversation_id, agent_id=agent_id, wait=wait))

    async def transferred_away(
        self,
        conversation_id: str,
        holder: str | None,
        to_agent: str | None = None,
        to_queue: str | None = None,
    ) -> None:
        """Tells the previous holder's consoles a transferred chat has left them (the engine's own release,
        used by resolve and return to bot, announces itself)."""
        if self.analytics is not None:
            entry = fact("transfer", conversation_id, from_agent=holder, to_agent=to_agent, to_queue=to_queue)
            await self.analytics.emit(entry)
        if holder:
            event = {"type": "released", "conversation_id": conversation_id, "agent_id": holder}
            await self._publish(keys.routing_events(), event)

    async def agent_typing(self, conversation_id: str, agent_id: str | None) -> None:
        """Shows "typing…" in the customer's widget; live only, never stored."""
        event = {
            "type": "typing",
            "conversation_id": conversation_id,
            "author": "agent",
            "agent_id": agent_id,
        }
        await self._publish(keys.live_events(), event)

    async def customer_typing(self, conversation_id: str) -> None:
        """Shows "typing…" to the agent on the conversation; live only, never stored."""
        event = {"type": "typing", "conversation_id": conversation_id, "author": "customer"}
        await self._publish(keys.live_events(), event)

    async def _publish(self, channel: str, event: dict[str, Any]) -> None:
        await self._redis.publish(channel, json.dumps(event))

    # -- the sweeper ---------------------------------------------------------------------------------

    async def run_sweeper(self, interval: float, stopping: asyncio.Event) -> None:
        await sweep_forever(self.sweep_once, interval, stopping)

    async def sweep_once(self) -> None:
        """Offer timeouts and overflow; a case nobody was free for in time becomes a ticket at once, so it
        survives the customer leaving (the conversation keeps its place if they choose to wait)."""
        result = await self._engine.sweep()
        for conversation_id in result.tickets:
            ticket, created = await self._tickets.create_auto(conversation_id, AutoReason.NOBODY_AVAILABLE)
            if created:
                await self._hub.offer_ticket(conversation_id, ticket.id)
        await self.ticket_out_of_hours()

    async def ticket_out_of_hours(self) -> None:
        """Outside opening hours every waiting handoff becomes a ticket once, and its customer is told."""
        hours = self._engine.config.hours
        if hours is None or hours.is_open(self._clock()):
            return
        for waiting_set in (keys.waiting(), keys.waiting_widened()):
            # Ticketed ones stay in the waiting sets (they keep their place), so skip them, not stop at them.
            for conversation_id in await self._not_yet_ticketed(waiting_set):
                ticket, created = await self._tickets.create_auto(conversation_id, AutoReason.OUT_OF_HOURS)
                await self._redis.hset(keys.conversation(conversation_id), TICKET_OFFERED, "1")
                if created:  # create_auto decides which worker tells the customer
                    await self._hub.offer_ticket(conversation_id, ticket.id, out_of_hours=True)

    async def _not_yet_ticketed(self, waiting_set: str) -> list[str]:
        redis: Any = self._redis  # decode_responses: members are str, which redis-py cannot type
        waiting = await redis.zrange(waiting_set, 0, OUT_OF_HOURS_BATCH - 1)
        async with redis.pipeline(transaction=False) as pipe:
            for conversation_id in waiting:
                pipe.hget(keys.conversation(conversation_id), TICKET_OFFERED)
            offered = await pipe.execute()
        return [cid for cid, done in zip(waiting, offered, strict=True) if done != "1"]


async def sweep_forever(
    sweep: Callable[[], Awaitable[object]], interval: float, stopping: asyncio.Event | None = None
) -> None:
    """`sweep` every `interval` seconds until `stopping` is set; a failed sweep is logged and the next one
    runs on time."""
    stopping = stopping or asyncio.Event()
    while not stopping.is_set():
        try:
            await sweep()
        except Exception:
            if not stopping.is_set():
                logger.exception("hub.routing.sweep_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
