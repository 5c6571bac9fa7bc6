"""The REST channel's Sanic blueprint: the webhook, the polling route and their OpenAPI description
(the channel's rules: `handoff.channels.rest`)."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_ext.extensions.openapi import openapi

from handoff.auth import require_token
from handoff.channels.rest.inbound import (
    SENDER_MAX,
    SENDER_RE,
    caller_trusted,
    check_sender,
    conversation_id,
    customer_message,
)
from handoff.channels.rest.outbound import later_messages, rasa_shape
from handoff.errors import Forbidden, json_object_within
from handoff.hub import Hub
from handoff.inbound import CLIENT_KEYS, CUSTOMER_ID_MAX
from handoff.ratelimit import RateLimiter, client_address
from handoff.settings import Settings
from handoff.transcript import check_cursor

bp = Blueprint("rest_channel")

SECURITY_SCHEME = "rest_token"


# -- OpenAPI ------------------------------------------------------------------------------------------


def _string(**schema: Any) -> Any:
    return openapi.String(**schema)  # type: ignore[no-untyped-call]  # sanic-ext leaves it unannotated


_MESSAGE_BODY = {
    "application/json": openapi.Object(
        required=["sender", "message"],
        properties={
            "sender": _string(
                description="The client's id for the customer; the conversation is `rest-<sender>`",
                pattern=SENDER_RE.pattern,
                maxLength=SENDER_MAX,
            ),
            "message": _string(
                description="The customer's text (HUB_MAX_MESSAGE_CHARS, 4000 by default). Text starting "
                "with '/' is an intent payload only if the assistant offered it as a button",
                minLength=1,
            ),
            "metadata": openapi.Object(
                description="Optional. Only these keys are used; others are ignored. `customer_id` needs "
                "the REST token",
                properties={
                    **{key: _string(maxLength=limit) for key, limit in CLIENT_KEYS.items()},
                    "customer_id": _string(maxLength=CUSTOMER_ID_MAX, pattern=r"^[A-Za-z0-9_.@-]{1,64}$"),
                },
            ),
        },
    )
}
_REPLIES = {
    "application/json": openapi.Array(
        items=openapi.Object(
            properties={
                "recipient_id": _string(),
                "text": _string(),
                "buttons": openapi.Array(
                    items=openapi.Object(properties={"title": _string(), "payload": _string()})
                ),
            }
        )
    )
}
_ERROR = {"application/json": openapi.Object(properties={"error": _string(), "message": _string()})}


@bp.before_server_start
def describe_security(app: Sanic) -> None:  # type: ignore[type-arg]
    app.ext.openapi.add_security_scheme(
        SECURITY_SCHEME,
        "http",
        scheme="bearer",
        description="HUB_REST_TOKEN. Required unless the server sets HUB_REST_OPEN=1; only a caller with "
        "it may name the customer.",
    )


# -- routes -------------------------------------------------------------------------------------------


@bp.post("/webhooks/rest/webhook", stream=True)  # streamed: a body over the limit is never read whole
@openapi.definition(
    body=openapi.definitions.RequestBody(_MESSAGE_BODY, required=True),
    secured={SECURITY_SCHEME: []},
    response=[
        openapi.definitions.Response(_REPLIES, status=200, description="The assistant's replies"),
        openapi.definitions.Response(_ERROR, status=400, description="Bad input; `field` names it"),
        openapi.definitions.Response(_ERROR, status=401, description="Missing or wrong REST token"),
        openapi.definitions.Response(_ERROR, status=413, description="Body over HUB_MAX_BODY_BYTES (64 KB)"),
        openapi.definitions.Response(_ERROR, status=429, description="Too many messages; see Retry-After"),
    ],
)
async def webhook(request: Request) -> HTTPResponse:
    """Send a customer message; the reply is the list of messages the assistant sent back.

    Bodies are at most HUB_MAX_BODY_BYTES (64 KB by default).
    """
    settings: Settings = request.app.ctx.settings
    trusted = caller_trusted(request, settings)
    body = await json_object_within(request, settings.max_body_bytes)
    sender, message = customer_message(
        body, max_chars=settings.max_message_chars, client_address=client_address(request), trusted=trusted
    )
    limiter: RateLimiter = request.app.ctx.limiter
    address = message.metadata["client_address"]
    await limiter.check("rest_address", address, settings.messages_per_minute_per_address, 60)
    await limiter.check("messages", message.conversation_id, settings.messages_per_minute, 60)
    hub: Hub = request.app.ctx.hub
    replies = await hub.receive(message)
    return json([rasa_shape(sender, r) for r in replies])


@bp.get("/webhooks/rest/messages")
@openapi.definition(
    secured={SECURITY_SCHEME: []},
    parameter=[
        openapi.definitions.Parameter("sender", str, "query", required=True),
        openapi.definitions.Parameter("after", str, "query", description="The last message id seen"),
    ],
)
async def messages(request: Request) -> HTTPResponse:
    """Messages that arrived after the webhook's response (agent replies, queue updates): `sender` and
    `after` (the last id seen). Requires HUB_REST_TOKEN, also on an open channel: reading a conversation
    needs more trust than writing to one."""
    expected: str | None = request.app.ctx.settings.rest_token
    if not expected:
        raise Forbidden("set HUB_REST_TOKEN to fetch messages over REST")
    require_token(request, expected)
    sender = check_sender(request.args.get("sender", ""))
    after = check_cursor(request.args.get("after", "-"))
    hub: Hub = request.app.ctx.hub
    history = await hub.history(conversation_id(sender), after=after)
    return json(later_messages(sender, history))
