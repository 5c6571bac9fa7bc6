"""Unsubscribing from proactive messages by email, as mail clients offer it (RFC 2369 and RFC 8058).

Every proactive email carries `List-Unsubscribe` with a mailto address of its own, a signed reply address
whose token names the customer (any mail to it opts them out: no subject or text to get right), and, when
HUB_PUBLIC_URL says where customers reach the hub, an https link for one-click unsubscribe (a POST, so a
mail scanner that fetches links opts nobody out; the GET shows a page with the button).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from handoff.widget_tokens import sign, verify

PREFIX = "u:"  # reply-address tokens that unsubscribe (beside tickets and "o:" order-update threads)
TTL_SECONDS = 400 * 86400  # an address in an old email keeps working for more than a year
LINK_PURPOSE = "unsubscribe"


def thread_key(thread_id: str) -> str:
    return f"hub:proactive:unsubscribe:{thread_id}"


def thread_id_of(customer_id: str) -> str:
    """The unsubscribe address's id: stable per customer, short enough for a reply token."""
    return PREFIX + hashlib.sha256(customer_id.encode("utf-8")).hexdigest()[:16]


async def remember(redis: Any, customer_id: str) -> str:
    """The customer's unsubscribe id, kept (and its life renewed) with every email that names it."""
    thread_id = thread_id_of(customer_id)
    await redis.set(thread_key(thread_id), customer_id, ex=TTL_SECONDS)
    return thread_id


async def customer_of(redis: Any, thread_id: str) -> str | None:
    found = await redis.get(thread_key(thread_id))
    return str(found) if found else None


def link(public_url: str, secret: str, customer_id: str) -> str:
    """The one-click link; its token is signed with the hub's widget secret under a kind of its own."""
    token = sign(secret, LINK_PURPOSE, {"sub": customer_id}, TTL_SECONDS)
    return f"{public_url.rstrip('/')}/unsubscribe?token={quote(token)}"


def customer_in(secret: str, token: str) -> str:
    """The customer a link was made for; Unauthorized when the token is not one of ours or expired."""
    return str(verify(secret, LINK_PURPOSE, token)["sub"])
