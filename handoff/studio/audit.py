"""Who changed what in the studio, and when: training data, training runs, activations, articles, templates.

One Redis list for the whole cluster, newest first and capped, like the routing weights' audit; entries are
JSON so a new kind of change needs no migration.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from handoff import keys

KEPT = 10_000


async def record(
    redis: Redis, actor: str, action: str, detail: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Add an entry; `action` is a dotted name such as "nlu.example.added" or "model.activated"."""
    entry = {"ts": time.time(), "actor": actor, "action": action, "detail": dict(detail or {})}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lpush(keys.studio_audit(), json.dumps(entry, ensure_ascii=False))
        pipe.ltrim(keys.studio_audit(), 0, KEPT - 1)
        await pipe.execute()
    return entry


async def recent(redis: Redis, limit: int = 100, action_prefix: str = "") -> list[dict[str, Any]]:
    """The newest entries, optionally only those whose action starts with `action_prefix`."""
    raw = await redis.lrange(keys.studio_audit(), 0, max(limit, 1) * (10 if action_prefix else 1) - 1)
    entries = [json.loads(e) for e in raw]
    if action_prefix:
        entries = [e for e in entries if str(e.get("action", "")).startswith(action_prefix)]
    return entries[:limit]
