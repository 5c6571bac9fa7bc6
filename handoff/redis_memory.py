"""How full Redis is, so a filling Redis raises an alert before it refuses writes.

The embedded Redis runs with `maxmemory` and `maxmemory-policy noeviction` (scripts/redis_conf.py):
conversation state must never be evicted silently, so a full Redis answers writes with an OOM error.
`redis_memory` reads INFO memory and says whether usage is above a threshold (default 85%);
`watch_redis_memory` checks periodically and logs `hub.redis.memory_high` while it is. A Redis without
a limit (maxmemory 0) is never "high" here; one that evicts is reported through `evicts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)
DEFAULT_THRESHOLD = 0.85
DEFAULT_INTERVAL_SECONDS = 60.0


class InfoSource(Protocol):
    """The one call needed from redis.asyncio.Redis."""

    async def info(self, section: str) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class MemoryUsage:
    used_bytes: int
    max_bytes: int  # 0: no limit configured
    policy: str
    threshold: float

    @property
    def ratio(self) -> float | None:
        return self.used_bytes / self.max_bytes if self.max_bytes else None

    @property
    def high(self) -> bool:
        return self.ratio is not None and self.ratio >= self.threshold

    @property
    def evicts(self) -> bool:
        """Whether Redis drops keys when full instead of refusing writes."""
        return self.policy != "noeviction"

    def as_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "used_bytes": self.used_bytes,
            "max_bytes": self.max_bytes,
            "ratio": None if ratio is None else round(ratio, 4),
            "policy": self.policy,
            "high": self.high,
        }


def check_threshold(threshold: float) -> float:
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold {threshold!r} must be a fraction in (0, 1]")
    return threshold


def memory_usage(info: Mapping[str, Any], threshold: float = DEFAULT_THRESHOLD) -> MemoryUsage:
    """MemoryUsage from the fields of `INFO memory`."""
    return MemoryUsage(
        used_bytes=int(info.get("used_memory", 0)),
        max_bytes=int(info.get("maxmemory", 0)),
        policy=str(info.get("maxmemory_policy", "unknown")),
        threshold=check_threshold(threshold),
    )


async def redis_memory(redis: InfoSource, threshold: float = DEFAULT_THRESHOLD) -> MemoryUsage:
    """Reads INFO memory; raises what the Redis client raises when Redis cannot be asked."""
    return memory_usage(await redis.info("memory"), threshold)


async def watch_redis_memory(
    redis: InfoSource,
    stopping: asyncio.Event,
    interval: float = DEFAULT_INTERVAL_SECONDS,
    threshold: float = DEFAULT_THRESHOLD,
) -> None:
    """Logs `hub.redis.memory_high` at every check while usage is at or above the threshold, until
    `stopping` is set. A failed check is logged and retried at the next interval."""
    check_threshold(threshold)
    warned_eviction = False
    while not stopping.is_set():
        try:
            usage = await redis_memory(redis, threshold)
        except Exception as exc:  # the health endpoint reports Redis down; keep watching
            logger.warning("hub.redis.memory_check_failed", extra={"error": type(exc).__name__})
        else:
            if usage.high:
                logger.warning("hub.redis.memory_high", extra=usage.as_dict())
            if usage.evicts and not warned_eviction:
                warned_eviction = True  # a setting, not a condition: once is enough
                logger.warning("hub.redis.evicting_policy", extra=usage.as_dict())
        with contextlib.suppress(TimeoutError):  # the interval passed without a stop
            await asyncio.wait_for(stopping.wait(), interval)
