"""REST channel with the request and reply shape of Rasa's REST channel, so existing clients work."""

from __future__ import annotations

import re
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.auth import require_token
from handoff.blueprints.conversations import check_cursor
from handoff.errors import BadRequest, Forbidden
from handoff.hub import Hub, Reply
from handoff.ratelimit import RateLimiter

bp = Blueprint("rest_channel")

SENDER_RE = re.compile(r"^[A-Za-z0-9_.:@+-]{1,128}\Z")
CHANNEL = "rest"


def _parse(request: Request, max_chars: int) -> tuple[str, str, dict[str, Any]]:
    body = request.json if request.body else None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object with 'sender' and 'message'")
    sender = body.get("sender")
    if not isinstance(sender, str) or not SENDER_RE.match(sender):
        raise BadRequest("'sender' must be 1-128 characters of letters, digits or _.:@+-", field="sender")
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        raise BadRequest("'message' must be a non-empty string", field="message")
    if len(message) > max_chars:
        raise BadRequest(f"'message' is longer than {max_chars} characters", field="message")
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be a JSON object", field="metadata")
    return sender, message, metadata


def _check_token(request: Request) -> None:
    expected: str | None = request.app.ctx.settings.rest_token
    if expected:
        require_token(request, expected)


def _rasa_shape(recipient_id: str, reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"recipient_id": recipient_id}
    if reply.text is not None:
        out["text"] = reply.text
    if reply.buttons:
        out["buttons"] = reply.buttons
    if reply.custom:
        out["custom"] = reply.custom
    return out


@bp.post("/webhooks/rest/webhook")
async def webhook(request: Request) -> HTTPResponse:
    """Send a customer message; the reply is the list of messages the assistant sent back."""
    _check_token(request)
    sender, message, metadata = _parse(request, request.app.ctx.settings.max_message_chars)
    limiter: RateLimiter = request.app.ctx.limiter
    await limiter.check("messages", sender, request.app.ctx.settings.messages_per_minute, 60)
    hub: Hub = request.app.ctx.hub
    replies = await hub.customer_message(sender, message, CHANNEL, metadata)
    return json([_rasa_shape(sender, r) for r in replies])


@bp.get("/webhooks/rest/messages")
async def messages(request: Request) -> HTTPResponse:
    """Messages that arrived after the webhook's response (agent replies, queue updates): `sender` and
    `after` (the last id seen). Requires HUB_REST_TOKEN: without it anyone could read any conversation."""
    expected: str | None = request.app.ctx.settings.rest_token
    if not expected:
        raise Forbidden("set HUB_REST_TOKEN to fetch messages over REST")
    require_token(request, expected)
    sender = request.args.get("sender", "")
    if not SENDER_RE.match(sender):
        raise BadRequest("'sender' must be 1-128 characters of letters, digits or _.:@+-", field="sender")
    after = check_cursor(request.args.get("after", "-"))
    hub: Hub = request.app.ctx.hub
    visible = [m for m in await hub.history(sender, after=after) if not m.internal and m.author != "customer"]
    return json(
        [{"id": m.id, "recipient_id": sender, "author": m.author, "text": m.text, "buttons": m.buttons}
         for m in visible]
    )  # fmt: skip
