"""The widget's Sanic blueprint: the demo storefront and the widget's files, the session endpoint, and the
WebSocket (protocol: `handoff.channels.widget`)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response
from sanic.server.websockets.impl import WebsocketImplProtocol
from sanic_ext.extensions.openapi import openapi

from handoff.channels.widget.connection import WidgetConnection
from handoff.channels.widget.origins import check_origin, cors
from handoff.channels.widget.sessions import issue_session
from handoff.errors import BadRequest, Forbidden, Unauthorized, json_object_within
from handoff.ratelimit import RateLimiter, client_address
from handoff.static_files import serve_file
from handoff.transcript import is_cursor
from handoff.widget_tokens import verify

bp = Blueprint("widget")

STATIC = Path(__file__).resolve().parents[2] / "static"
HELLO_TIMEOUT = 10.0
SESSIONS_PER_MINUTE = 30
_ERROR = {"application/json": {"error": str, "message": str}}


# -- pages -----------------------------------------------------------------------------------------


@bp.get("/")
async def storefront(request: Request) -> HTTPResponse:
    """A demo storefront with the widget embedded."""
    return await serve_file(STATIC / "index.html", "text/html; charset=utf-8")


@bp.get("/widget.js")
async def widget_js(request: Request) -> HTTPResponse:
    return await serve_file(STATIC / "widget.js", "application/javascript; charset=utf-8")


@bp.get("/widget.css")
async def widget_css(request: Request) -> HTTPResponse:
    return await serve_file(STATIC / "widget.css", "text/css; charset=utf-8")


# -- sessions --------------------------------------------------------------------------------------


@bp.options("/api/widget/session")
async def session_preflight(request: Request) -> HTTPResponse:
    check_origin(request)
    return cors(request, HTTPResponse(status=204))


@bp.post("/api/widget/session", stream=True)  # streamed: a body over the limit is never read whole
@openapi.definition(
    body=openapi.definitions.RequestBody(
        {"application/json": {"token": str, "identity": str}},
        description="Empty for a new conversation; `token` to renew a session; `identity` (the storefront "
        "backend's assertion) for a logged-in customer's one conversation. At most HUB_MAX_BODY_BYTES.",
    ),
    response=[
        openapi.definitions.Response(
            {"application/json": {"token": str, "conversation_id": str}}, status=201
        ),
        *(openapi.definitions.Response(_ERROR, status=status) for status in (400, 401, 403, 413, 429)),
    ],
)
async def create_session(request: Request) -> HTTPResponse:
    """A session token for the widget: a new conversation, the same one again (`token`), or a logged-in
    customer's one conversation (`identity`, minted by the storefront backend)."""
    check_origin(request)
    settings = request.app.ctx.settings
    limiter: RateLimiter = request.app.ctx.limiter
    await limiter.check("session", client_address(request), SESSIONS_PER_MINUTE, 60)
    body = await json_object_within(request, settings.max_body_bytes)
    token, conversation_id = await issue_session(request.app.ctx.hub, settings, body)
    return cors(request, json_response({"token": token, "conversation_id": conversation_id}, status=201))


# -- the live connection ---------------------------------------------------------------------------


@bp.websocket("/ws/widget")  # type: ignore[untyped-decorator]
async def widget_socket(request: Request, ws: WebsocketImplProtocol) -> None:
    try:
        check_origin(request)
        raw = await ws.recv(timeout=HELLO_TIMEOUT)
        hello = json.loads(raw) if raw else None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            raise BadRequest("the first frame must be {'type': 'hello', 'token': ...}")
        claims = verify(request.app.ctx.settings.widget_secret, "session", str(hello.get("token", "")))
        after = hello.get("after") or "-"
        if not is_cursor(after):
            raise BadRequest("'after' must be a message id")
    except (BadRequest, Unauthorized, Forbidden, ValueError, RecursionError) as exc:
        with contextlib.suppress(Exception):
            await ws.send(json.dumps({"type": "error", "code": "unauthorized", "message": str(exc)}))
        await ws.close(4001, "unauthorized")
        return
    await WidgetConnection(request, ws, claims, after).run()
