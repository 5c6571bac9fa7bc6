"""Who may call what: every route of the running handoff service against every kind of caller, judged by
one policy table.

The routes come from the app's own router once it has started (the API reference and the HEAD and
OPTIONS answers Sanic adds at start-up included), so a new route is tested the day it is added, and
`test_every_route_has_a_policy` fails until whoever added it writes down who may call it.

The callers: nobody, agent A, agent B (another agent), a supervisor, an editor, the admin token, the service
token (the action server's), and an admin's console session cookie sent without its CSRF header. Paths name
agent A's objects: a conversation agent A holds (or is offered), agent A's ticket, a photo in agent A's chat,
agent A. So agent B stands for "another agent" everywhere. Conversations are made afresh for each caller, so
one caller's allowed change never decides the next caller's answer (the photo's routes only read it, so its
chat stays agent A's throughout).

A refused request must change nothing and say nothing: the conversation keeps its owner and transcript, and
no refusal quotes the customer's words.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import websockets
from sanic import Sanic
from sanic_routing.route import Route

from handoff.widget_tokens import sign
from tests.integration.conftest import ADMIN, SERVICE, WIDGET_SECRET, rasa_stand_in
from tests.integration.live_app import serving
from tests.integration.test_telegram_channel import BOT_TOKEN, SECRET
from tests.unit.test_attachments import png

pytestmark = pytest.mark.integration

CALLERS = ("anonymous", "agent_a", "agent_b", "supervisor", "editor", "admin", "service", "cookie")
OK = "2xx"
Expect = int | str  # a status code, or OK for any 2xx
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STAFF = ("supervisor", "admin")
AGENTS = ("agent_a", "agent_b")
STUDIO_READ = ("editor", *STAFF)
STUDIO_WRITE = ("editor", "admin")
QUICK_REPLY = {"shortcut": "hello", "title": "Hello", "category": "greeting", "text": "Hello {customer_name}"}
STALE = {"editor": 409, "admin": 409}  # a write based on a version that is not the current one
MISSING_FOR_READERS = {"editor": 404, "supervisor": 404, "admin": 404, "cookie": 404}
MISSING_FOR_WRITERS = {"editor": 404, "admin": 404}
PASSWORD = "matrix password 0123"
CANARY = "my card number is 4111 1111 1111 1111"  # what agent A's customer said: no refusal may quote it
EVIL_ORIGIN = "https://evil.example"
PNG = {"Content-Type": "image/png"}
TELEGRAM_ENV = {
    "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
    "TELEGRAM_WEBHOOK_SECRET": SECRET,
    "TELEGRAM_API_URL": "http://127.0.0.1:9",  # never called: no caller here holds the webhook secret
    "ORDER_WEBHOOK_SECRET": "order-webhook-secret-0123456789",  # held by the shop backend alone
    # Email on, its relay never reached (nothing here is sent); the inbound token is the mail provider's.
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": "9",
    "SMTP_SECURITY": "none",
    "EMAIL_FROM": "Shop Support <support@shop.example>",
    "EMAIL_REPLY_DOMAIN": "reply.shop.example",
    "EMAIL_TOKEN_SECRET": "reply-token-secret-0123456789",
    "EMAIL_INBOUND_TOKEN": "inbound-webhook-token-0123456789",
}


# -- the policy -----------------------------------------------------------------------------------------


def everyone(expect: Expect) -> dict[str, Expect]:
    return dict.fromkeys(CALLERS, expect)


def allowed(method: str, *callers: str, **special: Expect) -> dict[str, Expect]:
    """`callers` succeed, every other signed-in caller is refused with 403, nobody with 401. The cookie
    caller is an admin's console session without the CSRF header: it reads like the admin, and every state
    change is refused with 403."""
    expect: dict[str, Expect] = {**everyone(403), "anonymous": 401}
    expect.update(dict.fromkeys(callers, OK))
    expect["cookie"] = expect["admin"] if method in SAFE_METHODS else 403
    expect.update(special)
    return expect


@dataclass(frozen=True)
class Rule:
    """Who gets which answer, and how to call the route: what its path's objects are (`conversation`:
    a conversation agent A `held` or is `offered`; `user`: whose account), and the query and body."""

    expect: Mapping[str, Expect]
    conversation: str = "held"
    with_conversation: bool = False  # the body names the conversation, the path does not
    user: str = "agent-a"
    query: Callable[[Cell], dict[str, str]] | None = None
    body: Callable[[Cell], Any] | None = None
    photo: bool = False  # the body is a PNG (the widget's upload), not JSON
    headers: Mapping[str, str] | None = None
    websocket: bool = False


def _agent(cell: Cell) -> dict[str, Any]:
    spec = {"name": "Extra", "languages": ["en"], "skills": {"general": 0.5}, "capacity": 1}
    return {"id": f"extra-{cell.world.next()}", **spec}


def _packet(cell: Cell) -> dict[str, Any]:
    return packet(cell.fresh("new"))


MODULES = Path(__file__).resolve().parents[2] / "handoff/static/console"  # the console's ES modules
CONSOLE_MODULES = tuple(
    f"/console/{m.relative_to(MODULES).as_posix()}" for m in sorted(MODULES.rglob("*.js"))
)
STUDIO = Path(__file__).resolve().parents[2] / "handoff/static/studio"  # the studio's ES modules
STUDIO_MODULES = tuple(f"/studio/{m.relative_to(STUDIO).as_posix()}" for m in sorted(STUDIO.rglob("*.js")))
CHART_LIBRARY = ("/console/vendor/uplot/uPlot.esm.js", "/console/vendor/uplot/uPlot.min.css")
PUBLIC_PAGES = (
    *("/", "/widget.js", "/widget.css", "/console", *CONSOLE_MODULES, "/console/console.css", *CHART_LIBRARY),
    *("/studio", *STUDIO_MODULES, "/studio/studio.css"),
)
PUBLIC_DOCUMENTS = ("/docs", "/docs/openapi.json", "/docs/redoc", "/docs/vendor/redoc.standalone.js")

POLICY: dict[str, Rule] = {
    # Public: pages, scripts, the API reference, health.
    **{f"GET {path}": Rule(everyone(OK)) for path in (*PUBLIC_PAGES, *PUBLIC_DOCUMENTS, "/health")},
    # The widget: sessions are public; the socket opens only with a session token in its first frame.
    "OPTIONS /api/widget/session": Rule(everyone(OK)),
    "POST /api/widget/session": Rule(everyone(OK), body=lambda cell: {}),
    "GET /ws/widget": Rule(everyone(401), websocket=True),
    "OPTIONS /api/widget/attachments": Rule(everyone(OK)),
    "OPTIONS /api/widget/attachments/<attachment_id>": Rule(everyone(OK)),
    "POST /api/widget/attachments": Rule(everyone(401), photo=True),
    "GET /api/widget/attachments/<attachment_id>": Rule(everyone(401)),
    # Channels with secrets of their own: no API token or session opens them.
    "POST /webhooks/rest/webhook": Rule(everyone(401), body=lambda cell: {"sender": "m-1", "message": "hi"}),
    "GET /webhooks/rest/messages": Rule(everyone(401), query=lambda cell: {"sender": "m-1"}),
    "POST /webhooks/telegram/webhook": Rule(everyone(401), body=lambda cell: {"update_id": 1}),
    "POST /webhooks/email/inbound": Rule(everyone(401)),  # the mail provider's bearer token
    "POST /webhooks/orders": Rule(everyone(401), body=lambda cell: {"event_id": "e-1"}),
    # Proactive messages: the team sets a customer's opt-out; a customer sets their own with their session.
    "GET /api/customers/<customer_id>/proactive": Rule(allowed("GET", *AGENTS, *STAFF)),
    "PUT /api/customers/<customer_id>/proactive": Rule(
        allowed("PUT", *AGENTS, *STAFF), body=lambda cell: {"opted_out": False}
    ),
    "OPTIONS /api/widget/proactive": Rule(everyone(OK)),
    # An email's unsubscribe link: its signed token is the authority, and none of these callers has one.
    "GET /unsubscribe": Rule(everyone(401)),
    "POST /unsubscribe": Rule(everyone(401)),
    "PUT /api/widget/proactive": Rule(everyone(401), body=lambda cell: {"token": "x.y", "opted_out": True}),
    # Signing in: public; the session itself only by its cookie.
    "POST /api/session": Rule(everyone(OK), body=lambda cell: {"user_id": "root-1", "password": PASSWORD}),
    "GET /api/session": Rule({**everyone(401), "cookie": OK}),
    "DELETE /api/session": Rule({**everyone(OK), "cookie": 403}),
    "GET /ws/console": Rule({**everyone(401), "cookie": OK}, websocket=True),
    "PUT /api/users/<user_id>/password": Rule(
        allowed("PUT", "agent_a", "admin"),
        body=lambda cell: {"current_password": PASSWORD, "password": PASSWORD},
    ),
    # Tokens: each token holder rotates their own; the configured ones change in the configuration.
    "POST /api/tokens/rotate": Rule(
        allowed("POST", *AGENTS, "supervisor", "editor", admin=400, service=400),
        body=lambda cell: {"grace_seconds": 3600},
    ),
    "POST /api/tokens": Rule(
        allowed("POST", "admin"),
        body=lambda cell: {"user_id": f"minted-{cell.world.next()}", "role": "editor"},
    ),
    "DELETE /api/users/<user_id>/tokens": Rule(allowed("DELETE", "admin"), user="departed-1"),
    "GET /api/users": Rule(allowed("GET", "admin")),
    "POST /api/users": Rule(
        allowed("POST", "admin"),
        body=lambda cell: {"id": f"made-{cell.world.next()}", "password": PASSWORD, "role": "editor"},
    ),
    # Handoffs: only the action server (the service token) creates them.
    "POST /api/handoffs": Rule(allowed("POST", "service"), body=_packet),
    "GET /api/handoffs/<conversation_id>": Rule(allowed("GET", "agent_a", *STAFF)),
    "DELETE /api/handoffs/<conversation_id>": Rule(allowed("DELETE", *STAFF)),
    # Agents: staff manage them; an agent reads and sets only their own record and presence.
    "GET /api/agents": Rule(allowed("GET", *STAFF)),
    "POST /api/agents": Rule(allowed("POST", *STAFF), body=_agent),
    "GET /api/agents/<agent_id>": Rule(allowed("GET", "agent_a", *STAFF)),
    "PATCH /api/agents/<agent_id>": Rule(allowed("PATCH", *STAFF), body=lambda cell: {"name": "Agent A"}),
    "PUT /api/agents/<agent_id>/presence": Rule(
        allowed("PUT", "agent_a", *STAFF), body=lambda cell: {"presence": "online"}
    ),
    "POST /api/agents/<agent_id>/tokens": Rule(allowed("POST", *STAFF)),
    # Offers: only the agent offered the chat answers the offer.
    "POST /api/offers/<conversation_id>/accept": Rule(
        allowed("POST", "agent_a", agent_b=409), conversation="offered"
    ),
    "POST /api/offers/<conversation_id>/decline": Rule(
        allowed("POST", "agent_a", agent_b=409), conversation="offered"
    ),
    # A held chat: its agent and staff; another agent is told it is not theirs.
    "POST /api/assignments/<conversation_id>/resolve": Rule(allowed("POST", "agent_a", *STAFF, agent_b=409)),
    "POST /api/assignments/<conversation_id>/transfer": Rule(
        allowed("POST", "agent_a", *STAFF, agent_b=409), body=lambda cell: {"skill": "general", "note": "n"}
    ),
    "POST /api/assignments/<conversation_id>/return-to-bot": Rule(
        allowed("POST", "agent_a", *STAFF, agent_b=409), body=lambda cell: {}
    ),
    "GET /api/conversations/<conversation_id>": Rule(allowed("GET", "agent_a", *STAFF)),
    "GET /api/conversations/<conversation_id>/messages": Rule(allowed("GET", "agent_a", *STAFF)),
    "POST /api/conversations/<conversation_id>/messages": Rule(
        allowed("POST", "agent_a", *STAFF), body=lambda cell: {"text": "Hello, I am looking into it."}
    ),
    "POST /api/conversations/<conversation_id>/typing": Rule(allowed("POST", "agent_a", *STAFF)),
    "GET /api/conversations/<conversation_id>/variables": Rule(allowed("GET", "agent_a", *STAFF)),
    "GET /api/conversations/<conversation_id>/suggestions": Rule(allowed("GET", "agent_a", *STAFF)),
    "GET /api/attachments/<attachment_id>": Rule(allowed("GET", "agent_a", *STAFF)),  # a photo of A's chat
    # The console's lists: any agent and staff; quick replies and articles for editors too.
    "GET /api/console/inbox": Rule(allowed("GET", *AGENTS, *STAFF)),
    "GET /api/console/flows": Rule(allowed("GET", *AGENTS, *STAFF)),
    "GET /api/queues": Rule(allowed("GET", *AGENTS, *STAFF)),
    "GET /api/quick-replies": Rule(allowed("GET", *AGENTS, "editor", *STAFF), query=lambda c: {"q": "hi"}),
    "GET /api/kb/search": Rule(allowed("GET", *AGENTS, "editor", *STAFF), query=lambda c: {"q": "refund"}),
    # Supervision.
    "GET /api/supervisor/overview": Rule(allowed("GET", *STAFF)),
    "GET /api/decisions": Rule(allowed("GET", *STAFF), query=lambda cell: {"limit": "5"}),
    "GET /api/decisions/<decision_id>": Rule(allowed("GET", *STAFF)),
    "GET /api/routing/weights": Rule(allowed("GET", *STAFF)),
    "PUT /api/routing/weights": Rule(
        allowed("PUT", *STAFF), body=lambda cell: {"skill": 0.4, "load": 0.3, "rating": 0.3}
    ),
    # A what-if that saves nothing, but a POST: a console session needs the CSRF header like any other.
    "POST /api/routing/weights/preview": Rule(
        allowed("POST", *STAFF), body=lambda cell: {"skill": 0.5, "load": 0.3, "rating": 0.2}
    ),
    # Analytics and experiments: staff only. A new experiment here is refused for its kind and the one to stop
    # or read does not exist, so each allowed caller is told why and nothing changes between callers.
    **{
        f"GET /api/analytics/{report}": Rule(allowed("GET", *STAFF))
        for report in (
            "summary",
            "series",
            "intents",
            "reasons",
            "csat",
            "misses",
            "proactive",
            "proactive/triggers",
        )
    },
    "GET /api/experiments": Rule(allowed("GET", *STAFF)),
    "POST /api/experiments": Rule(
        allowed("POST", *STAFF, supervisor=400, admin=400),
        body=lambda cell: {"name": "x", "kind": "no-such-kind"},
    ),
    "POST /api/experiments/<experiment_id>/stop": Rule(allowed("POST", *STAFF, supervisor=404, admin=404)),
    "GET /api/experiments/<experiment_id>/results": Rule(
        allowed("GET", *STAFF, supervisor=404, admin=404, cookie=404)
    ),
    # Tickets: agents and staff; a ticket filed from a conversation needs that conversation.
    "GET /api/tickets": Rule(allowed("GET", *AGENTS, *STAFF)),
    "POST /api/tickets": Rule(
        allowed("POST", "agent_a", *STAFF),
        with_conversation=True,
        body=lambda cell: {"subject": "Parcel is late", "conversation_id": cell.conversation()},
    ),
    "GET /api/tickets/<ticket_id>": Rule(allowed("GET", "agent_a", *STAFF)),
    "PATCH /api/tickets/<ticket_id>": Rule(allowed("PATCH", "agent_a", *STAFF), body=lambda c: {"note": "n"}),
    # Replying and sending again are changes like a PATCH; agent A's ticket has neither a conversation nor an
    # email to answer to, and no such email, so each allowed caller is told why and nothing is sent.
    "GET /api/tickets/<ticket_id>/thread": Rule(allowed("GET", "agent_a", *STAFF)),
    "POST /api/tickets/<ticket_id>/replies": Rule(
        allowed("POST", "agent_a", *STAFF, agent_a=409, supervisor=409, admin=409),
        body=lambda cell: {"text": "We are looking into it."},
    ),
    "POST /api/tickets/<ticket_id>/emails/<message_id>/retry": Rule(
        allowed("POST", "agent_a", *STAFF, agent_a=404, supervisor=404, admin=404)
    ),
    # The studio: editors and admins change content, supervisors read it; agents only flag messages of
    # their own chats and read the intent names for it. Writes here carry stale versions or unknown ids,
    # so an allowed caller is told why (409, 404, 400) and nothing changes between callers.
    "GET /api/studio/intent-names": Rule(allowed("GET", *AGENTS, *STUDIO_READ)),
    "POST /api/studio/flags": Rule(
        allowed("POST", "agent_a", *STAFF, agent_a=404, supervisor=404, admin=404),
        with_conversation=True,
        body=lambda cell: {"conversation_id": cell.conversation(), "message_id": "1-0"},
    ),
    "GET /api/studio/inbox": Rule(allowed("GET", *STUDIO_READ)),
    "GET /api/studio/inbox/<item_id>": Rule(allowed("GET", *STUDIO_READ, **MISSING_FOR_READERS)),
    "POST /api/studio/inbox/accept": Rule(
        allowed("POST", *STUDIO_WRITE), body=lambda cell: {"ids": ["no-such-item"], "intent": "greet"}
    ),
    "POST /api/studio/inbox/dismiss": Rule(
        allowed("POST", *STUDIO_WRITE), body=lambda c: {"ids": ["no-such"]}
    ),
    "POST /api/studio/try": Rule(
        allowed("POST", *STUDIO_READ), body=lambda cell: {"text": "where is my parcel"}
    ),
    "GET /api/studio/audit": Rule(allowed("GET", *STUDIO_READ)),
    "GET /api/studio/intents": Rule(allowed("GET", *STUDIO_READ)),
    "GET /api/studio/intents/<intent>/<language>": Rule(allowed("GET", *STUDIO_READ)),
    "GET /api/studio/examples": Rule(allowed("GET", *STUDIO_READ), query=lambda cell: {"q": "order"}),
    "POST /api/studio/warnings": Rule(
        allowed("POST", *STUDIO_READ),
        body=lambda cell: {"intent": "greet", "language": "en", "texts": ["hi"]},
    ),
    "POST /api/studio/intents/<intent>/<language>/examples": Rule(
        allowed("POST", *STUDIO_WRITE, **STALE),
        body=lambda cell: {"texts": ["hello matrix"], "base_version": "x"},
    ),
    "PUT /api/studio/intents/<intent>/<language>/examples": Rule(
        allowed("PUT", *STUDIO_WRITE, **STALE),
        body=lambda c: {"old": "hi", "new": "hey", "base_version": "x"},
    ),
    "DELETE /api/studio/intents/<intent>/<language>/examples": Rule(
        allowed("DELETE", *STUDIO_WRITE, **STALE), body=lambda cell: {"text": "hi", "base_version": "x"}
    ),
    "POST /api/studio/intents/<intent>/<language>/examples/move": Rule(
        allowed("POST", *STUDIO_WRITE, **STALE),
        body=lambda cell: {"text": "hi", "to_intent": "goodbye", "base_version": "x", "to_base_version": "x"},
    ),
    "GET /api/studio/kb/articles": Rule(allowed("GET", *STUDIO_READ)),
    "GET /api/studio/kb/articles/<language>/<slug>": Rule(allowed("GET", *STUDIO_READ)),
    "PUT /api/studio/kb/articles/<language>/<slug>": Rule(
        allowed("PUT", *STUDIO_WRITE, editor=400, admin=400), body=lambda cell: {"base_version": None}
    ),
    "DELETE /api/studio/kb/articles/<language>/<slug>": Rule(
        allowed("DELETE", *STUDIO_WRITE, editor=400, admin=400)  # no base_version
    ),
    "POST /api/studio/kb/preview": Rule(allowed("POST", *STUDIO_WRITE), body=lambda cell: {"body": "**x**"}),
    "GET /api/studio/kb/publish": Rule(allowed("GET", *STUDIO_READ)),
    "POST /api/studio/kb/publish": Rule(allowed("POST", *STUDIO_WRITE, editor=409, admin=409)),  # nothing new
    "GET /api/studio/kb/versions": Rule(allowed("GET", *STUDIO_READ)),
    "GET /api/studio/kb/diff": Rule(
        allowed("GET", *STUDIO_READ), query=lambda c: {"from": "v1", "to": "working"}
    ),
    "POST /api/studio/kb/rollback": Rule(allowed("POST", *STUDIO_WRITE), body=lambda cell: {"version": "v1"}),
    "GET /api/studio/kb/misses": Rule(allowed("GET", *STUDIO_READ)),
    "POST /api/studio/kb/misses/<item_id>/dismiss": Rule(
        allowed("POST", *STUDIO_WRITE, **MISSING_FOR_WRITERS)
    ),
    "POST /api/studio/kb/misses/<item_id>/to-article": Rule(
        allowed("POST", *STUDIO_WRITE, **MISSING_FOR_WRITERS),
        body=lambda cell: {"language": "en", "slug": "en-refunds-timeline"},
    ),
    "GET /api/studio/quick-replies": Rule(allowed("GET", *STUDIO_READ)),
    "GET /api/studio/quick-replies/<template_id>": Rule(allowed("GET", *STUDIO_READ)),
    "POST /api/studio/quick-replies/check": Rule(
        allowed("POST", *STUDIO_READ), body=lambda cell: {"id": "x.y", "languages": {"en": {"text": "Hi"}}}
    ),
    "PUT /api/studio/quick-replies/<template_id>": Rule(
        allowed("PUT", *STUDIO_WRITE, **STALE),
        body=lambda cell: {"version": "0" * 16, "languages": {"en": QUICK_REPLY}},
    ),
    "GET /api/studio/training": Rule(allowed("GET", *STUDIO_READ)),
    "POST /api/studio/training": Rule(
        allowed("POST", *STUDIO_WRITE, editor=400, admin=400), body=lambda cell: {"mode": "no-such-mode"}
    ),
    "DELETE /api/studio/training": Rule(allowed("DELETE", *STUDIO_WRITE, editor=409, admin=409)),  # none runs
    # The event stream, asked to resume after an event it never sent: a 400 instead of a stream.
    "GET /api/studio/training/events": Rule(
        allowed("GET", *STUDIO_READ, **{caller: 400 for caller in (*STUDIO_READ, "cookie")}),
        headers={"Last-Event-ID": "not-an-event"},
    ),
    "GET /api/studio/models": Rule(allowed("GET", *STUDIO_READ)),
    "POST /api/studio/models/<name>/activate": Rule(
        allowed("POST", *STUDIO_WRITE, **MISSING_FOR_WRITERS), body=lambda cell: {}
    ),
    "POST /api/studio/models/rollback": Rule(
        allowed("POST", *STUDIO_WRITE, editor=409, admin=409),
        body=lambda cell: {},  # no previous model
    ),
    "DELETE /api/studio/quick-replies/<template_id>": Rule(
        allowed("DELETE", *STUDIO_WRITE, **STALE), query=lambda cell: {"version": "0" * 16}
    ),
}


# -- routes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # "/api/agents/<agent_id>"
    auto: bool  # a HEAD or OPTIONS answer Sanic added at start-up for the route's other methods

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def endpoints(app: Sanic) -> list[Endpoint]:  # type: ignore[type-arg]
    """Every (method, path) the started app answers, from its router."""
    found = set()
    routes: list[Route] = list(app.router.routes)
    for route in routes:
        path = "/" + re.sub(r"<(\w+)(?::[^>]*)?>", r"<\1>", route.path)
        auto = bool(getattr(route.handler, "__auto_handler__", False))
        for method in route.methods:
            found.add(Endpoint(method, path, auto))
    return sorted(found, key=lambda e: (e.path, e.method))


def rule_for(endpoint: Endpoint) -> Rule | None:
    """The table's rule; Sanic's own HEAD answers follow the GET rule (websockets: 426, no upgrade over
    HEAD) and its OPTIONS answers name the methods and nothing else, for everyone."""
    if endpoint.key in POLICY:
        return POLICY[endpoint.key]
    if endpoint.auto and endpoint.method == "OPTIONS":
        return Rule(everyone(OK))
    if endpoint.auto and endpoint.method == "HEAD" and f"GET {endpoint.path}" in POLICY:
        get = POLICY[f"GET {endpoint.path}"]
        return Rule(everyone(426)) if get.websocket else get
    return None


# -- the world the callers act in -------------------------------------------------------------------------


def packet(conversation_id: str) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "reason": "customer_request",
        "language": "en",
        "channel": "web",
        "transcript": [{"author": "customer", "text": CANARY}],
    }


@dataclass
class World:
    """Agents A (English) and B (Chinese), so every English handoff is offered to A; the callers'
    credentials; agent A's ticket."""

    http: httpx.AsyncClient
    redis: Any
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    ticket_id: str = ""
    decision_id: str = ""
    attachment_id: str = ""
    created: list[str] = field(default_factory=list)
    counter: int = 0
    last: Any = None  # the latest answer

    def next(self) -> int:
        self.counter += 1
        return self.counter

    async def call(
        self,
        method: str,
        path: str,
        caller: str = "admin",
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = {**self.credentials[caller], **(headers or {})}
        response = await self.http.request(method, path, headers=sent, **kwargs)
        self.last = response
        self.http.cookies.clear()  # each caller brings exactly its own credentials
        return response

    async def ok(self, method: str, path: str, caller: str = "admin", **kwargs: Any) -> Any:
        response = await self.call(method, path, caller, **kwargs)
        assert response.is_success, f"setting up: {method} {path} as {caller}: {response.text}"
        return response.json() if response.content else {}

    async def build(self) -> None:
        self.credentials = {
            "anonymous": {},
            "admin": bearer(ADMIN),
            "service": bearer(SERVICE),
        }
        for agent, language, skills in (
            ("agent-a", "en", {"general": 0.9, "returns": 0.9}),
            ("agent-b", "zh", {"general": 0.9}),
        ):
            spec = {"id": agent, "name": agent, "languages": [language], "skills": skills, "capacity": 50}
            await self.ok("POST", "/api/agents", json=spec)
            await self.ok("PUT", f"/api/agents/{agent}/presence", json={"presence": "online"})
            token = (await self.ok("POST", f"/api/agents/{agent}/tokens"))["token"]
            self.credentials[agent.replace("-", "_")] = bearer(token)
        for user, role in (("sup-1", "supervisor"), ("editor-1", "editor")):
            token = (await self.ok("POST", "/api/tokens", json={"user_id": user, "role": role}))["token"]
            self.credentials[role] = bearer(token)
        users = [("root-1", "admin", None), ("agent-a", "agent", "agent-a")]
        for user, role, agent_id in users:
            body = {"id": user, "password": PASSWORD, "role": role, "agent_id": agent_id}
            await self.ok("POST", "/api/users", json=body)
        signed_in = await self.http.post("/api/session", json={"user_id": "root-1", "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        self.credentials["cookie"] = {"Cookie": f"hub_session={signed_in.cookies['hub_session']}"}
        self.http.cookies.clear()
        ticket = {"subject": "Parcel arrived damaged", "skill": "returns", "assignee": "agent-a"}
        self.ticket_id = (await self.ok("POST", "/api/tickets", json=ticket))["id"]
        # A photo the customer sent in a chat agent A keeps holding (its routes only read).
        photo_chat = await self.held(keep=True)
        session = bearer(sign(WIDGET_SECRET, "session", {"cid": photo_chat}, 600))
        upload = await self.http.post("/api/widget/attachments", content=png(), headers={**session, **PNG})
        assert upload.status_code == 201, upload.text
        self.attachment_id = upload.json()["attachment"]["id"]
        self.decision_id = str((await self.ok("GET", "/api/decisions", params={"limit": "1"}))[0]["id"])

    async def offered(self, keep: bool = False) -> str:
        """A new conversation handed off and offered to agent A (withdrawn after the cell unless `keep`)."""
        conversation_id = f"web-matrix-{uuid.uuid4().hex[:12]}"
        status = await self.ok("POST", "/api/handoffs", "service", json=packet(conversation_id))
        assert (status["owner"], status["agent_id"]) == ("offered", "agent-a"), status
        if not keep:
            self.created.append(conversation_id)
        return conversation_id

    async def held(self, keep: bool = False) -> str:
        """A new conversation agent A has accepted."""
        conversation_id = await self.offered(keep)
        await self.ok("POST", f"/api/offers/{conversation_id}/accept", "agent_a")
        return conversation_id

    async def clean_up(self) -> None:
        """Frees agent A of what the cell made, whatever state the cell left it in (agent A back online:
        a declined offer may count as missed)."""
        if not self.created:
            return
        while self.created:
            response = await self.call("DELETE", f"/api/handoffs/{self.created.pop()}")
            assert response.status_code < 500, response.text
        await self.ok("PUT", "/api/agents/agent-a/presence", json={"presence": "online"})

    async def snapshot(self, conversation_id: str) -> tuple[Any, ...]:
        state = await self.redis.hmget(f"hub:conv:{conversation_id}", "owner", "agent", "offer_agent")
        return (*state, await self.redis.xlen(f"hub:conv:{conversation_id}:transcript"))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Cell:
    """One caller calling one route, with fresh objects for the path and body."""

    world: World
    endpoint: Endpoint
    rule: Rule
    caller: str
    headers: dict[str, str] = field(default_factory=dict)
    fresh_ids: dict[str, str] = field(default_factory=dict)

    def fresh(self, name: str) -> str:
        """A conversation id no one has used yet (for a handoff the cell itself creates)."""
        if name not in self.fresh_ids:
            self.fresh_ids[name] = f"web-matrix-{uuid.uuid4().hex[:12]}"
            self.world.created.append(self.fresh_ids[name])
        return self.fresh_ids[name]

    def conversation(self) -> str:
        return self.fresh_ids["conversation"]

    async def prepare(self) -> None:
        if "<conversation_id>" in self.endpoint.path or self.rule.with_conversation:
            made = await (self.world.offered() if self.rule.conversation == "offered" else self.world.held())
            self.fresh_ids["conversation"] = made

    def url(self) -> str:
        values = {
            "conversation_id": self.fresh_ids.get("conversation", ""),
            "agent_id": "agent-a",
            "user_id": self.rule.user,
            "ticket_id": self.world.ticket_id,
            "decision_id": self.world.decision_id,
            "attachment_id": self.world.attachment_id,
            "item_id": "no-such-item",
            "intent": "greet",
            "language": "en",
            "slug": "en-refunds-timeline",
            "template_id": "greeting.welcome",
            "name": "no-such-model.tar.gz",
            "experiment_id": "exp-0000000000",
            "customer_id": "customer-1",
            "message_id": "no-such-message",
        }
        return re.sub(r"<(\w+)>", lambda m: values[m.group(1)], self.endpoint.path)

    async def run(self) -> tuple[int, str]:
        if self.rule.websocket and self.endpoint.method == "GET":
            return await self._socket()
        kwargs: dict[str, Any] = {}
        if self.rule.query:
            kwargs["params"] = self.rule.query(self)
        headers = {**self.headers, **(self.rule.headers or {})}
        if self.rule.body is not None and self.endpoint.method not in SAFE_METHODS:
            kwargs["json"] = self.rule.body(self)
        if self.rule.photo:
            kwargs["content"] = png()
            headers.update(PNG)
        method, url = self.endpoint.method, self.url()
        response = await self.world.call(method, url, self.caller, headers, **kwargs)
        return response.status_code, response.text

    async def _socket(self) -> tuple[int, str]:
        """A WebSocket answer as a status: 200 when its first frame opens it (`hello`, `ready`), 401 when it
        closes refusing (4001, 4401), the handshake's status when it is not upgraded."""
        ws_url = str(self.world.http.base_url).replace("http://", "ws://").rstrip("/") + self.url()
        headers = {**self.world.credentials[self.caller], **self.headers}
        try:
            async with websockets.connect(ws_url, additional_headers=headers) as ws:
                await ws.send('{"type": "hello", "token": ""}')
                first = str(await asyncio.wait_for(ws.recv(), 5))
                if json.loads(first).get("type") in ("hello", "ready"):
                    return 200, first
                await asyncio.wait_for(ws.recv(), 5)  # a refusal is followed by the close
        except websockets.InvalidStatus as refused:
            return refused.response.status_code, ""
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            return (401 if code in (4001, 4401) else code), ""
        return 500, first  # neither opened nor refused


def matches(expect: Expect, status: int) -> bool:
    return 200 <= status < 300 if expect == OK else status == expect


# -- the tests --------------------------------------------------------------------------------------------


@asynccontextmanager
async def running_world(
    hub_app: Callable[..., Sanic],  # type: ignore[type-arg]
    db_url: str,
) -> AsyncIterator[tuple[Sanic, World]]:  # type: ignore[type-arg]
    app = hub_app(rasa_stand_in([]), **TELEGRAM_ENV)
    client = aioredis.Redis.from_url(db_url, decode_responses=True)
    try:
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
            world = World(http, client)
            await world.build()
            yield app, world
    finally:
        await client.aclose()


async def test_every_route_has_a_policy(hub_app: Callable[..., Any], db_url: str) -> None:
    """Whoever adds a route decides here who may call it; a rule for a route that is gone is stale."""
    app = hub_app(rasa_stand_in([]), **TELEGRAM_ENV)
    async with serving(app):
        found = endpoints(app)
    missing = [e.key for e in found if rule_for(e) is None]
    assert missing == [], f"routes without a rule in POLICY: {missing}"
    stale = sorted(set(POLICY) - {e.key for e in found})
    assert stale == [], f"rules in POLICY for routes the app does not have: {stale}"


async def test_every_caller_gets_the_answer_the_policy_gives(
    hub_app: Callable[..., Any], db_url: str, subtests: pytest.Subtests
) -> None:
    async with running_world(hub_app, db_url) as (app, world):
        for endpoint in endpoints(app):
            rule = rule_for(endpoint)
            if rule is None:
                continue  # test_every_route_has_a_policy names it
            with subtests.test(msg=endpoint.key):
                wrong = []
                for caller in CALLERS:
                    wrong += await _check_cell(Cell(world, endpoint, rule, caller))
                assert wrong == [], f"{endpoint.key}: " + "; ".join(wrong)


async def _check_cell(cell: Cell) -> list[str]:
    """What went wrong for one caller: the status, or a refusal that changed or told something."""
    expect = cell.rule.expect[cell.caller]
    try:
        await cell.prepare()
        conversation = cell.fresh_ids.get("conversation")
        before = await cell.world.snapshot(conversation) if conversation else None
        status, text = await cell.run()
        problems = []
        if not matches(expect, status):
            problems.append(f"{cell.caller} expected {expect}, got {status} {text[:120]}")
        if status >= 400:
            if CANARY in text:
                problems.append(f"{cell.caller}: the refusal quotes the customer")
            if conversation and await cell.world.snapshot(conversation) != before:
                problems.append(f"{cell.caller}: the refused request changed the conversation")
            if "new" in cell.fresh_ids and await cell.world.redis.exists(f"hub:conv:{cell.fresh_ids['new']}"):
                problems.append(f"{cell.caller}: the refused handoff created the conversation")
        return problems
    finally:
        await cell.world.clean_up()


async def test_no_route_lets_another_site_read_its_answers(
    hub_app: Callable[..., Any], db_url: str, subtests: pytest.Subtests
) -> None:
    """A page on another site gets no CORS grant from any route, neither in a preflight nor in the answer
    to a request sent with an agent's cookie (the widget's session answers only the storefronts in
    HUB_ALLOWED_ORIGINS, none here), so whatever a signed-in browser can fetch, the other site cannot read."""
    async with running_world(hub_app, db_url) as (app, world):
        for endpoint in endpoints(app):
            rule = rule_for(endpoint)
            if rule is None or rule.websocket or endpoint.method == "OPTIONS":
                continue
            with subtests.test(msg=endpoint.key):
                cell = Cell(world, endpoint, rule, "cookie", headers={"Origin": EVIL_ORIGIN})
                try:
                    await cell.prepare()
                    preflight = await world.call(
                        "OPTIONS",
                        cell.url(),
                        "anonymous",
                        {"Origin": EVIL_ORIGIN, "Access-Control-Request-Method": endpoint.method},
                    )
                    status, _ = await cell.run()
                    answer = world.last
                finally:
                    await world.clean_up()
                assert status < 500
                for response in (preflight, answer):
                    granted = response.headers.get("access-control-allow-origin")
                    assert granted in (None, ""), f"{endpoint.key} grants {granted}"
                    assert "access-control-allow-credentials" not in response.headers


async def test_an_agent_loses_a_conversation_the_moment_it_leaves_them(
    hub_app: Callable[..., Any], db_url: str
) -> None:
    """Once agent A resolved, transferred or handed back a chat, it is no longer theirs to read
    (docs/console.md): not through the context card, and not through its routing status either."""
    async with running_world(hub_app, db_url) as (_, world):
        answers = {}
        for action, body in (("resolve", None), ("transfer", {"skill": "general"}), ("return-to-bot", {})):
            conversation_id = await world.held()
            await world.ok("POST", f"/api/assignments/{conversation_id}/{action}", "agent_a", json=body)
            for path in ("/api/conversations/<id>", "/api/handoffs/<id>"):
                response = await world.call("GET", path.replace("<id>", conversation_id), "agent_a")
                answers[f"after {action}: GET {path}"] = response.status_code
        await world.clean_up()
    assert answers == dict.fromkeys(answers, 403)
