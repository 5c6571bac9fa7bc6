"""The security suite's fixtures: the real handoff service (create_app) on a Redis database of its own, with
Rasa, the action server, the Telegram Bot API and the knowledge base replaced by stand-ins.

The app builders and stand-ins are the integration suite's own (imported, so both suites test the same
wiring); this file only adds the database, a directory for photos, the knowledge-base stand-in and a
studio that edits temporary copies (the suite calls every studio route as an editor and an admin: nothing
may reach the checkout's data/ or models/, and a publish builds with the test encoders).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import redis
from sanic import Sanic

from handoff.studio.training import TrainingSettings
from kb_index.build import build as build_index
from kb_index.editing import KbWorkspace
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, sample_kb
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


ROOT = Path(__file__).resolve().parents[2]
STUDIO_COPIES = ("data/nlu", "bot/domain", "data/quick_replies")


@pytest.fixture(scope="session")
def studio_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the studio edits, once per session: the training data, domain and quick replies, and a small
    knowledge base published with the test encoders."""
    root = tmp_path_factory.mktemp("studio-template")
    for part in STUDIO_COPIES:
        shutil.copytree(ROOT / part, root / part)
    kb = sample_kb(root / "kb")
    build_index(
        kb,
        root / "kb_index",
        encoders=ENCODERS,
        retrieval=RETRIEVAL,
        encoder_factory=RecordingFactory(),
        progress=lambda _: None,
    )
    return root


@pytest.fixture
def studio_root(studio_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(studio_template, tmp_path / "studio"))


@pytest.fixture
def hub_env(db_url: str, tmp_path: Path, studio_root: Path) -> dict[str, str]:
    """This suite's settings on top of the integration suite's: its database, photos in a temporary
    directory, the studio on a copy, an empty analytics store in a temporary file."""
    return {
        "REDIS_URL": db_url,
        "HUB_ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "STUDIO_ROOT": str(studio_root),
        "ANALYTICS_DB": str(tmp_path / "analytics.sqlite"),
    }


@pytest.fixture
def hub_app(
    make_app: Callable[..., Sanic],  # type: ignore[type-arg]
    hub_env: dict[str, str],
    studio_root: Path,
) -> Callable[..., Sanic]:  # type: ignore[type-arg]
    """`hub_app(transport, **env)`: the integration suite's app with this suite's settings."""

    def build(transport: httpx.AsyncBaseTransport, **env: str) -> Sanic:  # type: ignore[type-arg]
        app = make_app(transport, **{**hub_env, **env})
        knowledge = StubKnowledge()
        app.ctx.knowledge = lambda: knowledge
        app.ctx.studio_kb_workspace = KbWorkspace(
            studio_root / "kb", studio_root / "kb_index", encoders=ENCODERS
        )
        # A training started here ends at once (who may start one is under test, not Rasa's training).
        trained = TrainingSettings.from_env({"STUDIO_ROOT": str(studio_root)})
        app.ctx.studio_training_settings = replace(trained, trainer=("false",))
        return app

    return build
