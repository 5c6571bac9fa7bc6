from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.settings import action_settings
from handoff.analytics.store import AnalyticsStore
from tests.unit.analytics_feed import Feed


@pytest.fixture(autouse=True)
def action_server_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The actions run under the action server's settings, which need its two secrets (the server refuses
    to start without them); unit tests give placeholder ones and start from unread settings."""
    monkeypatch.setenv("ACTIONS_TOKEN", "unit-actions-token-0123")
    monkeypatch.setenv("HUB_SERVICE_TOKEN", "unit-hub-service-token-0123")
    action_settings.cache_clear()
    yield
    action_settings.cache_clear()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AnalyticsStore]:
    """An empty analytics store with the default settings."""
    s = AnalyticsStore(tmp_path / "analytics.sqlite")
    yield s
    s.close()


@pytest.fixture
def feed(store: AnalyticsStore) -> Feed:
    return Feed(store)
