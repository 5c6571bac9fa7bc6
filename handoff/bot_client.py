"""Client for the assistant (Rasa) through its token-protected hub channel."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

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

    async def resume(self, sender: str, intent: str | None) -> list[BotReply]: ...


class RasaBot:
    """Talks to bot.channels.hub.HubInput on the Rasa server."""

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, token: str, timeout: float, api_token: str
    ) -> None:
        self._client = client
        self._base = base_url
        self._url = f"{base_url}/webhooks/hub/webhook"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self._api_token = api_token  # Rasa's HTTP API (--auth-token), for resuming paused conversations

    async def resume(self, sender: str, intent: str | None) -> list[BotReply]:
        """Un-pause the Rasa conversation after a human; optionally start a flow by triggering an intent."""
        params = {"token": self._api_token}
        base = f"{self._base}/conversations/{quote(sender, safe='')}"
        try:
            response = await self._client.post(
                f"{base}/tracker/events", params=params, json=[{"event": "resume"}], timeout=self._timeout
            )
            response.raise_for_status()
            if intent is None:
                return []
            response = await self._client.post(
                f"{base}/trigger_intent",
                params=params,  # no output_channel: Rasa returns the messages in the body
                json={"name": intent},
                timeout=self._timeout,
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("hub.bot.resume_failed", extra={"sender": sender, "error": repr(exc)})
            raise BotUnavailable(str(exc) or type(exc).__name__) from exc
        messages = body.get("messages", []) if isinstance(body, dict) else []
        return [
            BotReply(text=m.get("text"), buttons=m.get("buttons"), custom=m.get("custom"))
            for m in messages
            if isinstance(m, dict)
        ]

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
