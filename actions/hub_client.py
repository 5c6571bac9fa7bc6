"""Client for the handoff service's API, used by the handoff action."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

logger = logging.getLogger(__name__)


class HubError(Exception):
    """The handoff service did not accept the handoff."""


@dataclass(frozen=True)
class HandoffAccepted:
    owner: str
    position: int | None  # None once an agent has been offered the chat


class HubClient(Protocol):
    async def create_handoff(self, packet: dict[str, Any]) -> HandoffAccepted: ...


class HttpHubClient:
    """Posts the packet; one retry on a transport error is safe because the hub's enqueue is idempotent
    while the conversation is in routing. One HTTP client per event loop, kept: building one (its TLS
    context) cost about 20 ms of CPU per handoff, and a kept connection skips the connect."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/api/handoffs/"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client.is_closed or self._loop is not loop:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def create_handoff(self, packet: dict[str, Any]) -> HandoffAccepted:
        client = self._http()
        for attempt in (1, 2):
            try:
                response = await client.post(self._url, json=packet, headers=self._headers)
                break
            except httpx.TransportError as exc:  # also a kept connection the hub closed meanwhile
                if attempt == 2:
                    raise HubError(f"handoff service unreachable: {exc!r}") from exc
                logger.warning("actions.hub_client.retry", extra={"error": repr(exc)})
        if response.status_code != 201:
            raise HubError(f"handoff service answered {response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
            position = body.get("position")
            return HandoffAccepted(str(body["owner"]), None if position is None else int(position))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise HubError(f"handoff service answered an unexpected body: {response.text[:200]}") from exc
