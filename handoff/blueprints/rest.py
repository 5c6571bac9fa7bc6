"""REST channel with the request and reply shape of Rasa's REST channel, so existing clients work.

Who may call: a caller with `HUB_REST_TOKEN` (`Authorization: Bearer`) is trusted and may name the
customer (`metadata.customer_id`, passed to the assistant with `verified_by: "rest_token"`). Without the
token the channel answers only when `HUB_REST_OPEN=1`, and such callers stay anonymous.

Senders live in their own namespace: sender `S` writes to conversation `rest-S`, so a REST caller can
never write into a widget (`web-…`) or Telegram (`telegram-…`) conversation. Replies keep
`recipient_id: S` as the client sent it.

Limits: bodies up to `HUB_MAX_BODY_BYTES` (413 beyond, read no further), messages per conversation
(`HUB_MESSAGES_PER_MINUTE`) and per client address (`HUB_MESSAGES_PER_MINUTE_PER_ADDRESS`).
"""

from __future__ import annotations

import re
from typing import Any

from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_ext.extensions.openapi import openapi

from handoff.auth import bearer, require_token
from handoff.blueprints.conversations import check_cursor
from handoff.errors import BadRequest, Forbidden, json_object_within
from handoff.hub import Hub, Reply
from handoff.inbound import (
    CLIENT_KEYS,
    CUSTOMER_ID_MAX,
    assistant_metadata,
    check_message,
    customer_metadata,
)
from handoff.ratelimit import RateLimiter, client_address
from handoff.settings import Settings

bp = Blueprint("rest_channel")

CHANNEL = "rest"
CONVERSATION_PREFIX = "rest-"
SENDER_MAX = 128 - len(CONVERSATION_PREFIX)  # conversation ids are at most 128 characters
SENDER_RE = re.compile(rf"^[A-Za-z0-9_.:@+-]{{1,{SENDER_MAX}}}\Z")
SENDER_RULE = f"'sender' must be 1-{SENDER_MAX} characters of letters, digits or _.:@+-"
SECURITY_SCHEME = "rest_token"


def conversation_id(sender: str) -> str:
    """The conversation a REST sender writes to and reads from."""
    return f"{CONVERSATION_PREFIX}{sender}"


def _sender(value: object) -> str:
    if not isinstance(value, str) or not SENDER_RE.match(value):
        raise BadRequest(SENDER_RULE, field="sender")
    return value


def _trusted(request: Request, settings: Settings) -> bool:
    """Whether the caller holds the REST token; Unauthorized or Forbidden when it may not call at all."""
    if settings.rest_token and (bearer(request) or not settings.rest_open):
        require_token(request, settings.rest_token)  # a wrong token is refused, even on an open channel
        return True
    if settings.rest_open:
        return False
    raise Forbidden("the REST channel is closed: the server sets HUB_REST_TOKEN (or HUB_REST_OPEN=1)")


def _metadata(request: Request, raw: object, trusted: bool) -> dict[str, Any]:
    """What the assistant is told about the caller: its address, its filtered metadata (`client`), and
    the customer it named when it holds the token."""
    given = customer_metadata(raw, trusted=trusted)
    customer = given.pop("customer_id", None)
    return assistant_metadata(
        client_address=client_address(request),
        client=given,
        customer_id=customer,
        verified_by="rest_token" if customer else None,
    )


def _rasa_shape(recipient_id: str, reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"recipient_id": recipient_id}
    if reply.text is not None:
        out["text"] = reply.text
    if reply.buttons:
        out["buttons"] = reply.buttons
    if reply.custom:
        out["custom"] = reply.custom
    return out


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
    trusted = _trusted(request, settings)
    body = await json_object_within(request, settings.max_body_bytes)
    sender = _sender(body.get("sender"))
    message = check_message(body.get("message"), max_chars=settings.max_message_chars)
    meta = _metadata(request, body.get("metadata"), trusted)
    conversation = conversation_id(sender)
    limiter: RateLimiter = request.app.ctx.limiter
    await limiter.check("rest_address", meta["client_address"], settings.messages_per_minute_per_address, 60)
    await limiter.check("messages", conversation, settings.messages_per_minute, 60)
    hub: Hub = request.app.ctx.hub
    replies = await hub.customer_message(conversation, message, CHANNEL, meta)
    return json([_rasa_shape(sender, r) for r in replies])


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
    sender = _sender(request.args.get("sender", ""))
    after = check_cursor(request.args.get("after", "-"))
    hub: Hub = request.app.ctx.hub
    history = await hub.history(conversation_id(sender), after=after)
    visible = [m for m in history if not m.internal and m.author != "customer"]
    return json(
        [{"id": m.id, "recipient_id": sender, "author": m.author, "text": m.text, "buttons": m.buttons}
         for m in visible]
    )  # fmt: skip
