"""The storefront widget: a session endpoint, the WebSocket the widget talks over, the embeddable script
and a demo storefront page at `/`.

WebSocket protocol (JSON frames):
  client → {"type": "hello", "token": SESSION, "after": LAST_MESSAGE_ID | null}   first frame
           {"type": "message", "text": ..., "client_id": ...}   {"type": "typing"}   {"type": "ping"}
           {"type": "leave"}   stop waiting for a person (the request is kept as a ticket)
  server → {"type": "ready", "conversation_id": ...}   {"type": "message", "id", "author", "text", ...}
           {"type": "ack", "client_id"}   {"type": "status", "owner", "position", ...}
           {"type": "typing", "author"}   {"type": "error", "code", "message"}   {"type": "pong"}
After a reconnect the widget sends the last message id it showed: the server replays what came after it,
and re-sent customer messages are recognised by `client_id`, so nothing is lost or shown twice.
Photos are not sent over the socket: the widget uploads them over HTTP with its session token
(handoff/blueprints/attachments.py), and the stored message comes back as a message frame whose
`attachments` list `{id, content_type, size}`; the widget fetches each with the same token.

A frame the server cannot use (not JSON, not UTF-8, a message with a lone surrogate or nothing visible)
gets an error frame and the socket stays open: closing it would make the widget reconnect and re-send the
same message forever. An error frame that names a `client_id` tells the widget to stop re-sending it.
The assistant learns who is writing only from the signed session (`customer_id` with `verified_by:
"storefront"`) and the connection (`client_address`); nothing in a frame can set them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, file
from sanic.response import json as json_response
from sanic.server.websockets.impl import WebsocketImplProtocol
from sanic_ext.extensions.openapi import openapi
from websockets.exceptions import ConnectionClosed

from handoff import keys
from handoff.blueprints.conversations import is_cursor
from handoff.blueprints.handoffs import withdraw
from handoff.errors import BadRequest, Forbidden, TooManyRequests, Unauthorized, json_object_within
from handoff.fanout import Fanout
from handoff.hub import AlreadyStored, Hub
from handoff.inbound import InvalidText, assistant_metadata, check_message
from handoff.ratelimit import RateLimiter, client_address
from handoff.routing.engine import NotFound, RoutingEngine, RoutingError
from handoff.transcript import Message
from handoff.widget_tokens import SESSION_TTL, sign, verify

logger = logging.getLogger(__name__)

bp = Blueprint("widget")

STATIC = Path(__file__).resolve().parent.parent / "static"
CHANNEL = "web"
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
HELLO_TIMEOUT = 10.0
POLL_SECONDS = 15.0  # a safety net under pub/sub: re-read the transcript this often
SESSIONS_PER_MINUTE = 30
_ERROR = {"application/json": {"error": str, "message": str}}


# -- pages -----------------------------------------------------------------------------------------


@bp.get("/")
async def storefront(request: Request) -> HTTPResponse:
    """A demo storefront with the widget embedded."""
    return await file(STATIC / "index.html", mime_type="text/html; charset=utf-8")


@bp.get("/widget.js")
async def widget_js(request: Request) -> HTTPResponse:
    return await file(STATIC / "widget.js", mime_type="application/javascript; charset=utf-8")


@bp.get("/widget.css")
async def widget_css(request: Request) -> HTTPResponse:
    return await file(STATIC / "widget.css", mime_type="text/css; charset=utf-8")


# -- sessions --------------------------------------------------------------------------------------


def cors(
    request: Request, response: HTTPResponse, methods: str = "POST, OPTIONS", headers: str = "Content-Type"
) -> HTTPResponse:
    """CORS headers for a configured storefront (HUB_ALLOWED_ORIGINS); none for any other origin."""
    origin = request.headers.get("origin")
    if origin and origin in request.app.ctx.settings.allowed_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = headers
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def check_origin(request: Request) -> None:
    """Browsers send Origin on cross-site requests: only the configured storefronts may embed us."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    # Same host is our own page (the scheme may differ behind a TLS-terminating proxy).
    if urlsplit(origin).netloc != request.host and origin not in request.app.ctx.settings.allowed_origins:
        raise Forbidden(f"origin {origin} is not allowed (HUB_ALLOWED_ORIGINS)")


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
    hub: Hub = request.app.ctx.hub
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
        conversation_id = await hub.link_identities(identities, f"web-{uuid.uuid4().hex}")
    elif body.get("token"):
        claims = verify(settings.widget_secret, "session", str(body["token"]))
        conversation_id, customer = str(claims["cid"]), claims.get("sub")
    else:
        conversation_id = f"web-{uuid.uuid4().hex}"
    token = sign(settings.widget_secret, "session", {"cid": conversation_id, "sub": customer}, SESSION_TTL)
    return cors(request, json_response({"token": token, "conversation_id": conversation_id}, status=201))


def session_metadata(request: Request, claims: dict[str, Any]) -> dict[str, Any]:
    """What the assistant is told about a widget customer: only the signed session and the connection."""
    customer = claims.get("sub")
    return assistant_metadata(
        client_address=client_address(request),
        customer_id=str(customer) if customer else None,
        verified_by="storefront" if customer else None,
    )


# -- the live connection ---------------------------------------------------------------------------


class WidgetSession:
    def __init__(
        self, request: Request, ws: WebsocketImplProtocol, claims: dict[str, Any], after: str
    ) -> None:
        self.ws = ws
        self.request = request
        self.hub: Hub = request.app.ctx.hub
        self.engine: RoutingEngine = request.app.ctx.routing
        self.limiter: RateLimiter = request.app.ctx.limiter
        self.redis: Any = request.app.ctx.redis
        self.fanout: Fanout = request.app.ctx.fanout
        self.settings = request.app.ctx.settings
        self.conversation_id = str(claims["cid"])
        self.customer_id = claims.get("sub")
        self.metadata = session_metadata(request, claims)
        self.cursor = after
        self.status: dict[str, Any] = {}
        self.events: asyncio.Queue[dict[str, Any]] | None = None
        self._flush_lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame, ensure_ascii=False))

    async def flush(self) -> None:
        """Send every customer-visible message after the cursor, in order, once."""
        async with self._flush_lock:
            while True:
                batch = await self.hub.history(self.conversation_id, after=self.cursor)
                if not batch:
                    return
                for message in batch:
                    if not message.internal:
                        await self.send(_message_frame(message))
                    self.cursor = message.id

    async def refresh_status(self) -> None:
        try:
            status = (await self.engine.status(self.conversation_id)).as_dict()
        except NotFound:
            status = {"owner": "bot"}
        view = {k: status.get(k) for k in ("owner", "position", "estimated_wait_seconds")}
        if self.events is not None:  # position changes come with the changes of the queue it waits in
            queue = status.get("queue") if status.get("owner") == "queued" else None
            self.fanout.follow_queue(self.events, queue)
        if view != self.status:
            self.status = view
            await self.send({"type": "status", **view})

    async def on_event(self, event: dict[str, Any]) -> None:
        channel = event.get("channel")
        if channel == keys.transcript_events():
            await self.flush()
        elif channel == keys.live_events():
            if event.get("type") == "typing" and event.get("author") != "customer":
                await self.send({"type": "typing", "author": event.get("author")})
        elif event.get("conversation_id") == self.conversation_id or event.get("type") == "queue_changed":
            await self.refresh_status()

    async def events_loop(self, events: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            try:
                event = await asyncio.wait_for(events.get(), POLL_SECONDS)
            except TimeoutError:
                await self.flush()
                continue
            await self.on_event(event)

    async def read_loop(self) -> None:
        while True:
            raw = await self.ws.recv()
            if raw is None:
                continue
            try:
                frame = json.loads(raw)  # a binary frame is decoded as UTF-8 (UnicodeDecodeError: ValueError)
                if not isinstance(frame, dict):
                    raise ValueError
            except (ValueError, RecursionError):
                await self.send({"type": "error", "code": "bad_frame", "message": "frames are JSON objects"})
                continue
            try:
                await self.on_frame(frame)
            except (ConnectionClosed, asyncio.CancelledError):
                raise
            except Exception:
                # The socket outlives one bad frame: a closed socket makes the widget re-send it forever.
                logger.exception("hub.widget.frame_failed", extra={"conversation_id": self.conversation_id})
                await self.send(
                    {"type": "error", "code": "internal_error", "client_id": _client_id(frame),
                     "message": "this could not be handled; please try again"}
                )  # fmt: skip

    async def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            await self.on_message(frame)
        elif kind == "typing":
            event = {"type": "typing", "conversation_id": self.conversation_id, "author": "customer"}
            await self.redis.publish(keys.live_events(), json.dumps(event))
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "leave":
            await self.leave_queue()
        else:
            await self.send({"type": "error", "code": "bad_frame", "message": "unknown frame type"})

    async def leave_queue(self) -> None:
        """The customer stops waiting for a person: the case is kept as a ticket and they are told so."""
        await self.refresh_status()
        if self.status.get("owner") not in ("queued", "offered"):
            await self.send(
                {"type": "error", "code": "not_waiting", "message": "you are not waiting in a queue"}
            )
            return
        with contextlib.suppress(RoutingError):  # an agent accepted a moment ago: the chat goes on
            await withdraw(self.request.app.ctx, self.conversation_id, waiting_only=True)
        await self.refresh_status()

    async def on_message(self, frame: dict[str, Any]) -> None:
        text, client_id = frame.get("text"), frame.get("client_id")
        if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID.match(client_id)):
            await self.send(
                {"type": "error", "code": "bad_frame", "message": "client_id: 1-64 of A-Z a-z 0-9 _ -"}
            )
            return
        try:
            text = check_message(text, max_chars=self.settings.max_message_chars)
        except InvalidText as exc:
            await self.send(
                {"type": "error", "code": "bad_message", "client_id": client_id, "message": str(exc)}
            )
            return
        # A re-send after a reconnect is answered without touching the rate limit; the store itself
        # decides atomically (two sends racing, or a crash between marking and storing, keep it once).
        if client_id and await self.redis.exists(keys.client_message(self.conversation_id, client_id)):
            await self.send({"type": "ack", "client_id": client_id, "duplicate": True})
            return
        try:
            await self.limiter.check("messages", self.conversation_id, self.settings.messages_per_minute, 60)
        except TooManyRequests as exc:
            await self.send(
                {"type": "error", "code": "rate_limited", "client_id": client_id, "message": str(exc),
                 "retry_after": exc.retry_after}
            )  # fmt: skip
            return
        if self.status.get("owner", "bot") == "bot":
            await self.send({"type": "typing", "author": "bot"})
        try:
            await self.hub.customer_message(
                self.conversation_id,
                text,
                CHANNEL,
                self.metadata,
                address=self.conversation_id,
                client_id=client_id,
            )
        except AlreadyStored:
            await self.send({"type": "ack", "client_id": client_id, "duplicate": True})
            return
        await self.send({"type": "ack", "client_id": client_id})


def _client_id(frame: dict[str, Any]) -> str | None:
    """The frame's client id if it is one the widget could have made (safe to echo)."""
    value = frame.get("client_id")
    return value if isinstance(value, str) and CLIENT_ID.match(value) else None


def _message_frame(message: Message) -> dict[str, Any]:
    frame = {
        "type": "message",
        "id": message.id,
        "author": message.author,
        "text": message.text,
        "buttons": message.buttons,
        "ts": message.ts,
        "client_id": message.client_id,
    }
    if message.attachments:
        frame["attachments"] = [
            {k: a.get(k) for k in ("id", "content_type", "size")}
            for a in message.attachments
            if isinstance(a, dict)
        ]
    return frame


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
    session = WidgetSession(request, ws, claims, after)
    async with request.app.ctx.fanout.subscribe(session.conversation_id) as events:
        session.events = events
        await session.send({"type": "ready", "conversation_id": session.conversation_id})
        await session.refresh_status()
        await session.flush()
        tasks = [asyncio.create_task(session.read_loop()), asyncio.create_task(session.events_loop(events))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() and not _closed(task.exception()):
                    logger.warning("hub.widget.failed", exc_info=task.exception())
        finally:
            for task in tasks:
                task.cancel()


def _closed(exc: BaseException | None) -> bool:
    return isinstance(exc, ConnectionClosed | asyncio.CancelledError)
