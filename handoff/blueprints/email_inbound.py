"""The inbound-email webhook: a mail provider (SES, Postmark, Mailgun and others) posts a customer's reply
as the raw RFC 822 message, and it goes into its ticket (handoff.channels.email.ticket_mail).

`Authorization: Bearer <EMAIL_INBOUND_TOKEN>`, compared in constant time. The answers tell the provider
what to do: 202 taken (or taken before: a repeat adds nothing), 200 an automatic reply dropped, 422 a
message that will never thread (no reply address of ours, a forged one, no text, a ticket that is gone),
401 a wrong token, 413 over 10 MiB, 415 not a raw message, 503 while the email channel or the token is
not configured, or storage is away (the provider retries).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, TypeVar

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_ext.extensions.openapi import openapi

from handoff.channels.email.channel import EmailChannel
from handoff.channels.email.inbound import MAX_RAW_BYTES, AutoReply, InboundError, parse_reply
from handoff.channels.email.ticket_mail import UnknownTicket, take_reply
from handoff.errors import Unauthorized, Unavailable, read_body
from handoff.openapi_docs import ERROR, boolean, obj, string

logger = logging.getLogger(__name__)

bp = Blueprint("email_inbound")

PATH = "/webhooks/email/inbound"
RAW_TYPES = ("message/rfc822", "application/octet-stream")
T = TypeVar("T")
_oa: Any = openapi  # sanic-ext leaves its decorators unannotated


def _documented(func: T) -> T:
    """A raw body and this route's own answers: more than handoff.openapi_docs.documented describes."""
    answers = {
        202: "Taken into its ticket (or taken before)",
        200: "An automatic reply (out of office, delivery report): dropped",
        401: "Missing or wrong bearer token",
        413: f"Larger than {MAX_RAW_BYTES} bytes",
        415: "Not a raw message (Content-Type message/rfc822 or application/octet-stream)",
        422: "Cannot be threaded: no reply address of ours, a forged one, no text, or its ticket is gone",
        503: "The email channel or EMAIL_INBOUND_TOKEN is not configured, or storage is away: retry later",
    }
    ok = obj({"ok": boolean(), "ticket_id": string(), "dropped": string()})
    documented: T = _oa.definition(
        body=openapi.definitions.RequestBody(
            {content_type: bytearray for content_type in RAW_TYPES},  # bytearray: a binary string
            description="The email as received (RFC 822). `Authorization: Bearer <EMAIL_INBOUND_TOKEN>`.",
            required=True,
        ),
        response=[
            openapi.definitions.Response(
                {"application/json": ok if status < 300 else ERROR}, status=status, description=text
            )
            for status, text in answers.items()
        ],
    )(func)
    return documented


@bp.post(PATH, stream=True)  # streamed: a body over the limit is never read whole
@_documented
async def inbound_email(request: Request) -> HTTPResponse:
    """A customer's emailed reply, posted by the mail provider as the raw message."""
    email: EmailChannel | None = getattr(request.app.ctx, "email", None)
    settings = request.app.ctx.settings
    token: str | None = settings.email_inbound_token
    if email is None or not token:
        raise Unavailable("inbound email is not configured (SMTP_HOST and EMAIL_INBOUND_TOKEN)")
    _check_token(request, token)  # before the body is read
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in RAW_TYPES:
        return json(
            {"error": "unsupported_media_type", "message": f"post the raw email as {' or '.join(RAW_TYPES)}"},
            status=415,
        )
    raw = await read_body(request, MAX_RAW_BYTES)  # PayloadTooLarge (413) past the limit
    try:
        reply = parse_reply(raw, email.tokens, max_chars=settings.max_message_chars)
    except AutoReply:
        logger.info("hub.email.inbound_auto_reply_dropped")
        return json({"ok": True, "dropped": "auto_reply"})
    except InboundError as error:
        return _refused("unreadable", error)
    try:
        await take_reply(request.app.ctx, reply)
    except UnknownTicket as error:
        return _refused("unknown_ticket", error)
    except InboundError as error:
        return _refused("unreadable", error)
    return json({"ok": True, "ticket_id": reply.ticket_id}, status=202)


def _check_token(request: Request, expected: str) -> None:
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    matches = hmac.compare_digest(given.strip().encode(), expected.encode())
    if scheme.lower() != "bearer" or not matches:
        raise Unauthorized("a valid 'Authorization: Bearer <EMAIL_INBOUND_TOKEN>' header is required")


def _refused(code: str, error: InboundError) -> HTTPResponse:
    logger.info("hub.email.inbound_refused", extra={"reason": str(error)})
    return json({"error": code, "message": str(error)}, status=422)
