"""`python -m handoff.analytics.writer`: the process that moves the hub's analytics events into this
machine's store (handoff/analytics/feed.py). A process of its own, not a hub worker, so that writing the
store never takes CPU from a customer's message in the same interpreter; several may run (a Redis lease
lets one write per group), and a stopped writer loses nothing: the events wait in Redis.

Settings: REDIS_URL (or REDIS_SENTINELS ...), ANALYTICS_DB, ANALYTICS_GROUP, ANALYTICS_TIMEZONE,
ANALYTICS_IDLE_MINUTES, SERVICE_LEVEL_SECONDS, SERVICE_LEVEL_TARGET (docs/analytics.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from common.env import SettingsError, read_url
from common.preflight import PreflightError, check_redis
from common.redis_connect import async_client, read_sentinel
from handoff.analytics.feed import AnalyticsWriter, default_group
from handoff.analytics.settings import AnalyticsSettings
from handoff.analytics.store import AnalyticsStore

logger = logging.getLogger(__name__)


def open_store(settings: AnalyticsSettings) -> AnalyticsStore:
    return AnalyticsStore(
        settings.db,
        timezone=settings.timezone,
        idle_timeout_s=settings.idle_minutes * 60.0,
        service_level_seconds=settings.target.seconds,
        service_level_share=settings.target.share,
    )


async def serve(redis_url: str, settings: AnalyticsSettings) -> None:
    sentinel = read_sentinel(os.environ)
    redis = async_client(redis_url, sentinel, decode_responses=True)
    store = await asyncio.to_thread(open_store, settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    group = settings.group or default_group()
    logger.info("analytics.writer.started", extra={"db": settings.db, "group": group})
    try:
        await AnalyticsWriter(redis, store, group).run(stopping)
    finally:
        store.close()
        await redis.aclose()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = AnalyticsSettings.from_env()
        redis_url = read_url(os.environ, "REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix"))
        if settings is None:
            print("analytics: ANALYTICS_DB is off; nothing to write", file=sys.stderr)
            return 0
        check_redis(redis_url, sentinel=read_sentinel(os.environ))
    except (SettingsError, PreflightError) as exc:
        print(f"analytics: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(redis_url, settings))
    except ValueError as exc:  # the store refused its settings (a file made for another time zone)
        print(f"analytics: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
