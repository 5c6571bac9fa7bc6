"""One live widget socket, after its hello.

Inbound, each message frame becomes a `CustomerMessage` (`frames`) posted to the hub, answered with an
ack; typing, ping and leave frames are answered here. Outbound, the widget is a pull channel: the socket
follows the conversation through the app's fan-out (`handoff.fanout`) and sends whatever the transcript
holds after its cursor, in order, once; a poll every POLL_SECONDS covers a missed announcement. It also
sends the routing status (owner, queue position) as it changes, and agents' typing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from sanic.request import Request
from sanic.server.websockets.impl import WebsocketImplProtocol
from websockets.exceptions import ConnectionClosed

from handoff import keys
from handoff.channels.widget.frames import (
    FrameRefused,
    customer_message,
    echoable_client_id,
    message_frame,
    parse_frame,
)
from handoff.channels.widget.sessions import session_metadata
from handoff.errors import TooManyRequests
from handoff.fanout import Fanout
from handoff.hub import AlreadyStored, Hub
from handoff.lifecycle import HandoffLifecycle
from handoff.ratelimit import RateLimiter
from handoff.routing.engine import NotFound, RoutingEngine, RoutingError

logger = logging.getLogger(__name__)

POLL_SECONDS = 15.0  # a safety net under pub/sub: re-read the transcript this often


class WidgetConnection:
    def __init__(
        self, request: Request, ws: WebsocketImplProtocol, claims: dict[str, Any], after: str
    ) -> None:
        self.ws = ws
        self.hub: Hub = request.app.ctx.hub
        self.engine: RoutingEngine = request.app.ctx.routing
        self.lifecycle: HandoffLifecycle = request.app.ctx.lifecycle
        self.limiter: RateLimiter = request.app.ctx.limiter
        self.fanout: Fanout = request.app.ctx.fanout
        self.settings = request.app.ctx.settings
        self.conversation_id = str(claims["cid"])
        self.metadata = session_metadata(request, claims)
        self.cursor = after
        self.status: dict[str, Any] = {}
        self.events: asyncio.Queue[dict[str, Any]] | None = None
        self._flush_lock = asyncio.Lock()

    async def run(self) -> None:
        """Serve the socket until it closes: ready, the status, what it missed, then frames and events."""
        async with self.fanout.subscribe(self.conversation_id) as events:
            self.events = events
            await self.send({"type": "ready", "conversation_id": self.conversation_id})
            await self.refresh_status()
            await self.flush()
            tasks = [asyncio.create_task(self.read_loop()), asyncio.create_task(self.events_loop(events))]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() and not _closed(task.exception()):
                        logger.warning("hub.widget.failed", exc_info=task.exception())
            finally:
                for task in tasks:
                    task.cancel()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame, ensure_ascii=False))

    # -- outbound -----------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Send every customer-visible message after the cursor, in order, once."""
        async with self._flush_lock:
            while True:
                batch = await self.hub.history(self.conversation_id, after=self.cursor)
                if not batch:
                    return
                for message in batch:
                    if not message.internal:
                        await self.send(message_frame(message))
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

    # -- inbound ------------------------------------------------------------------------------------

    async def read_loop(self) -> None:
        while True:
            raw = await self.ws.recv()
            if raw is None:
                continue
            try:
                frame = parse_frame(raw)
            except FrameRefused as refused:
                await self.send(refused.frame)
                continue
            try:
                await self.on_frame(frame)
            except (ConnectionClosed, asyncio.CancelledError):
                raise
            except Exception:
                # The socket outlives one bad frame: a closed socket makes the widget re-send it forever.
                logger.exception("hub.widget.frame_failed", extra={"conversation_id": self.conversation_id})
                await self.send(
                    {"type": "error", "code": "internal_error", "client_id": echoable_client_id(frame),
                     "message": "this could not be handled; please try again"}
                )  # fmt: skip

    async def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            await self.on_message(frame)
        elif kind == "typing":
            await self.lifecycle.customer_typing(self.conversation_id)
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
            await self.lifecycle.withdraw(self.conversation_id, waiting_only=True)
        await self.refresh_status()

    async def on_message(self, frame: dict[str, Any]) -> None:
        try:
            message = customer_message(
                frame, self.conversation_id, self.metadata, self.settings.max_message_chars
            )
        except FrameRefused as refused:
            await self.send(refused.frame)
            return
        client_id = message.client_id
        # A re-send after a reconnect is answered without touching the rate limit; the store itself
        # decides atomically (two sends racing, or a crash between marking and storing, keep it once).
        if client_id and await self.hub.already_stored(self.conversation_id, client_id):
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
            await self.hub.receive(message)  # the answer comes back through the transcript
        except AlreadyStored:
            await self.send({"type": "ack", "client_id": client_id, "duplicate": True})
            return
        await self.send({"type": "ack", "client_id": client_id})


def _closed(exc: BaseException | None) -> bool:
    return isinstance(exc, ConnectionClosed | asyncio.CancelledError)
