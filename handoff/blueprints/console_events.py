"""The console's live event WebSocket: offers, chats, messages and dashboards for the signed-in user, each
only what that user may see (docs/console.md). Events arrive through the worker's fan-out of Redis
pub/sub (handoff/fanout.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import logging
import time
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.server.websockets.impl import WebsocketImplProtocol

from handoff import keys
from handoff.accounts import SESSION_COOKIE
from handoff.blueprints.console_common import CONSOLE_SECTION, accounts_of, inbox_of, same_origin
from handoff.blueprints.conversations import holds
from handoff.errors import Unauthorized
from handoff.identity import Principal
from handoff.routing.engine import EVENTS_CHANNEL

logger = logging.getLogger(__name__)

# Sanic wraps a socket's handler when it registers the route, so the API reference files the socket under
# its blueprint's name, which is therefore the console section's.
bp = Blueprint(CONSOLE_SECTION)

SESSION_CHECK_SECONDS = 5.0  # a socket notices a logout or password change this quickly
MAX_WATCHED = 200  # conversation ids in one watch frame
# Routing events an agent receives about their own offers and chats (supervisors receive all), and the
# few every agent gets so their lists refresh; none of these names a conversation that is not theirs.
OWN_EVENTS = {"offer", "accepted", "declined", "offer_expired", "presence", "released", "assigned"}
SHARED_EVENTS = {"queue_changed", "ticket"}


@bp.websocket("/ws/console")  # type: ignore[untyped-decorator]
async def console_events(request: Request, ws: WebsocketImplProtocol) -> None:
    """Notifications for the signed-in user (docs/console.md): offers, chats, messages, dashboards."""
    if not same_origin(request):
        await _close(ws, "this socket only serves the console's own origin")
        return
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        if not cookie:
            raise Unauthorized("not signed in")
        session = await accounts_of(request).session(cookie)
    except Unauthorized as exc:
        await _close(ws, str(exc))
        return
    await ConsoleSocket(request, ws, session.principal, cookie).run()


async def _close(ws: Any, message: str) -> None:
    with contextlib.suppress(Exception):
        await ws.send(jsonlib.dumps({"type": "error", "message": message}))
        await ws.close(code=4401, reason="unauthorized")


class ConsoleSocket:
    def __init__(self, request: Request, ws: Any, who: Principal, cookie: str) -> None:
        self.request = request
        self.ws = ws
        self.who = who
        self.cookie = cookie

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(jsonlib.dumps(event, ensure_ascii=False))

    async def run(self) -> None:
        who = self.who
        async with self.request.app.ctx.fanout.subscribe_many() as watch:
            # Subscribed before "hello": a client that acts on hello misses none of the events it causes.
            await self.send(
                {"type": "hello", "user_id": who.user_id, "role": who.role.value, "agent_id": who.agent_id}
            )
            reader = asyncio.create_task(self._read(watch))
            checked = time.monotonic()
            try:
                while not reader.done():
                    event = None
                    with contextlib.suppress(TimeoutError):
                        event = await asyncio.wait_for(watch.queue.get(), SESSION_CHECK_SECONDS)
                    if time.monotonic() - checked >= SESSION_CHECK_SECONDS:
                        # Signing out or a password change ends the session; its sockets end with it.
                        if not await accounts_of(self.request).alive(self.cookie):
                            await _close(self.ws, "your session has ended; sign in again")
                            break
                        checked = time.monotonic()
                    if event is None:
                        continue
                    for out in self._translate(event, watch.conversations):
                        if out["type"] in ("released", "offer_closed") and not who.is_staff:
                            watch.set(watch.conversations - {out["conversation_id"]})
                        await self.send(out)
            except Exception:  # the socket went away; nothing to clean up beyond the subscription
                logger.debug("hub.console.socket_closed", exc_info=True)
            finally:
                reader.cancel()
                await asyncio.wait({reader}, timeout=1.0)

    async def _read(self, watch: Any) -> None:
        async for raw in self.ws:
            try:
                frame = jsonlib.loads(raw)
            except (TypeError, ValueError):
                await self.send({"type": "error", "message": "frames must be JSON objects"})
                continue
            kind = frame.get("type") if isinstance(frame, dict) else None
            if kind == "ping":
                await self.send({"type": "pong"})
            elif kind == "watch":
                ids = frame.get("conversation_ids")
                if (
                    not isinstance(ids, list)
                    or len(ids) > MAX_WATCHED
                    or not all(isinstance(i, str) for i in ids)
                ):
                    await self.send({"type": "error", "message": "'conversation_ids' must be a list of ids"})
                    continue
                allowed = [cid for cid in ids if await self._may_watch(cid)]
                watch.set(allowed)
                await self.send({"type": "watching", "conversation_ids": allowed})
            else:
                await self.send({"type": "error", "message": "unknown frame type"})

    async def _may_watch(self, conversation_id: str) -> bool:
        if len(conversation_id) > 128:
            return False
        if self.who.is_staff:
            return True
        return holds(self.who, await inbox_of(self.request).holder(conversation_id))

    def _translate(self, event: dict[str, Any], watched: frozenset[str]) -> list[dict[str, Any]]:
        # The same event object goes to every reader in this worker: read it, never change it.
        channel = event.get("channel")
        cid = event.get("conversation_id")
        if channel == keys.transcript_events():
            return [{"type": "message", "conversation_id": cid}] if cid in watched else []
        if channel == keys.live_events():
            if cid in watched and event.get("type") == "typing" and event.get("author") == "customer":
                return [{"type": "typing", "conversation_id": cid, "author": "customer"}]
            return []
        if channel != EVENTS_CHANNEL:
            return []
        kind = event.get("type")
        mine = self.who.agent_id is not None and event.get("agent_id") == self.who.agent_id
        if not (self.who.is_staff or (mine and kind in OWN_EVENTS) or kind in SHARED_EVENTS):
            return []
        closed = {"accepted": "accepted", "declined": "declined", "offer_expired": "expired"}
        if kind in closed:
            out = [{"type": "offer_closed", "conversation_id": cid, "agent_id": event.get("agent_id"),
                    "reason": closed[str(kind)]}]  # fmt: skip
            if kind == "accepted":
                out.append({"type": "assigned", "conversation_id": cid, "agent_id": event.get("agent_id")})
            return out
        return [{k: v for k, v in event.items() if k != "channel"}]
