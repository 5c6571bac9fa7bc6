"""Rasa input channel for the handoff service: Rasa's REST channel shape behind a bearer token.

Rasa's own REST channel accepts anyone who can reach the port. The hub is the only client that should
talk to the assistant, so this channel refuses requests without the shared token.

The reply also carries what the assistant understood (intent ranking, entities, affect, and the article a
knowledge-base answer came from) in the `X-Understood` header, as ASCII JSON: the body stays Rasa's REST
shape for any other client.
"""

from __future__ import annotations

import hmac
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.rasa_fixes import FAILED_ACTIONS, UNDERSTOOD

UNDERSTOOD_HEADER = "X-Understood"
ARTICLE_ID_CHARS = 100


class HubOutputChannel(CollectingOutputChannel):
    """Rasa's collecting channel that also notes which knowledge-base article answered (the action sends its
    id beside the text, `kb_article`), for the hub's facts about the turn."""

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        article = message.get("kb_article")
        understood = getattr(self, UNDERSTOOD, None)
        if isinstance(article, str) and isinstance(understood, dict):
            understood["kb_article"] = article[:ARTICLE_ID_CHARS]
        await super().send_response(recipient_id, message)


class HubInput(InputChannel):
    """POST /webhooks/hub/webhook with {"sender", "message", "metadata"} and `Authorization: Bearer`."""

    def __init__(self, token: str) -> None:
        if not token or len(token) < 16:
            raise ValueError("bot.channels.hub.HubInput needs a token of at least 16 characters")
        self._token = token.encode()

    @classmethod
    def name(cls) -> str:
        return "hub"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls((credentials or {}).get("token") or "")

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer "):
            return False
        return hmac.compare_digest(given[len("Bearer ") :].strip().encode(), self._token)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hub_webhook = Blueprint(
            f"custom_webhook_{type(self).__name__}",
            inspect.getmodule(self).__name__,  # type: ignore[union-attr]
        )

        @hub_webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hub_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self._authorised(request):
                return response.json({"error": "unauthorized"}, status=401)
            body = request.json if isinstance(request.json, dict) else {}
            sender = body.get("sender")
            text = body.get("message")
            metadata = body.get("metadata") or {}
            if not isinstance(sender, str) or not isinstance(text, str) or not isinstance(metadata, dict):
                return response.json({"error": "sender and message must be strings"}, status=400)
            collector = HubOutputChannel()
            failed: list[str] = []
            setattr(collector, FAILED_ACTIONS, failed)
            understood: dict[str, Any] = {}
            setattr(collector, UNDERSTOOD, understood)
            await on_new_message(
                UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata)
            )
            if failed:
                # An action the answer needed did not run (the action server down or failing): the hub
                # treats this as the assistant being unavailable and hands the customer to a person.
                body = {"error": "action_failed", "actions": failed, "messages": collector.messages}
                return response.json(body, status=503)
            headers = {UNDERSTOOD_HEADER: json.dumps(understood)} if understood else None
            return response.json(collector.messages, headers=headers)

        return hub_webhook
