"""Redis storage of the proactive service; every key is under `hub:proactive:`.

- `event:<event id>`: an event id seen in the last seven days (SET NX: a replay is refused, changes nothing)
- `order:<id>`: hash with the latest snapshot (`state`, JSON) and its `occurred_us`; an older event's
  snapshot never replaces a newer one (events can arrive out of order)
- `order:<id>:notices`: hash event id → pending event trigger (JSON, with the order as that event had it)
- `order:<id>:done`: set of firing keys already sent (or suppressed by an opt-out)
- `due`: sorted set of order ids scored by when to look at them next (epoch milliseconds)
- `opted_out`: set of customer ids who want no proactive messages
- `sent:<order id>:<local day>`: the once-per-order-per-day guard (SET NX)
- `sent`: stream of what was sent; `lease`: which worker runs the scheduler

Each change that must be all-or-nothing is one Lua script: a crash never leaves an event id claimed
without its snapshot, or a day used without the firing marked as sent.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from handoff.proactive.events import OrderEvent, parse_order
from handoff.proactive.rules import aware
from handoff.proactive.triggers import EVENT_TRIGGERS, Firing, Notice, OrderState, Trigger

PREFIX = "hub:proactive"
EVENT_TTL_SECONDS = 7 * 86400  # how long a replayed event id is recognised
ORDER_TTL_SECONDS = 90 * 86400  # an order without events for this long is forgotten
DAY_KEY_TTL_SECONDS = 2 * 86400  # outlives any local day in any time zone
SENT_LOG_KEEP = 100_000


def event_key(event_id: str) -> str:
    return f"{PREFIX}:event:{event_id}"


def order_key(order_id: str) -> str:
    return f"{PREFIX}:order:{order_id}"


def notices_key(order_id: str) -> str:
    return f"{PREFIX}:order:{order_id}:notices"


def done_key(order_id: str) -> str:
    return f"{PREFIX}:order:{order_id}:done"


def due_key() -> str:
    return f"{PREFIX}:due"


def opted_out_key() -> str:
    return f"{PREFIX}:opted_out"


def sent_today_key(order_id: str, day: date) -> str:
    return f"{PREFIX}:sent:{order_id}:{day.isoformat()}"


def sent_log_key() -> str:
    return f"{PREFIX}:sent"


def lease_key() -> str:
    return f"{PREFIX}:lease"


# KEYS: event, order, notices, due, done. ARGV: order id, event ttl ms, occurred_us, state JSON,
# notice event id ('' for none), notice JSON, due score ms, order ttl s.
_RECORD = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local current = redis.call('HGET', KEYS[2], 'occurred_us')
if not current or tonumber(current) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[2], 'occurred_us', ARGV[3], 'state', ARGV[4])
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[3], ARGV[5], ARGV[6]) end
redis.call('ZADD', KEYS[4], 'LT', ARGV[7], ARGV[1])
for i = 2, 3 do redis.call('EXPIRE', KEYS[i], ARGV[8]) end
redis.call('EXPIRE', KEYS[5], ARGV[8])
return 1
"""
# KEYS: due. ARGV: now ms, held-until ms, limit. Moves what is due to held-until, so a second claimer (or
# the next run) does not take it, and a run that dies leaves it to be looked at again then.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""
# KEYS: due. ARGV: order id, claimed score, next score ('' to remove). Only while the claim stands: an
# event recorded meanwhile moved the order forward, and its check must not be undone.
_RESCHEDULE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1])
else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
"""
# KEYS: day guard, done. ARGV: token, guard ttl ms, order ttl s, firing keys...
_CLAIM_SEND = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
for i = 4, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""
# KEYS: day guard, done. ARGV: token, firing keys...
_UNDO_SEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 2, #ARGV do redis.call('SREM', KEYS[2], ARGV[i]) end
return 1
"""
# KEYS: lease. ARGV: holder, ttl ms. Renews the holder's lease, or takes a free one.
_HOLD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _ms(moment: datetime) -> int:
    return int(aware(moment).timestamp() * 1000)


def _from_ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


@dataclass(frozen=True)
class Claim:
    """A due order taken by one scheduler run; `score` identifies the claim when it is rescheduled."""

    order_id: str
    score: int


class ProactiveStore:
    """The proactive service's state in Redis. `redis` is a redis.asyncio client with
    decode_responses=True, as the hub's."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis

    # -- events ------------------------------------------------------------------------------------

    async def record(self, event: OrderEvent, now: datetime) -> bool:
        """Store `event` once: False (and nothing changed) when its id was seen in the last seven days.
        The order's snapshot is replaced only by a newer one; an event trigger becomes a pending notice;
        the order is due for a look at `now`."""
        trigger = EVENT_TRIGGERS.get(event.type)
        state = {
            "event_id": event.event_id,
            "occurred_at": event.occurred_at.isoformat(),
            "order": event.order.as_dict(),
        }
        notice = {**state, "trigger": trigger.value} if trigger else None
        order_id = event.order.id
        keys = [event_key(event.event_id), order_key(order_id), notices_key(order_id)]
        keys += [due_key(), done_key(order_id)]
        args = [
            order_id,
            EVENT_TTL_SECONDS * 1000,
            int(event.occurred_at.timestamp() * 1_000_000),
            json.dumps(state, ensure_ascii=False),
            "" if trigger is None else event.event_id,
            "" if notice is None else json.dumps(notice, ensure_ascii=False),
            _ms(now),
            ORDER_TTL_SECONDS,
        ]
        return bool(await self._redis.eval(_RECORD, len(keys), *keys, *args))

    async def state(self, order_id: str) -> OrderState | None:
        """What is known of the order, or None when no event about it is kept."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(order_key(order_id), "state")
            pipe.hgetall(notices_key(order_id))
            pipe.smembers(done_key(order_id))
            raw, notices, done = await pipe.execute()
        if not raw:
            return None
        latest = json.loads(raw)
        parsed = []
        for value in notices.values():
            item = json.loads(value)
            parsed.append(
                Notice(
                    Trigger(item["trigger"]),
                    item["event_id"],
                    datetime.fromisoformat(item["occurred_at"]),
                    parse_order(item["order"]),
                )
            )
        return OrderState(
            order=parse_order(latest["order"]),
            event_id=latest["event_id"],
            occurred_at=datetime.fromisoformat(latest["occurred_at"]),
            notices=tuple(sorted(parsed, key=lambda n: n.occurred_at)),
            done=frozenset(done),
        )

    async def drop_notices(self, order_id: str, event_ids: list[str]) -> None:
        if event_ids:
            await self._redis.hdel(notices_key(order_id), *event_ids)

    async def mark_done(self, order_id: str, firing_keys: list[str]) -> None:
        """Firings that will not be sent (the customer opted out, or there is nobody to tell)."""
        if firing_keys:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.sadd(done_key(order_id), *firing_keys)
                pipe.expire(done_key(order_id), ORDER_TTL_SECONDS)
                await pipe.execute()

    # -- the due set ---------------------------------------------------------------------------------

    async def claim_due(self, now: datetime, limit: int, hold_seconds: float) -> list[Claim]:
        """Up to `limit` orders due at `now`, held for `hold_seconds` so no other run takes them."""
        held_until = _ms(now) + int(hold_seconds * 1000)
        ids = await self._redis.eval(_CLAIM, 1, due_key(), _ms(now), held_until, limit)
        return [Claim(str(order_id), held_until) for order_id in ids]

    async def reschedule(self, claim: Claim, at: datetime | None) -> bool:
        """Look at the order again at `at` (never when None); False when an event moved it meanwhile."""
        score = "" if at is None else str(_ms(at))
        return bool(await self._redis.eval(_RESCHEDULE, 1, due_key(), claim.order_id, claim.score, score))

    async def due_at(self, order_id: str) -> datetime | None:
        score = await self._redis.zscore(due_key(), order_id)
        return None if score is None else _from_ms(float(score))

    # -- sending -------------------------------------------------------------------------------------

    async def claim_send(self, firing: Firing, day: date) -> str | None:
        """The order's message for `day` (the store's local day), taken for `firing`: its key and those it
        covers are marked sent in the same step. A token to undo it with, or None when the order has had
        its message that day."""
        token = uuid.uuid4().hex
        keys = [sent_today_key(firing.order.id, day), done_key(firing.order.id)]
        args = [token, DAY_KEY_TTL_SECONDS * 1000, ORDER_TTL_SECONDS, firing.key, *firing.covers]
        taken = await self._redis.eval(_CLAIM_SEND, len(keys), *keys, *args)
        return token if taken else None

    async def undo_send(self, firing: Firing, day: date, token: str) -> None:
        """Gives the day back after a failed send, so the firing is tried again."""
        keys = [sent_today_key(firing.order.id, day), done_key(firing.order.id)]
        await self._redis.eval(_UNDO_SEND, len(keys), *keys, token, firing.key, *firing.covers)

    async def log_sent(self, fields: dict[str, str]) -> None:
        await self._redis.xadd(sent_log_key(), fields, maxlen=SENT_LOG_KEEP, approximate=True)

    async def sent_log(self, count: int = 100) -> list[dict[str, str]]:
        """The latest entries of the sent log, newest first."""
        return [dict(fields) for _, fields in await self._redis.xrevrange(sent_log_key(), count=count)]

    # -- opt-out -------------------------------------------------------------------------------------

    async def opt_out(self, customer_id: str) -> None:
        await self._redis.sadd(opted_out_key(), customer_id)

    async def opt_in(self, customer_id: str) -> None:
        await self._redis.srem(opted_out_key(), customer_id)

    async def opted_out(self, customer_id: str) -> bool:
        return bool(await self._redis.sismember(opted_out_key(), customer_id))

    # -- the scheduler's lease -----------------------------------------------------------------------

    async def hold_lease(self, holder: str, seconds: float) -> bool:
        """Renew `holder`'s lease or take a free one; False while another worker holds it."""
        return bool(await self._redis.eval(_HOLD, 1, lease_key(), holder, int(seconds * 1000)))

    async def release_lease(self, holder: str) -> None:
        await self._redis.eval(_RELEASE, 1, lease_key(), holder)

    async def lease_holder(self) -> str | None:
        holder = await self._redis.get(lease_key())
        return None if holder is None else str(holder)
