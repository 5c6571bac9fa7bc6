"""Proactive messages (docs/proactive.md): the shop backend's signed order webhook, and each customer's
opt-out, which the team sets when a customer asks and a signed-in customer sets from the storefront."""

from __future__ import annotations

import html
import logging
import time
from datetime import UTC, datetime
from urllib.parse import quote

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic.response import html as html_response

from common.webhook_signature import SignatureError, verify
from handoff.channels.widget.origins import check_origin, cors
from handoff.errors import BadRequest, NotFoundError, Unauthorized, Unavailable, json_object, read_body
from handoff.identity import STAFF, Role, require
from handoff.openapi_docs import TEAM_READ, TEAM_WRITE, WIDGET, boolean, documented, obj, string
from handoff.proactive import unsubscribe
from handoff.proactive.events import EventError, parse_event
from handoff.proactive.store import ProactiveStore
from handoff.widget_tokens import verify as verify_token

logger = logging.getLogger(__name__)

bp = Blueprint("proactive")

MAX_EVENT_BYTES = 64 * 1024  # one order's event; a real one is under 2 KB
CUSTOMER_ID_MAX = 128
SIGNATURE_HEADER = "X-Signature"


def _store(request: Request) -> ProactiveStore:
    store: ProactiveStore = request.app.ctx.proactive_store
    return store


@bp.post("/webhooks/orders", stream=True)
@documented(
    security=[],
    ok=202,
    body=obj(description="An order event (docs/proactive.md), signed in the X-Signature header"),
    errors=(400, 401, 409, 413, 503),
)
async def order_event(request: Request) -> HTTPResponse:
    """An order event from the shop backend: checked (401 unsigned or wrongly signed, 400 malformed, 409
    an event id already taken), stored, and the order looked at for proactive messages at once."""
    secret = request.app.ctx.settings.order_webhook_secret
    if not secret:
        raise Unavailable("order events are off: set ORDER_WEBHOOK_SECRET")
    body = await read_body(request, MAX_EVENT_BYTES)
    now = time.time()
    try:
        verify(secret, request.headers.get(SIGNATURE_HEADER), body, now)
    except SignatureError as error:
        logger.warning("hub.orders.webhook_refused", extra={"reason": error.reason})
        raise Unauthorized(str(error)) from None
    try:
        event = parse_event(body)
    except EventError as error:
        raise BadRequest(str(error), field=error.field) from None
    if not await _store(request).record(event, datetime.fromtimestamp(now, UTC)):
        return json(
            {"error": "duplicate_event", "message": f"event {event.event_id} was received before"}, status=409
        )
    request.app.ctx.proactive_wake.set()  # this worker's scheduler looks now if it holds the lease
    logger.info("hub.orders.event", extra={"event_id": event.event_id, "order_id": event.order.id})
    return json({"event_id": event.event_id, "accepted": True}, status=202)


def _customer(customer_id: str) -> str:
    if not customer_id or len(customer_id) > CUSTOMER_ID_MAX or not customer_id.isprintable():
        raise BadRequest(f"a customer id is 1-{CUSTOMER_ID_MAX} printable characters", field="customer_id")
    return customer_id


OPT_OUT = obj({"customer_id": string(), "opted_out": boolean()})


@bp.get("/api/customers/<customer_id>/proactive")
@documented(security=TEAM_READ, ok_schema=OPT_OUT, errors=(400, 401, 403))
async def get_opt_out(request: Request, customer_id: str) -> HTTPResponse:
    """Whether the customer has opted out of proactive messages."""
    await require(request, Role.AGENT, *STAFF)
    customer_id = _customer(customer_id)
    return json({"customer_id": customer_id, "opted_out": await _store(request).opted_out(customer_id)})


@bp.put("/api/customers/<customer_id>/proactive")
@documented(
    security=TEAM_WRITE, body=obj({"opted_out": boolean()}, required=["opted_out"]), ok_schema=OPT_OUT
)
async def set_opt_out(request: Request, customer_id: str) -> HTTPResponse:
    """Opt the customer out of proactive messages (or back in), as they asked the team to; honoured on
    every channel from the next message on."""
    who = await require(request, Role.AGENT, *STAFF)
    customer_id = _customer(customer_id)
    opted_out = _flag(json_object(request))
    await _set(request, customer_id, opted_out, who.user_id)
    return json({"customer_id": customer_id, "opted_out": opted_out})


@bp.options("/api/widget/proactive")
async def widget_opt_out_preflight(request: Request) -> HTTPResponse:
    check_origin(request)
    return cors(request, HTTPResponse(status=204))


@bp.put("/api/widget/proactive")
@documented(
    security=WIDGET,
    body=obj({"token": string(), "opted_out": boolean()}, required=["token", "opted_out"]),
    ok_schema=OPT_OUT,
    errors=(400, 401, 404),
)
async def widget_opt_out(request: Request) -> HTTPResponse:
    """A signed-in customer's own choice, with their widget session token."""
    check_origin(request)
    body = json_object(request)
    claims = verify_token(request.app.ctx.settings.widget_secret, "session", str(body.get("token", "")))
    customer_id = claims.get("sub")
    if not customer_id:
        raise NotFoundError("no_customer", "only a signed-in customer has proactive messages to opt out of")
    opted_out = _flag(body)
    await _set(request, str(customer_id), opted_out, "customer")
    return cors(request, json({"customer_id": customer_id, "opted_out": opted_out}))


def _flag(body: dict[str, object]) -> bool:
    value = body.get("opted_out")
    if not isinstance(value, bool):
        raise BadRequest("opted_out must be true or false", field="opted_out")
    return value


async def _set(request: Request, customer_id: str, opted_out: bool, actor: str) -> None:
    store = _store(request)
    await (store.opt_out(customer_id) if opted_out else store.opt_in(customer_id))
    logger.info(
        "hub.proactive.opt_out", extra={"customer_id": customer_id, "opted_out": opted_out, "by": actor}
    )


# -- one-click unsubscribe from proactive emails (handoff/proactive/unsubscribe.py) -----------------------

UNSUBSCRIBE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Order updates</title></head>
<body><main>{body}</main></body></html>
"""
ASK = """<h1>Stop order updates? / 退订订单提醒？</h1>
<p>We will no longer send you messages about your orders before you ask: not by email, not in the chat.
Answers to your own questions are not affected.</p>
<p>我们将不再主动向您发送订单提醒（邮件和在线客服均不再发送）。您主动咨询的回复不受影响。</p>
<form method="post" action="/unsubscribe?token={token}">
<button type="submit">Unsubscribe / 退订</button></form>
"""
DONE = """<h1>Unsubscribed / 已退订</h1>
<p>You will not get order updates from us any more. / 您将不再收到我们的订单提醒。</p>
"""


def _link_customer(request: Request) -> tuple[str, str]:
    token = request.args.get("token", "")
    if not token:
        raise Unauthorized("the unsubscribe link has no token")
    return unsubscribe.customer_in(request.app.ctx.settings.widget_secret, token), token


@bp.get("/unsubscribe")
@documented(security=[], errors=(401,), ok_description="A page with the button that unsubscribes")
async def unsubscribe_page(request: Request) -> HTTPResponse:
    """The link in a proactive email: a page asking to confirm. Opening it changes nothing, since mail
    scanners open links; the button posts."""
    _, token = _link_customer(request)
    body = ASK.format(token=html.escape(quote(token, safe=""), quote=True))
    return html_response(UNSUBSCRIBE_PAGE.format(body=body))


@bp.post("/unsubscribe")
@documented(security=[], body_required=False, errors=(401,), ok_description="Unsubscribed")
async def unsubscribe_now(request: Request) -> HTTPResponse:
    """One click (RFC 8058: mail clients post `List-Unsubscribe=One-Click` here) or the page's button:
    the customer gets no more proactive messages, on any channel."""
    customer_id, _ = _link_customer(request)
    await _set(request, customer_id, True, "email_link")
    return html_response(UNSUBSCRIBE_PAGE.format(body=DONE))
