"""Client for the handoff service's API, used by the handoff action."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

logger = logging.getLogger(__name__)


class HubError(Exception):
    """The handoff service did not accept the handoff."""


@dataclass(frozen=True)
class HandoffAccepted:
    position: int


class HubClient(Protocol):
    async def create_handoff(self, packet: dict[str, Any]) -> HandoffAccepted: ...


class HttpHubClient:
    def __init__(self, base_url: str, token: str, timeout: float = 5.0) -> None:
        self._url = f"{base_url.rstrip('/')}/api/handoffs/"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout

    @classmethod
    def from_env(cls) -> HttpHubClient:
        return cls(
            os.environ.get("HUB_URL", "http://127.0.0.1:8000"), os.environ.get("HUB_SERVICE_TOKEN", "")
        )

    async def create_handoff(self, packet: dict[str, Any]) -> HandoffAccepted:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(self._url, json=packet, headers=self._headers)
        except httpx.HTTPError as exc:
            raise HubError(f"handoff service unreachable: {exc!r}") from exc
        if response.status_code != 201:
            raise HubError(f"handoff service answered {response.status_code}: {response.text[:200]}")
        return HandoffAccepted(position=int(response.json().get("position", 0)))
