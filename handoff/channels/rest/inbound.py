"""What a REST caller sends, made into the hub's call: who the caller is (trusted with the REST token, or
anonymous on an open channel), its sender's conversation, the checked text and the metadata."""

from __future__ import annotations

import re
from typing import Any

from sanic.request import Request

from handoff.auth import bearer, require_token
from handoff.channels.base import CustomerMessage
from handoff.errors import BadRequest, Forbidden
from handoff.inbound import assistant_metadata, check_message, customer_metadata
from handoff.settings import Settings

CHANNEL = "rest"
CONVERSATION_PREFIX = "rest-"
SENDER_MAX = 128 - len(CONVERSATION_PREFIX)  # conversation ids are at most 128 characters
SENDER_RE = re.compile(rf"^[A-Za-z0-9_.:@+-]{{1,{SENDER_MAX}}}\Z")
SENDER_RULE = f"'sender' must be 1-{SENDER_MAX} characters of letters, digits or _.:@+-"


def conversation_id(sender: str) -> str:
    """The conversation a REST sender writes to and reads from."""
    return f"{CONVERSATION_PREFIX}{sender}"


def check_sender(value: object) -> str:
    if not isinstance(value, str) or not SENDER_RE.match(value):
        raise BadRequest(SENDER_RULE, field="sender")
    return value


def caller_trusted(request: Request, settings: Settings) -> bool:
    """Whether the caller holds the REST token; Unauthorized or Forbidden when it may not call at all."""
    if settings.rest_token and (bearer(request) or not settings.rest_open):
        require_token(request, settings.rest_token)  # a wrong token is refused, even on an open channel
        return True
    if settings.rest_open:
        return False
    raise Forbidden("the REST channel is closed: the server sets HUB_REST_TOKEN (or HUB_REST_OPEN=1)")


def customer_message(
    body: dict[str, Any], *, max_chars: int, client_address: str, trusted: bool
) -> tuple[str, CustomerMessage]:
    """The sender and the hub's call for a webhook body (checked in this order: sender, message,
    metadata). REST has no address: the answer goes back in the response."""
    sender = check_sender(body.get("sender"))
    text = check_message(body.get("message"), max_chars=max_chars)
    metadata = _metadata(body.get("metadata"), client_address, trusted)
    return sender, CustomerMessage(conversation_id(sender), text, CHANNEL, metadata)


def _metadata(raw: object, client_address: str, trusted: bool) -> dict[str, Any]:
    """What the assistant is told about the caller: its address, its filtered metadata (`client`), and
    the customer it named when it holds the token."""
    given = customer_metadata(raw, trusted=trusted)
    customer = given.pop("customer_id", None)
    return assistant_metadata(
        client_address=client_address,
        client=given,
        customer_id=customer,
        verified_by="rest_token" if customer else None,
    )
