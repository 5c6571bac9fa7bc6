"""Service level: how quickly handoffs are answered. One Redis stream of outcomes; stream ids are
millisecond timestamps, so "the last hour" is one XRANGE without a separate time index."""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from handoff import keys

STREAM = keys.service_level_events()
KEEP = 100_000  # about a busy week; XADD trims approximately, which is O(1)
THRESHOLDS = (20, 60)


async def record_answered(redis: Redis, conversation_id: str) -> float | None:
    """After an accept: the wait from queueing to acceptance, once per handoff (a handoff is identified by
    its queued_at, so a re-offer or a second worker does not count it twice); the wait when counted."""
    r: Any = redis
    queued_at, assigned_at = await r.hmget(keys.conversation(conversation_id), "queued_at", "assigned_at")
    if not queued_at:
        return None
    if not await r.set(keys.service_level_seen(conversation_id, queued_at), "1", nx=True, ex=7 * 86400):
        return None
    wait = max(0.0, float(assigned_at or time.time()) - float(queued_at))
    await r.xadd(
        STREAM, {"conversation_id": conversation_id, "outcome": "answered", "wait": f"{wait:.3f}"},
        maxlen=KEEP, approximate=True,
    )  # fmt: skip
    return wait


async def record_abandoned(
    redis: Redis, conversation_id: str, reason: str, queued_at: str | None
) -> float | None:
    """A handoff that ended without an agent (customer left, nobody available): a miss for the level;
    the wait when counted."""
    if not queued_at:
        return None
    r: Any = redis
    if not await r.set(keys.service_level_seen(conversation_id, queued_at), "1", nx=True, ex=7 * 86400):
        return None
    wait = max(0.0, time.time() - float(queued_at))
    await r.xadd(
        STREAM,
        {"conversation_id": conversation_id, "outcome": "abandoned", "reason": reason, "wait": f"{wait:.3f}"},
        maxlen=KEEP, approximate=True,
    )  # fmt: skip
    return wait


async def summary(redis: Redis, window_seconds: int = 3600, now: float | None = None) -> dict[str, Any]:
    """Shares answered within 20 s and 60 s among handoffs that ended their wait in the window."""
    r: Any = redis
    start_ms = int(((now or time.time()) - window_seconds) * 1000)
    entries = await r.xrange(STREAM, min=f"{start_ms}", max="+")
    answered = [float(f["wait"]) for _, f in entries if f.get("outcome") == "answered"]
    abandoned = sum(1 for _, f in entries if f.get("outcome") == "abandoned")
    total = len(answered) + abandoned
    result: dict[str, Any] = {
        "window_seconds": window_seconds,
        "handoffs": total,
        "answered": len(answered),
        "abandoned": abandoned,
        "average_wait_seconds": round(sum(answered) / len(answered), 1) if answered else None,
    }
    for limit in THRESHOLDS:
        within = sum(1 for wait in answered if wait <= limit)
        result[f"answered_within_{limit}s"] = within
        result[f"share_within_{limit}s"] = round(within / total, 4) if total else None
    return result


ALERT_WINDOW_SECONDS = 900  # the live level is measured over the last 15 minutes of handoffs


def level_at(
    entries: list[tuple[float, str, float]], end: float, window: float, seconds: float
) -> float | None:
    """Share of the handoffs that ended their wait in (end - window, end] answered within `seconds`;
    abandoned ones count as misses. None without handoffs."""
    waits = [(outcome, wait) for ts, outcome, wait in entries if end - window < ts <= end]
    if not waits:
        return None
    return sum(1 for outcome, wait in waits if outcome == "answered" and wait <= seconds) / len(waits)


async def target_status(
    redis: Redis,
    seconds: float,
    share: float,
    alert_minutes: int,
    window_seconds: int = ALERT_WINDOW_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """The live service level against its target ("80% within 20 s"), and whether it has been missed at
    every minute of the last `alert_minutes` (each minute judged on its trailing window): a single slow
    answer does not alert, a level that stays low does. Minutes without any handoff do not count as a miss."""
    r: Any = redis
    now = now or time.time()
    start_ms = int((now - alert_minutes * 60 - window_seconds) * 1000)
    raw = await r.xrange(STREAM, min=f"{start_ms}", max="+")
    entries = [
        (int(str(entry_id).split("-")[0]) / 1000, str(f.get("outcome")), float(f.get("wait") or 0.0))
        for entry_id, f in raw
    ]
    current = level_at(entries, now, window_seconds, seconds)
    checks = [level_at(entries, now - m * 60, window_seconds, seconds) for m in range(alert_minutes + 1)]
    missed = [level is not None and level < share for level in checks]
    missed_minutes = next((m for m, miss in enumerate(missed) if not miss), len(missed))
    return {
        "target": {"share": share, "seconds": seconds},
        "window_seconds": window_seconds,
        "level": None if current is None else round(current, 4),
        "missed": current is not None and current < share,
        "missed_minutes": missed_minutes,  # consecutive minutes, up to now, below the target
        "alert": all(missed),
        "alert_minutes": alert_minutes,
    }
