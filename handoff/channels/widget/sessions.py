"""Widget sessions: the signed token that binds a browser to one conversation (handoff.widget_tokens), and
what the assistant is told about the customer behind it."""

from __future__ import annotations

import uuid
from typing import Any

from sanic.request import Request

from handoff.hub import Hub
from handoff.inbound import assistant_metadata
from handoff.ratelimit import client_address
from handoff.settings import Settings
from handoff.widget_tokens import SESSION_TTL, sign, verify


async def issue_session(hub: Hub, settings: Settings, body: dict[str, Any]) -> tuple[str, str]:
    """A session token and its conversation: a new conversation, the same one again (`token`), or a
    logged-in customer's one conversation (`identity`, minted by the storefront backend)."""
    customer: str | None = None
    if body.get("identity"):
        # A key of the storefront's own: a storefront that leaks it can vouch for customers, never mint a
        # session for an arbitrary conversation.
        claims = verify(settings.identity_secret, "identity", str(body["identity"]))
        customer = str(claims["sub"])
        identities = {"customer": customer}
        for kind in ("email", "phone"):
            if claims.get(kind):
                identities[kind] = str(claims[kind])
        conversation_id = await hub.link_identities(identities, _new_conversation())
    elif body.get("token"):
        claims = verify(settings.widget_secret, "session", str(body["token"]))
        conversation_id, customer = str(claims["cid"]), claims.get("sub")
    else:
        conversation_id = _new_conversation()
    token = sign(settings.widget_secret, "session", {"cid": conversation_id, "sub": customer}, SESSION_TTL)
    return token, conversation_id


def session_metadata(request: Request, claims: dict[str, Any]) -> dict[str, Any]:
    """What the assistant is told about a widget customer: only the signed session and the connection."""
    customer = claims.get("sub")
    return assistant_metadata(
        client_address=client_address(request),
        customer_id=str(customer) if customer else None,
        verified_by="storefront" if customer else None,
    )


def _new_conversation() -> str:
    return f"web-{uuid.uuid4().hex}"
