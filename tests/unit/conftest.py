from __future__ import annotations

from collections.abc import Iterator

import pytest

from actions.settings import action_settings


@pytest.fixture(autouse=True)
def action_server_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The actions run under the action server's settings, which need its two secrets (the server refuses
    to start without them); unit tests give placeholder ones and start from unread settings."""
    monkeypatch.setenv("ACTIONS_TOKEN", "unit-actions-token-0123")
    monkeypatch.setenv("HUB_SERVICE_TOKEN", "unit-hub-service-token-0123")
    action_settings.cache_clear()
    yield
    action_settings.cache_clear()
