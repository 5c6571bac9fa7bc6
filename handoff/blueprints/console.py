"""The agent console: its page, sign-in sessions and users, the agent's inbox, quick replies, knowledge-base
suggestions, the supervisor overview, and the live event WebSocket (docs/console.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, file, json
from sanic.server.websockets.impl import WebsocketImplProtocol

from handoff import keys, service_level
from handoff.accounts import SESSION_COOKIE, Accounts, check_password
from handoff.blueprints.conversations import conversation_for, holds
from handoff.blueprints.routing import RETURN_FLOWS
from handoff.errors import BadRequest, Forbidden, NotFoundError, Unauthorized, Unavailable, json_object
from handoff.identity import STAFF, Principal, Role, principal, require
from handoff.inbound import BlankText, InboundError, normalise_text
from handoff.openapi_docs import (
    SESSION_READ,
    SESSION_WRITE,
    TEAM_READ,
    TEAM_WRITE,
    array,
    documented,
    integer,
    obj,
    query,
    string,
)
from handoff.quick_replies import context_from_conversation
from handoff.routing.engine import EVENTS_CHANNEL, RoutingEngine
from handoff.transcript import Message

logger = logging.getLogger(__name__)

bp = Blueprint("console")

# The page's Content-Security-Policy (no inline script or style, so a stored payload that slipped past
# escaping still could not run) and the other security headers come from handoff/security_headers.py.
STATIC = Path(__file__).resolve().parent.parent / "static"
MAX_QUERY = 500
LOGINS_PER_MINUTE = 30  # per client address
SESSION_CHECK_SECONDS = 5.0  # a socket notices a logout or password change this quickly
SUGGESTIONS = 3
HELLO_TIMEOUT = 10.0
KEEPALIVE_SECONDS = 25.0
# Routing events an agent receives about their own offers and chats (supervisors receive all), and the
# few every agent gets so their lists refresh; none of these names a conversation that is not theirs.
OWN_EVENTS = {"offer", "accepted", "declined", "offer_expired", "presence", "released", "assigned"}
SHARED_EVENTS = {"queue_changed", "ticket"}


def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.ctx.accounts
    return accounts


def _engine(request: Request) -> RoutingEngine:
    engine: RoutingEngine = request.app.ctx.routing
    return engine


def same_origin(request: Request) -> bool:
    """True when the Origin header (if any) names this service, scheme included: browsers always send it
    cross-site. Behind a TLS proxy (HUB_COOKIE_SECURE=1) the public scheme is https."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    scheme = "https" if request.app.ctx.settings.cookie_secure else request.scheme.replace("ws", "http")
    return bool(parts.netloc == request.host and parts.scheme == scheme)


# -- the page --------------------------------------------------------------------------------------


async def _static(name: str, mime: str, *, no_store: bool = False) -> HTTPResponse:
    # Cache-Control comes from file() alone ("no-cache" unless no_store): a header of our own would be
    # added beside it, not instead of it.
    return await file(STATIC / name, mime_type=mime, no_store=no_store)


@bp.get("/console")
async def console_page(request: Request) -> HTTPResponse:
    """The console for agents, supervisors, admins and editors."""
    return await _static("console.html", "text/html; charset=utf-8", no_store=True)


@bp.get("/console/console.js")
async def console_js(request: Request) -> HTTPResponse:
    return await _static("console.js", "application/javascript; charset=utf-8")


@bp.get("/console/console.css")
async def console_css(request: Request) -> HTTPResponse:
    return await _static("console.css", "text/css; charset=utf-8")


# -- sessions and users ----------------------------------------------------------------------------


@bp.post("/api/session")
@documented(
    security=None,
    body=obj({"user_id": string(), "password": string()}, required=["user_id", "password"]),
    errors=(400, 401, 403, 429),
    ok_description="Signed in: the session cookie is set; the body holds the CSRF token",
)
async def login(request: Request) -> HTTPResponse:
    """Sign in with {user_id, password}: sets the session cookie and returns the CSRF token.

    Accepts only JSON from this origin, so another site cannot sign a visitor in to an account of its
    choosing (login CSRF): a cross-site form cannot send JSON, and cross-site fetches carry an Origin."""
    if not same_origin(request):
        raise Forbidden("sign-in is only accepted from the console's own origin")
    if (request.content_type or "").split(";")[0].strip() != "application/json":
        raise BadRequest("send the credentials as application/json")
    # Per address as well as per user id: cycling user ids must not buy unlimited password hashing.
    await request.app.ctx.limiter.check("login", request.remote_addr or request.ip, LOGINS_PER_MINUTE, 60)
    body = json_object(request)
    token, session = await _accounts(request).login(body.get("user_id"), body.get("password"))
    response = json(session.as_dict())
    response.add_cookie(
        SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.app.ctx.settings.cookie_secure,
    )  # no Max-Age: the server's sliding idle timeout decides when a session ends
    logger.info("hub.console.login", extra={"user_id": session.user.user_id})
    return response


@bp.get("/api/session")
@documented(security=SESSION_READ, errors=(401,))
async def current_session(request: Request) -> HTTPResponse:
    """The signed-in user and the session's CSRF token (for a page that was reloaded)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthorized("not signed in")
    return json((await _accounts(request).session(cookie)).as_dict())


@bp.delete("/api/session")
@documented(security=SESSION_WRITE, errors=(403,))
async def logout(request: Request) -> HTTPResponse:
    """Ends the session (CSRF token required while it lives); always clears the cookie."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            await principal(request)
        except Unauthorized:
            pass  # already ended: nothing to protect, only the stale cookie to clear
        else:
            await _accounts(request).logout(cookie)
    response = json({"signed_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@bp.post("/api/users")
@documented(
    security=TEAM_WRITE,
    ok=201,
    body=obj(
        {
            "id": string(pattern=r"^[a-z0-9_.@-]{1,64}$"),
            "name": string(nullable=True),
            "password": string(),
            "role": string(enum=["agent", "supervisor", "admin", "editor"]),
            "agent_id": string(nullable=True, description="For agents"),
            "language": string(nullable=True, enum=["en", "zh"]),
        },
        required=["id", "password", "role"],
    ),
    errors=(400, 401, 403, 409),
)
async def create_user(request: Request) -> HTTPResponse:
    """Create a console user: {id, name, password, role, agent_id (agents), language}."""
    await require(request, Role.ADMIN)
    body = json_object(request)
    try:
        role = Role(str(body.get("role", "")))
    except ValueError:
        raise BadRequest("'role' must be agent, supervisor, admin or editor", field="role") from None
    for field in ("name", "agent_id", "language"):
        if body.get(field) is not None and not isinstance(body[field], str):
            raise BadRequest(f"'{field}' must be a string", field=field)
    user = await _accounts(request).create_user(
        body.get("id"),  # type: ignore[arg-type]  # validated by create_user
        check_password(body.get("password")),
        role,
        name=_clean_display_name(body.get("name")),
        agent_id=body.get("agent_id"),
        language=body.get("language") or "en",
    )
    return json(user.as_dict(), status=201)


def _clean_display_name(name: str | None) -> str | None:
    """A display name as colleagues (and, in quick replies, customers) read it: normalised like customer
    text and on one line. None, so the user id is shown, when nothing visible is left; a lone surrogate
    is a 400 naming 'name'."""
    if not name:
        return None
    try:
        return " ".join(normalise_text(name).split())
    except BlankText:
        return None
    except InboundError as exc:  # a 400 (handoff/errors.py) that names the field
        raise type(exc)(str(exc), "name") from None


@bp.get("/api/users")
@documented(security=TEAM_READ, ok_schema=array(obj()), errors=(401, 403))
async def list_users(request: Request) -> HTTPResponse:
    await require(request, Role.ADMIN)
    return json([u.as_dict() for u in await _accounts(request).users()])


@bp.put("/api/users/<user_id>/password")
@documented(
    security=TEAM_WRITE,
    body=obj(
        {"password": string(), "current_password": string(description="Required unless an admin sets it")},
        required=["password"],
    ),
    errors=(400, 401, 403, 404),
)
async def change_password(request: Request, user_id: str) -> HTTPResponse:
    """A user changes their own password (with `current_password`); an admin sets anyone's. Every session
    of that user ends."""
    who = await require(request, Role.AGENT, Role.EDITOR, *STAFF)
    body = json_object(request)
    accounts = _accounts(request)
    if who.role is not Role.ADMIN:
        if who.user_id != user_id:
            raise Forbidden("you can only change your own password")
        current = body.get("current_password")
        if not isinstance(current, str) or not await accounts.verify_password(user_id, current):
            raise Forbidden("'current_password' is wrong")
    await accounts.set_password(user_id, check_password(body.get("password")))
    return json({"user_id": user_id, "sessions_ended": True})


# -- the agent's inbox -----------------------------------------------------------------------------

_INBOX_FIELDS = (
    "owner", "offer_agent", "offer_expires", "decision", "agent", "assigned_at", "language", "skill",
    "channel", "customer_id",
)  # fmt: skip


@bp.get("/api/console/inbox")
@documented(security=TEAM_READ, errors=(401, 403, 404))
async def inbox(request: Request) -> HTTPResponse:
    """The agent's offers (with expiry) and held chats; for a supervisor without an agent, none."""
    who = await require(request, Role.AGENT, *STAFF)
    if not who.agent_id:
        return json({"agent": None, "offers": [], "chats": []})
    redis: Any = request.app.ctx.redis
    agent = await _engine(request).get_agent(who.agent_id)
    ids = sorted(await redis.smembers(f"hub:agent:{who.agent_id}:chats"))
    async with redis.pipeline(transaction=False) as pipe:
        for cid in ids:
            pipe.hmget(keys.conversation(cid), *_INBOX_FIELDS)
            pipe.get(keys.handoff_packet(cid))
        rows = await pipe.execute()
    offers, chats = [], []
    for cid, values, packet_raw in zip(ids, rows[::2], rows[1::2], strict=True):
        row = dict(zip(_INBOX_FIELDS, values, strict=True))
        reason = _packet_field(packet_raw, "reason")
        common = {
            "conversation_id": cid,
            "language": row["language"],
            "skill": row["skill"],
            "reason": reason,
        }
        if row["owner"] == "offered" and row["offer_agent"] == who.agent_id:
            expires = float(row["offer_expires"] or 0)
            offers.append({**common, "decision_id": row["decision"], "expires_at": expires})
        elif row["owner"] == "agent" and row["agent"] == who.agent_id:
            chats.append(
                {
                    **common,
                    "channel": row["channel"],
                    "customer_id": row["customer_id"],
                    "assigned_at": float(row["assigned_at"] or 0),
                }
            )
    chats.sort(key=lambda c: c["assigned_at"])
    return json({"agent": agent.as_dict(), "offers": offers, "chats": chats})


def _packet_field(raw: str | None, field: str) -> Any:
    if not raw:
        return None
    with contextlib.suppress(ValueError):
        packet = jsonlib.loads(raw)
        if isinstance(packet, dict):
            return packet.get(field)
    return None


@bp.get("/api/console/flows")
@documented(security=TEAM_READ, ok_schema=array(string()), errors=(401, 403))
async def flows(request: Request) -> HTTPResponse:
    """Flows an agent can hand a conversation back into."""
    await require(request, Role.AGENT, *STAFF)
    return json(sorted(RETURN_FLOWS))


# -- quick replies and knowledge -------------------------------------------------------------------


def _language(value: str | None, field: str = "lang") -> str | None:
    if value in (None, ""):
        return None
    if value not in ("en", "zh"):
        raise BadRequest(f"'{field}' must be en or zh", field=field)
    return value


def _limit(request: Request, default: int, high: int) -> int:
    raw = request.args.get("limit", str(default))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= high:
        raise BadRequest(f"'limit' must be 1-{high}", field="limit")
    return int(raw)


@bp.get("/api/quick-replies")
@documented(
    security=TEAM_READ,
    ok_schema=array(obj()),
    params=[
        query("q", string(maxLength=MAX_QUERY), "Matches shortcut, title or text"),
        query("lang", string(enum=["en", "zh"])),
        query("limit", integer(minimum=1, maximum=100), "Default 20"),
    ],
)
async def quick_replies(request: Request) -> HTTPResponse:
    """Templates matching `q` (shortcut, title or text), in `lang` when given."""
    await require(request, Role.AGENT, Role.EDITOR, *STAFF)
    query = request.args.get("q", "")
    if len(query) > MAX_QUERY:
        raise BadRequest(f"'q' is longer than {MAX_QUERY} characters", field="q")
    found = request.app.ctx.quick_replies.search(
        query, _language(request.args.get("lang")), _limit(request, 20, 100)
    )
    return json(
        [
            {
                "id": t.id,
                "language": t.language,
                "shortcut": t.shortcut,
                "title": t.title,
                "category": t.category,
                "text": t.text,
                "variables": list(t.variables),
            }
            for t in found
        ]
    )


@bp.get("/api/conversations/<conversation_id>/variables")
@documented(security=TEAM_READ, errors=(400, 401, 403, 404))
async def variables(request: Request, conversation_id: str) -> HTTPResponse:
    """Values for quick-reply variables known from the conversation; the rest the agent fills in."""
    who, _ = await conversation_for(request, conversation_id)
    packet_raw = await request.app.ctx.redis.get(keys.handoff_packet(conversation_id))
    packet = jsonlib.loads(packet_raw) if packet_raw else None
    return json({"variables": context_from_conversation(packet, await _display_name(request, who))})


async def _display_name(request: Request, who: Principal) -> str:
    if who.agent_id:
        with contextlib.suppress(NotFoundError):
            return (await _engine(request).get_agent(who.agent_id)).name
    with contextlib.suppress(NotFoundError):
        return (await _accounts(request).get_user(who.user_id)).name
    return who.user_id


async def _kb_search(request: Request, query: str, language: str) -> dict[str, Any]:
    from kb_index.manifest import IndexLoadError  # heavy: loaded on the first search
    from kb_index.retriever import KnowledgeBaseUnavailable

    kb = request.app.ctx.knowledge()
    try:
        result = await kb.search(query, language, top_k=SUGGESTIONS)
    except (KnowledgeBaseUnavailable, IndexLoadError) as exc:
        raise Unavailable(f"the knowledge base is not available: {exc}") from None
    return {
        "query": query,
        "language": language,
        "version": result.version,
        "miss": result.miss,
        "hits": [{k: v for k, v in hit.to_json().items() if k in _HIT_FIELDS} for hit in result.hits],
    }


_HIT_FIELDS = ("article_id", "title", "answer", "score", "language", "category", "version", "excerpt")


@bp.get("/api/conversations/<conversation_id>/suggestions")
@documented(security=TEAM_READ, errors=(400, 401, 403, 404, 503))
async def suggestions(request: Request, conversation_id: str) -> HTTPResponse:
    """Knowledge-base articles for the customer's latest message, in the conversation's language."""
    _, info = await conversation_for(request, conversation_id)
    redis: Any = request.app.ctx.redis
    latest = None
    for entry_id, fields in await redis.xrevrange(keys.transcript(conversation_id), count=50):
        message = Message.from_entry(str(entry_id), dict(fields))
        if message.author == "customer" and message.text.strip():
            latest = message.text
            break
    language = info.get("language") or "en"
    if latest is None:
        return json({"query": None, "language": language, "version": None, "miss": True, "hits": []})
    return json(await _kb_search(request, latest[:MAX_QUERY], language))


@bp.get("/api/kb/search")
@documented(
    security=TEAM_READ,
    params=[
        query("q", string(minLength=1, maxLength=MAX_QUERY), required=True),
        query("lang", string(enum=["en", "zh"]), "Default en"),
    ],
    errors=(400, 401, 403, 503),
)
async def kb_search(request: Request) -> HTTPResponse:
    """Search the knowledge base as an agent types: `q`, `lang` (en or zh)."""
    await require(request, Role.AGENT, Role.EDITOR, *STAFF)
    query = request.args.get("q", "").strip()
    if not query or len(query) > MAX_QUERY:
        raise BadRequest(f"'q' must be 1-{MAX_QUERY} characters", field="q")
    return json(await _kb_search(request, query, _language(request.args.get("lang")) or "en"))


# -- supervision -----------------------------------------------------------------------------------


@bp.get("/api/supervisor/overview")
@documented(security=TEAM_READ, errors=(401, 403))
async def overview(request: Request) -> HTTPResponse:
    """Queues, agents, the last hour's service level and open tickets, for the dashboard."""
    await require(request, *STAFF)
    engine = _engine(request)
    queues, agents, level = await asyncio.gather(
        engine.queues(), engine.agents(), service_level.summary(request.app.ctx.redis)
    )
    tickets = getattr(request.app.ctx, "tickets", None)
    open_tickets = await tickets.open_counts() if tickets is not None else {}
    return json(
        {
            "queues": queues,
            "agents": [a.as_dict() for a in agents],
            "service_level": level,
            "tickets": open_tickets,
        }
    )


# -- live events -----------------------------------------------------------------------------------


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
        session = await _accounts(request).session(cookie)
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
        self.redis: Any = request.app.ctx.redis

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
                        if not await _accounts(self.request).alive(self.cookie):
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
                if not isinstance(ids, list) or len(ids) > 200 or not all(isinstance(i, str) for i in ids):
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
        fields = ("owner", "agent", "offer_agent")
        info = dict(
            zip(fields, await self.redis.hmget(keys.conversation(conversation_id), *fields), strict=True)
        )
        return holds(self.who, info)

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
