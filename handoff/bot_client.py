"""Client for the assistant (Rasa) through its token-protected hub channel."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

logger = logging.getLogger(__name__)


class BotUnavailable(Exception):
    """Rasa did not answer in time or answered with an error."""


@dataclass(frozen=True)
class BotReply:
    text: str | None
    buttons: list[dict[str, Any]] | None = None
    custom: dict[str, Any] | None = None


class Bot(Protocol):
    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]: ...


class RasaBot:
    """Talks to bot.channels.hub.HubInput on the Rasa server."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str, timeout: float) -> None:
        self._client = client
        self._url = f"{base_url}/webhooks/hub/webhook"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        payload = {"sender": sender, "message": text, "metadata": metadata}
        try:
            response = await self._client.post(
                self._url, json=payload, headers=self._headers, timeout=self._timeout
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("hub.bot.unavailable", extra={"sender": sender, "error": repr(exc)})
            raise BotUnavailable(str(exc) or type(exc).__name__) from exc
        if not isinstance(body, list):
            raise BotUnavailable("unexpected reply shape from Rasa")
        return [
            BotReply(text=item.get("text"), buttons=item.get("buttons"), custom=item.get("custom"))
            for item in body
            if isinstance(item, dict)
        ]
