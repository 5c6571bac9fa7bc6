"""The proactive scheduler: takes due orders, decides what to tell whom, and hands the message to a sender.

One worker in the cluster runs it (a Redis lease, renewed while it runs). Even so, each step is safe with
two of them: claiming a due order moves it out of reach of other runs, and the per-(order, day) guard is
taken in the same step that marks the firing sent, so a message goes out at most once. A failed send
gives the day back and is tried again later; a worker that dies between the guard and the send loses
that one message rather than ever sending it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from handoff.proactive.rules import aware, local_day, next_day_start
from handoff.proactive.store import Claim, ProactiveStore
from handoff.proactive.triggers import (
    Firing,
    OrderState,
    Trigger,
    TriggerConfig,
    due,
    message_values,
    next_check,
    stale_notices,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proactive:
    """One proactive message for the hub to deliver on the customer's channel."""

    order_id: str
    customer_id: str
    trigger: Trigger
    language: str
    text: str
    event_id: str  # the event behind it; with `trigger`, a stable id for the delivery
    channels: tuple[str, ...] = ()  # the trigger's channel preference, best first
    email: str | None = None  # from the order, for the email channel


class Sender(Protocol):
    async def send(self, message: Proactive) -> None:
        """Deliver `message`, or raise: the scheduler then tries again after `retry_seconds`."""


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _first_of(stopping: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class Scheduler:
    def __init__(
        self,
        store: ProactiveStore,
        config: TriggerConfig,
        sender: Sender,
        clock: Callable[[], datetime] = utc_now,
        holder: str | None = None,
    ) -> None:
        self._store = store
        self._config = config
        self._sender = sender
        self._clock = clock
        self.holder = holder or uuid.uuid4().hex  # this worker's name on the lease

    async def run(self, stopping: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Every `interval_seconds` until `stopping` is set, or sooner when `wake` is set (an order event
        came in): run once while this worker holds the lease. A failed run is logged and the next one
        comes on time; the lease is given up on the way out."""
        settings = self._config.scheduler
        wake = wake or asyncio.Event()
        try:
            while not stopping.is_set():
                wake.clear()
                try:
                    if await self._store.hold_lease(self.holder, settings.lease_seconds):
                        async with self._heartbeat():
                            await self.run_once(self._clock())
                except Exception:
                    if not stopping.is_set():
                        logger.exception("hub.proactive.run_failed")
                await _first_of(stopping, wake, settings.interval_seconds)
        finally:
            with contextlib.suppress(Exception):
                await self._store.release_lease(self.holder)

    @contextlib.asynccontextmanager
    async def _heartbeat(self) -> AsyncIterator[None]:
        """Keeps the lease while a long run (many sends) is under way."""
        seconds = self._config.scheduler.lease_seconds

        async def beat() -> None:
            while True:
                await asyncio.sleep(seconds / 3)
                with contextlib.suppress(Exception):  # a Redis hiccup: the next beat tries again
                    if not await self._store.hold_lease(self.holder, seconds):
                        logger.warning("hub.proactive.lease_lost", extra={"holder": self.holder})

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self, now: datetime) -> list[Proactive]:
        """Look at every order due at `now`; the messages sent."""
        now = aware(now)
        settings = self._config.scheduler
        sent = []
        for claim in await self._store.claim_due(now, settings.batch_size, settings.claim_seconds):
            try:
                message = await self._handle(claim, now)
            except Exception:
                logger.exception("hub.proactive.order_failed", extra={"order_id": claim.order_id})
                continue  # the claim runs out and the order is looked at again
            if message is not None:
                sent.append(message)
        return sent

    async def _handle(self, claim: Claim, now: datetime) -> Proactive | None:
        state = await self._store.state(claim.order_id)
        if state is None:  # forgotten (expired): nothing left to tell
            await self._store.reschedule(claim, None)
            return None
        stale = stale_notices(state, now, self._config)
        if stale:
            await self._store.drop_notices(claim.order_id, [notice.event_id for notice in stale])
            state = replace(state, notices=tuple(n for n in state.notices if n not in stale))
        firings = due(state, now, self._config)
        if not firings:
            await self._store.reschedule(claim, self._after(next_check(state, self._config), now))
            return None
        customer_id = state.order.customer_id
        if customer_id is None or await self._store.opted_out(customer_id):
            # nobody to tell, or they asked not to be told: these firings are settled, not postponed
            reason = "no_customer" if customer_id is None else "opted_out"
            await self._settle(claim, state, firings, now, reason)
            return None
        release = self._config.release_time(now)
        if release > now:
            await self._store.reschedule(claim, release)
            return None
        return await self._send(claim, state, firings, customer_id, now)

    async def _settle(
        self, claim: Claim, state: OrderState, firings: list[Firing], now: datetime, reason: str
    ) -> None:
        keys = [key for firing in firings for key in (firing.key, *firing.covers)]
        await self._store.mark_done(claim.order_id, keys)
        settled_notices = [notice for notice in state.notices if notice.key in keys]
        await self._store.drop_notices(claim.order_id, [notice.event_id for notice in settled_notices])
        logger.info("hub.proactive.suppressed", extra={"order_id": claim.order_id, "reason": reason})
        settled = replace(
            state,
            done=state.done | set(keys),
            notices=tuple(n for n in state.notices if n not in settled_notices),
        )
        await self._store.reschedule(claim, self._after(next_check(settled, self._config), now))

    async def _send(
        self, claim: Claim, state: OrderState, firings: list[Firing], customer_id: str, now: datetime
    ) -> Proactive | None:
        firing = firings[0]
        day = local_day(now, self._config.timezone)
        tomorrow = self._config.release_time(next_day_start(now, self._config.timezone))
        token = await self._store.claim_send(firing, day)
        if token is None:  # this order had its message today
            await self._store.reschedule(claim, tomorrow)
            return None
        message = self.compose(firing, customer_id)
        try:
            await self._sender.send(message)
        except Exception:
            logger.exception("hub.proactive.send_failed", extra={"order_id": claim.order_id})
            await self._store.undo_send(firing, day, token)
            await self._store.reschedule(claim, now + timedelta(seconds=self._config.scheduler.retry_seconds))
            return None
        await self._store.log_sent(
            {
                "order_id": message.order_id,
                "customer_id": message.customer_id,
                "trigger": message.trigger.value,
                "key": firing.key,
                "event_id": message.event_id,
                "language": message.language,
                "at": now.isoformat(),
            }
        )
        extra = {"order_id": message.order_id, "trigger": message.trigger.value, "event_id": message.event_id}
        logger.info("hub.proactive.sent", extra=extra)
        sent_keys = {firing.key, *firing.covers}
        if any(notice.key == firing.key for notice in state.notices):
            await self._store.drop_notices(claim.order_id, [firing.event_id])
        after = replace(
            state,
            done=state.done | sent_keys,
            notices=tuple(n for n in state.notices if n.key not in sent_keys),
        )
        later = self._after(next_check(after, self._config), now)
        # anything else due today waits for tomorrow's message
        await self._store.reschedule(claim, None if later is None else max(later, tomorrow))
        return message

    def compose(self, firing: Firing, customer_id: str) -> Proactive:
        settings = self._config.triggers[firing.trigger]
        language = self._config.language_for(firing.order)
        text = settings.texts.render(
            language, message_values(firing.order, language), self._config.default_language
        )
        return Proactive(
            order_id=firing.order.id,
            customer_id=customer_id,
            trigger=firing.trigger,
            language=language,
            text=text,
            event_id=firing.event_id,
            channels=settings.channels,
            email=firing.order.email,
        )

    def _after(self, at: datetime | None, now: datetime) -> datetime | None:
        """A next check no earlier than `now`, moved out of quiet hours."""
        return None if at is None else self._config.release_time(max(at, now))
