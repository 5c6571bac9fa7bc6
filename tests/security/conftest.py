"""The security suite's fixtures: the real handoff service (create_app) on a Redis database of its own, with
Rasa, the action server, the Telegram Bot API and the knowledge base replaced by stand-ins.

The app builders and stand-ins are the integration suite's own (imported, so both suites test the same
wiring); this file only adds the database, a directory for photos and the knowledge-base stand-in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import redis
from sanic import Sanic

from tests.integration.conftest import make_app, no_overflow_routing
from tests.integration.test_telegram_channel import bot_api, telegram_app

__all__ = ["bot_api", "make_app", "no_overflow_routing", "telegram_app"]

REDIS_DB = 9  # routing, rate-limit and token keys are global: this suite flushes its own database per test


@pytest.fixture
def db_url(redis_url: str) -> str:
    """A flushed database of the session's redis-server: no limit counter or token of another test."""
    url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


class StubKnowledge:
    """The knowledge base behind agents' suggestions: answers every search with no article (the real one
    loads encoders, which this suite does not need to decide who may ask)."""

    async def search(self, query: str, language: str, top_k: int = 3) -> Any:
        return SimpleNamespace(version="stub", miss=True, hits=[])


@pytest.fixture
def hub_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    """This suite's settings on top of the integration suite's: its database, photos in a temporary
    directory."""
    return {"REDIS_URL": db_url, "HUB_ATTACHMENTS_DIR": str(tmp_path / "attachments")}


@pytest.fixture
def hub_app(make_app: Callable[..., Sanic], hub_env: dict[str, str]) -> Callable[..., Sanic]:  # type: ignore[type-arg]
    """`hub_app(transport, **env)`: the integration suite's app with this suite's settings."""

    def build(transport: httpx.AsyncBaseTransport, **env: str) -> Sanic:  # type: ignore[type-arg]
        app = make_app(transport, **{**hub_env, **env})
        knowledge = StubKnowledge()
        app.ctx.knowledge = lambda: knowledge
        return app

    return build
