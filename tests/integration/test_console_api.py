"""The console's server side over real HTTP and WebSockets against a real redis-server: sign-in with
argon2id hashes, session cookies and CSRF, the agent's inbox, access rules, quick-reply variables,
knowledge-base suggestions, the supervisor overview with service level, and the live event socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import redis
import websockets
from sanic import Sanic

from handoff.app import create_app
from handoff.settings import Settings
from kb_index.build import build
from kb_index.service import KnowledgeBase
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, sample_kb
from tests.integration.api_helpers import flushed_database
from tests.integration.conftest import (
    ADMIN,
    RASA_API,
    REST_AUTH,
    REST_TOKEN,
    SERVICE,
    TOKEN,
    WIDGET_SECRET,
    rasa_stand_in,
    transcript,
)
from tests.integration.live_app import serving

pytestmark = pytest.mark.integration

REDIS_DB = 7  # routing keys are global: this module flushes its own database before each test
PASSWORD = "correct horse battery"
JSON_CONTENT = {"Content-Type": "application/json"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_url(redis_url: str) -> str:
    return flushed_database(redis_url, REDIS_DB)


@pytest.fixture(scope="module")
def knowledge_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("kb")
    index = base / "index"
    build(
        sample_kb(base / "kb"),
        index,
        encoders=ENCODERS,
        retrieval=RETRIEVAL,
        encoder_factory=RecordingFactory(),
        progress=lambda _: None,
    )
    return index


@pytest.fixture
def routing_overrides() -> dict[str, str]:
    """Replaced by tests that need other routing settings: {setting line prefix: new value}."""
    return {}


@pytest.fixture
def app(db_url: str, knowledge_index: Path, routing_overrides: dict[str, str], tmp_path: Path) -> Sanic:  # type: ignore[type-arg]
    Sanic.test_mode = True
    routing = ""
    if routing_overrides:
        lines = (ROOT / "handoff" / "routing.yml").read_text().splitlines()
        for setting, value in routing_overrides.items():
            if setting == "append":
                lines.append(value)
                continue
            lines = [f"  {setting}: {value}" if ln.strip().startswith(f"{setting}:") else ln for ln in lines]
        path = tmp_path / "routing.yml"
        path.write_text("\n".join(lines) + "\n")
        routing = str(path)
    env = {
        "HUB_ROUTING_CONFIG": routing,
        "RASA_CHANNEL_TOKEN": TOKEN,
        "HUB_SERVICE_TOKEN": SERVICE,
        "HUB_ADMIN_TOKEN": ADMIN,
        "RASA_AUTH_TOKEN": RASA_API,
        "HUB_WIDGET_SECRET": WIDGET_SECRET,
        "HUB_IDENTITY_SECRET": "storefront-identity-key-0123",
        "HUB_REST_TOKEN": REST_TOKEN,
        "REDIS_URL": db_url,
        "HUB_SWEEP_INTERVAL": "0.1",
    }
    return create_app(
        Settings.from_env(env),
        http_transport=rasa_stand_in([]),
        knowledge_factory=lambda: KnowledgeBase(knowledge_index, encoder_factory=RecordingFactory()),
    )


class Console:
    """A browser-like client: the session cookie, and the CSRF token sent on state-changing calls."""

    opened: ClassVar[list[Console]] = []

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, headers={"Origin": base})
        self.csrf = ""
        Console.opened.append(self)

    async def login(self, user_id: str, password: str = PASSWORD) -> httpx.Response:
        response = await self.http.post("/api/session", json={"user_id": user_id, "password": password})
        if response.status_code == 200:
            self.csrf = response.json()["csrf_token"]
        return response

    async def call(self, method: str, path: str, csrf: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf} if csrf and method != "GET" else {}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def socket(self) -> Any:
        cookie = self.http.cookies.get("hub_session")
        ws_url = self.base.replace("http://", "ws://") + "/ws/console"
        return await websockets.connect(
            ws_url, additional_headers={"Cookie": f"hub_session={cookie}", "Origin": self.base}
        )


async def admin(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return await client.request(method, path, headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs)


async def add_agent(client: httpx.AsyncClient, agent_id: str, **spec: Any) -> None:
    body = {"id": agent_id, "name": agent_id.title(), "languages": ["en", "zh"], "capacity": 2}
    body["skills"] = {"general": 0.8, "returns": 0.9}
    body.update(spec)
    assert (await admin(client, "POST", "/api/agents", json=body)).status_code == 201
    user = {"id": agent_id, "password": PASSWORD, "role": "agent", "agent_id": agent_id, "name": body["name"]}
    assert (await admin(client, "POST", "/api/users", json=user)).status_code == 201


async def add_staff(client: httpx.AsyncClient, user_id: str, role: str = "supervisor") -> None:
    body = {"id": user_id, "password": PASSWORD, "role": role}
    assert (await admin(client, "POST", "/api/users", json=body)).status_code == 201


async def hand_off(client: httpx.AsyncClient, cid: str, **packet: Any) -> dict[str, Any]:
    body = {"conversation_id": cid, "reason": "customer_request", "language": "en", **packet}
    response = await client.post("/api/handoffs/", json=body, headers={"Authorization": f"Bearer {SERVICE}"})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def next_event(
    ws: Any, wanted: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            event: dict[str, Any] = json.loads(await ws.recv())
            if wanted(event):
                return event

    return await asyncio.wait_for(wait(), timeout)


@pytest.fixture
async def base(app: Sanic) -> AsyncIterator[str]:  # type: ignore[type-arg]
    async with serving(app) as url:
        yield url
        while Console.opened:
            await Console.opened.pop().http.aclose()


# -- sign-in, sessions, CSRF -----------------------------------------------------------------------


async def test_passwords_are_argon2id_and_sessions_are_httponly_strict_cookies(
    base: str, db_url: str
) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    stored = redis.Redis.from_url(db_url, decode_responses=True).hget("hub:user:ana", "password_hash")
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored

    response = await console.login("ana")
    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "agent" and body["agent_id"] == "ana" and len(body["csrf_token"]) >= 32
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    session = (await console.call("GET", "/api/session")).json()
    assert session["csrf_token"] == body["csrf_token"] and session["user_id"] == "ana"


async def test_wrong_credentials_are_refused_alike_and_guessing_is_throttled(base: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    unknown = await console.login("nobody", "whatever-password")
    wrong = await console.login("ana", "not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["message"] == wrong.json()["message"]
    for _ in range(4):
        assert (await console.login("ana", "still not it")).status_code == 401
    throttled = await console.login("ana")  # even the right password waits out the window
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert (await console.login("nobody-else", "x" * 12)).status_code == 401  # per user id


async def test_state_changes_need_the_sessions_csrf_token(base: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    await console.login("ana")
    body = {"presence": "online"}
    missing = await console.call("PUT", "/api/agents/ana/presence", csrf=False, json=body)
    assert missing.status_code == 403 and "CSRF" in missing.json()["message"]
    forged = await console.http.put("/api/agents/ana/presence", json=body, headers={"X-CSRF-Token": "x" * 43})
    assert forged.status_code == 403
    assert (await console.call("PUT", "/api/agents/ana/presence", json=body)).status_code == 200
    assert (await console.call("GET", "/api/agents/ana")).json()["presence"] == "online"


async def test_sign_in_only_from_the_own_origin_and_only_as_json(base: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    creds = {"user_id": "ana", "password": PASSWORD}
    cross = await console.http.post("/api/session", json=creds, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and "hub_session" not in cross.headers.get("set-cookie", "")
    form = await console.http.post("/api/session", data=creds)
    assert form.status_code == 400 and "application/json" in form.json()["message"]


async def test_logout_and_password_change_end_sessions(base: str) -> None:
    first, second = Console(base), Console(base)
    await add_agent(first.http, "ana")
    await first.login("ana")
    await second.login("ana")
    assert (await first.call("DELETE", "/api/session")).status_code == 200
    assert (await first.call("GET", "/api/session")).status_code == 401
    assert (await second.call("GET", "/api/console/inbox")).status_code == 200

    short = await second.call(
        "PUT", "/api/users/ana/password", json={"current_password": PASSWORD, "password": "short"}
    )
    assert short.status_code == 400 and short.json()["field"] == "password"
    wrong = await second.call(
        "PUT", "/api/users/ana/password", json={"current_password": "nope", "password": "a new long password"}
    )
    assert wrong.status_code == 403
    changed = await second.call(
        "PUT",
        "/api/users/ana/password",
        json={"current_password": PASSWORD, "password": "a new long password"},
    )
    assert changed.status_code == 200
    assert (await second.call("GET", "/api/console/inbox")).status_code == 401
    assert (await second.login("ana", "a new long password")).status_code == 200


async def test_user_administration_is_for_admins_with_clear_errors(base: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    await console.login("ana")
    assert (await console.call("GET", "/api/users")).status_code == 403
    cases = [
        ({"id": "x", "password": PASSWORD, "role": "service"}, "role"),
        ({"id": "Bad Id", "password": PASSWORD, "role": "supervisor"}, "id"),
        ({"id": "ag", "password": PASSWORD, "role": "agent"}, "agent_id"),
        ({"id": "ag", "password": PASSWORD, "role": "agent", "agent_id": "ghost"}, "agent_id"),
        ({"id": "ana", "password": PASSWORD, "role": "supervisor"}, "id"),
        ({"id": "sup", "password": PASSWORD, "role": "supervisor", "language": "fr"}, "language"),
    ]
    for body, field in cases:
        response = await admin(console.http, "POST", "/api/users", json=body)
        assert response.status_code == 400 and response.json()["field"] == field, (body, response.text)
    listed = (await admin(console.http, "GET", "/api/users")).json()
    assert [u["user_id"] for u in listed] == ["ana"] and "password_hash" not in listed[0]


async def test_display_names_are_cleaned_like_customer_text(base: str) -> None:
    console = Console(base)

    async def create(user_id: str, name: str) -> httpx.Response:
        body = {"id": user_id, "password": PASSWORD, "role": "supervisor", "name": name}
        # json.dumps escapes a lone surrogate; httpx's own JSON encoder cannot send one
        headers = {"Authorization": f"Bearer {ADMIN}", **JSON_CONTENT}
        return await console.http.post("/api/users", content=json.dumps(body), headers=headers)

    cleaned = await create("sup1", "Sam\u202e\u200b Lee\nSystem: you won")
    assert cleaned.status_code == 201 and cleaned.json()["name"] == "Sam Lee System: you won"
    blank = await create("sup2", "\u200b\u2066 ")
    assert blank.status_code == 201 and blank.json()["name"] == "sup2"  # nothing visible: the id is shown
    broken = await create("sup3", "Sam\ud800")
    assert broken.status_code == 400 and broken.json()["field"] == "name"
    listed = {u["user_id"]: u["name"] for u in (await admin(console.http, "GET", "/api/users")).json()}
    assert listed == {"sup1": "Sam Lee System: you won", "sup2": "sup2"}


async def test_a_transfer_note_is_cleaned_and_a_broken_one_changes_nothing(base: str, db_url: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    await console.login("ana")
    await console.call("PUT", "/api/agents/ana/presence", json={"presence": "online"})
    await hand_off(console.http, "rest-note-1")
    assert (await console.call("POST", "/api/offers/rest-note-1/accept")).status_code == 200
    path = "/api/assignments/rest-note-1/transfer"
    headers = {"X-CSRF-Token": console.csrf, **JSON_CONTENT}

    body = json.dumps({"skill": "returns", "note": "wants a refund\ud800"})
    broken = await console.http.post(path, content=body, headers=headers)
    assert broken.status_code == 400 and broken.json()["field"] == "note"
    state = redis.Redis.from_url(db_url, decode_responses=True).hgetall("hub:conv:rest-note-1")
    assert state.get("agent") == "ana" and "transfer_note" not in state  # refused before anything moved

    body = json.dumps({"skill": "returns", "note": "wants a \u202erefund\u200b\x07 today"})
    moved = await console.http.post(path, content=body, headers=headers)
    assert moved.status_code == 200, moved.text
    note = redis.Redis.from_url(db_url, decode_responses=True).hget("hub:conv:rest-note-1", "transfer_note")
    assert note == "wants a refund today"


async def test_parallel_guesses_cannot_outrun_the_throttle(base: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    guesses = await asyncio.gather(*(console.login("ana", f"wrong guess {n}") for n in range(10)))
    codes = sorted(r.status_code for r in guesses)
    assert codes.count(401) == 5 and codes.count(429) == 5, codes


async def test_a_stale_cookie_is_cleared_and_an_ended_session_closes_its_socket(base: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    await console.login("ana")
    async with await console.socket() as ws:
        await ws.recv()
        assert (await console.call("DELETE", "/api/session")).status_code == 200

        async def closed() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "error":
                        assert "session has ended" in frame["message"]

        await asyncio.wait_for(closed(), 15)
    stale = Console(base)
    stale.http.cookies.set("hub_session", "not-a-live-session")
    gone = await stale.http.delete("/api/session")
    assert gone.status_code == 200 and 'hub_session=""' in gone.headers["set-cookie"]


async def test_an_https_page_cannot_open_the_socket_of_an_http_service(base: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    await console.login("ana")
    cookie = {"Cookie": f"hub_session={console.http.cookies.get('hub_session')}"}
    url = base.replace("http://", "ws://") + "/ws/console"
    other_scheme = base.replace("http://", "https://")
    async with websockets.connect(url, additional_headers={**cookie, "Origin": other_scheme}) as ws:
        assert json.loads(await ws.recv())["type"] == "error"


# -- the agent's work ------------------------------------------------------------------------------


async def test_offer_accept_inbox_and_service_level(base: str) -> None:
    agent, supervisor = Console(base), Console(base)
    await add_agent(agent.http, "ana")
    await add_staff(agent.http, "sam")
    await agent.login("ana")
    await supervisor.login("sam")
    await agent.call("PUT", "/api/agents/ana/presence", json={"presence": "online"})
    status = await hand_off(agent.http, "conv-1", order={"id": "A1001", "status": "delivered"})
    assert status["owner"] == "offered" and status["agent_id"] == "ana"

    inbox = (await agent.call("GET", "/api/console/inbox")).json()
    assert inbox["agent"]["id"] == "ana" and inbox["chats"] == []
    [offer] = inbox["offers"]
    assert offer["conversation_id"] == "conv-1" and offer["reason"] == "customer_request"
    assert offer["expires_at"] > 0 and offer["decision_id"]

    assert (await agent.call("POST", "/api/offers/conv-1/accept")).status_code == 200
    inbox = (await agent.call("GET", "/api/console/inbox")).json()
    assert inbox["offers"] == [] and [c["conversation_id"] for c in inbox["chats"]] == ["conv-1"]

    overview = (await supervisor.call("GET", "/api/supervisor/overview")).json()
    level = overview["service_level"]
    assert level["handoffs"] == 1 and level["answered_within_20s"] == 1 and level["share_within_20s"] == 1.0
    assert [a["id"] for a in overview["agents"]] == ["ana"] and overview["agents"][0]["active"] == 1
    assert (await agent.call("GET", "/api/supervisor/overview")).status_code == 403
    # accepting twice (a retried click) is refused and does not count the handoff again
    assert (await agent.call("POST", "/api/offers/conv-1/accept")).status_code == 409
    assert (await supervisor.call("GET", "/api/supervisor/overview")).json()["service_level"]["handoffs"] == 1


async def test_an_agent_sees_only_their_conversations_a_supervisor_all(base: str) -> None:
    ana, ben, sam = Console(base), Console(base), Console(base)
    await add_agent(ana.http, "ana")
    await add_agent(ana.http, "ben", capacity=1)
    await add_staff(ana.http, "sam")
    for console, user in ((ana, "ana"), (ben, "ben"), (sam, "sam")):
        await console.login(user)
    await ana.call("PUT", "/api/agents/ana/presence", json={"presence": "online"})
    await hand_off(ana.http, "conv-a")
    await ana.call("POST", "/api/offers/conv-a/accept")
    for path in ("", "/messages", "/variables", "/suggestions"):
        denied = await ben.call("GET", f"/api/conversations/conv-a{path}")
        assert denied.status_code == 403, path
        assert (await sam.call("GET", f"/api/conversations/conv-a{path}")).status_code == 200, path
    reply = await ben.call("POST", "/api/conversations/conv-a/messages", json={"text": "hi"})
    assert reply.status_code == 403
    assert (await ben.call("POST", "/api/assignments/conv-a/resolve")).status_code == 409
    # a ticket would copy the packet: only for a chat one holds; unknown ids answer alike
    for cid in ("conv-a", "conv-unknown"):
        ticket = await ben.call("POST", "/api/tickets", json={"subject": "peek", "conversation_id": cid})
        assert ticket.status_code == 403, cid
    assert (
        await ana.call("POST", "/api/tickets", json={"subject": "follow up", "conversation_id": "conv-a"})
    ).status_code == 201

    # an offer is accepted or declined, not resolved
    await ben.call("PUT", "/api/agents/ben/presence", json={"presence": "online"})
    await hand_off(ana.http, "conv-b")
    assert (await ben.call("GET", "/api/console/inbox")).json()["offers"][0]["conversation_id"] == "conv-b"
    for action in ("resolve", "return-to-bot"):
        assert (await ben.call("POST", f"/api/assignments/conv-b/{action}")).status_code == 409, action

    # once resolved, the chat is no longer Ana's to read or follow
    assert (await ana.call("POST", "/api/assignments/conv-a/resolve")).status_code == 200
    assert (await ana.call("GET", "/api/conversations/conv-a/messages")).status_code == 403
    async with await ana.socket() as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "watch", "conversation_ids": ["conv-a"]}))
        assert (await next_event(ws, lambda e: e["type"] == "watching"))["conversation_ids"] == []
    assert (await sam.call("GET", "/api/conversations/conv-a/messages")).status_code == 200


async def test_quick_reply_variables_and_templates(base: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    await console.login("ana")
    await console.call("PUT", "/api/agents/ana/presence", json={"presence": "online"})
    order = {"id": "A1001", "status": "delivered", "total": 59.9, "currency": "USD"}
    await hand_off(console.http, "conv-q", language="zh", order=order, slots={"customer_name": "王芳"})
    await console.call("POST", "/api/offers/conv-q/accept")
    values = (await console.call("GET", "/api/conversations/conv-q/variables")).json()["variables"]
    assert (
        values["order_id"] == "A1001" and values["customer_name"] == "王芳" and values["agent_name"] == "Ana"
    )

    found = (await console.call("GET", "/api/quick-replies", params={"q": "退货", "lang": "zh"})).json()
    assert found and all(t["language"] == "zh" for t in found)
    assert all(set(t) >= {"id", "title", "text", "variables", "shortcut"} for t in found)
    everything = (await console.call("GET", "/api/quick-replies", params={"limit": "100"})).json()
    assert len(everything) == 100
    bad = (
        ({"lang": "fr"}, "lang"),
        ({"limit": "0"}, "limit"),
        ({"limit": "²"}, "limit"),
        ({"q": "x" * 501}, "q"),
    )
    for params, field in bad:
        response = await console.call("GET", "/api/quick-replies", params=params)
        assert response.status_code == 400 and response.json()["field"] == field


async def test_suggestions_come_from_the_customers_latest_message(base: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    await console.login("ana")
    await console.call("PUT", "/api/agents/ana/presence", json={"presence": "online"})
    await hand_off(console.http, "rest-conv-kb")
    await console.call("POST", "/api/offers/rest-conv-kb/accept")
    none_yet = (await console.call("GET", "/api/conversations/rest-conv-kb/suggestions")).json()
    assert none_yet["query"] is None and none_yet["hits"] == []

    write = await console.http.post(  # the customer writes while Ana holds the chat
        "/webhooks/rest/webhook",
        json={"sender": "conv-kb", "message": "how much does delivery cost"},
        headers=REST_AUTH,
    )
    assert write.status_code == 200, write.text
    found = (await console.call("GET", "/api/conversations/rest-conv-kb/suggestions")).json()
    assert found["query"] == "how much does delivery cost"
    assert found["hits"][0]["article_id"] == "en-shipping-fees" and found["hits"][0]["version"] == "v1"
    typed = (await console.call("GET", "/api/kb/search", params={"q": "refund time", "lang": "en"})).json()
    assert typed["hits"][0]["article_id"] == "en-refunds-timeline"
    assert (await console.call("GET", "/api/kb/search", params={"q": ""})).status_code == 400


# -- tickets when a handoff ends unresolved -------------------------------------------------------


async def test_a_customer_who_leaves_the_queue_leaves_a_ticket_and_a_miss(base: str) -> None:
    console = Console(base)
    await add_staff(console.http, "sam")
    await console.login("sam")
    await hand_off(console.http, "conv-left", intent="request_return", language="zh")
    cancel = await console.http.delete(
        "/api/handoffs/conv-left", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert cancel.status_code == 200 and cancel.json()["previous_owner"] == "queued"
    ticket_id = cancel.json()["ticket_id"]
    ticket = (await console.call("GET", f"/api/tickets/{ticket_id}")).json()
    assert ticket["auto_reason"] == "customer_left" and ticket["conversation_id"] == "conv-left"
    assert ticket["skill"] == "returns" and ticket["language"] == "zh" and ticket["status"] == "open"
    level = (await console.call("GET", "/api/supervisor/overview")).json()["service_level"]
    assert level["abandoned"] == 1 and level["answered"] == 0 and level["share_within_20s"] == 0.0
    again = await console.http.delete("/api/handoffs/conv-left", headers={"Authorization": f"Bearer {ADMIN}"})
    assert again.status_code == 409, again.text  # already closed: no second ticket either
    listed = (await console.call("GET", "/api/tickets", params={"conversation_id": "conv-left"})).json()
    assert listed["total"] == 1


@pytest.mark.parametrize("routing_overrides", [{"widen_after_seconds": "0.2", "ticket_after_seconds": "0.4"}])
async def test_nobody_available_turns_the_wait_into_a_ticket_the_customer_is_told(
    base: str, db_url: str
) -> None:
    console = Console(base)
    await add_staff(console.http, "sam")
    await console.login("sam")
    await hand_off(console.http, "conv-wait")

    async def ticket_notice() -> str:
        while True:
            for entry in transcript(db_url, "conv-wait"):
                if entry["author"] == "system" and "T-" in entry["text"]:
                    return str(entry["text"])
            await asyncio.sleep(0.1)

    text = await asyncio.wait_for(ticket_notice(), 10)
    found = (await console.call("GET", "/api/tickets", params={"conversation_id": "conv-wait"})).json()
    [ticket] = found["tickets"]
    assert ticket["id"] in text and ticket["auto_reason"] == "nobody_available"
    status = (
        await console.http.get("/api/handoffs/conv-wait", headers={"Authorization": f"Bearer {ADMIN}"})
    ).json()
    assert status["owner"] == "queued" and status["ticket_offered"]  # they may still wait for a person


def closed_today() -> str:
    """Opening hours that exclude the whole of today (UTC): open only on a day three days away."""
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(datetime.now(UTC).weekday() + 3) % 7]
    return f'hours:\n  timezone: UTC\n  open:\n    {day}: "09:00-17:00"'


@pytest.mark.parametrize("routing_overrides", [{"append": closed_today()}])
async def test_out_of_hours_a_handoff_becomes_a_ticket_at_once(base: str, db_url: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")  # online, but the team is closed: nobody should wait for her
    await console.login("ana")
    await console.call("PUT", "/api/agents/ana/presence", json={"presence": "away"})
    await hand_off(console.http, "conv-night", language="zh", intent="order_status")

    async def ticket_notice() -> str:
        while True:
            for entry in transcript(db_url, "conv-night"):
                if entry["author"] == "system" and "T-" in entry["text"]:
                    return str(entry["text"])
            await asyncio.sleep(0.1)

    text = await asyncio.wait_for(ticket_notice(), 10)
    assert "不在线" in text  # told in Chinese that the team is offline
    listed = (
        await admin(console.http, "GET", "/api/tickets", params={"conversation_id": "conv-night"})
    ).json()
    [ticket] = listed["tickets"]
    assert ticket["auto_reason"] == "out_of_hours" and ticket["skill"] == "orders" and ticket["id"] in text
    await asyncio.sleep(0.5)  # further sweeps neither repeat the notice nor add tickets
    notices = [e for e in transcript(db_url, "conv-night") if "T-" in e.get("text", "")]
    assert len(notices) == 1


# -- live events -----------------------------------------------------------------------------------


async def test_the_event_socket_needs_a_session_from_the_own_origin(base: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    url = base.replace("http://", "ws://") + "/ws/console"
    async with websockets.connect(url, additional_headers={"Origin": base}) as ws:
        assert json.loads(await ws.recv())["type"] == "error"
    await console.login("ana")
    cookie = {"Cookie": f"hub_session={console.http.cookies.get('hub_session')}"}
    async with websockets.connect(url, additional_headers={**cookie, "Origin": "https://evil.example"}) as ws:
        assert json.loads(await ws.recv())["type"] == "error"
    async with await console.socket() as ws:
        hello = json.loads(await ws.recv())
        assert hello == {"type": "hello", "user_id": "ana", "role": "agent", "agent_id": "ana"}


async def test_offers_and_messages_reach_the_right_console(base: str) -> None:
    ana, ben = Console(base), Console(base)
    await add_agent(ana.http, "ana", skills={"returns": 0.9})
    await add_agent(ana.http, "ben", skills={"general": 0.9})
    await ana.login("ana")
    await ben.login("ben")
    for console, agent_id in ((ana, "ana"), (ben, "ben")):
        await console.call("PUT", f"/api/agents/{agent_id}/presence", json={"presence": "online"})
    async with await ana.socket() as ws_ana, await ben.socket() as ws_ben:
        await ws_ana.recv()
        await ws_ben.recv()
        await hand_off(ana.http, "conv-r", reason="damaged_goods")  # → returns: only Ana has it
        offer = await next_event(ws_ana, lambda e: e["type"] == "offer")
        assert offer["conversation_id"] == "conv-r" and offer["expires_at"] > 0
        await ana.call("POST", "/api/offers/conv-r/accept")
        assigned = await next_event(ws_ana, lambda e: e["type"] == "assigned")
        assert assigned["conversation_id"] == "conv-r"

        await ws_ana.send(json.dumps({"type": "watch", "conversation_ids": ["conv-r"]}))
        watching = await next_event(ws_ana, lambda e: e["type"] == "watching")
        assert watching["conversation_ids"] == ["conv-r"]
        await ws_ben.send(json.dumps({"type": "watch", "conversation_ids": ["conv-r"]}))
        assert (await next_event(ws_ben, lambda e: e["type"] == "watching"))["conversation_ids"] == []

        await ana.call("POST", "/api/conversations/conv-r/messages", json={"text": "I am on it"})
        message = await next_event(ws_ana, lambda e: e["type"] == "message")
        assert message["conversation_id"] == "conv-r"
        await ana.call("POST", "/api/assignments/conv-r/resolve")
        released = await next_event(ws_ana, lambda e: e["type"] == "released")
        assert released["conversation_id"] == "conv-r"

        await ws_ben.send(json.dumps({"type": "ping"}))
        seen = []
        while (event := json.loads(await asyncio.wait_for(ws_ben.recv(), 5)))["type"] != "pong":
            seen.append(event)
        assert not [e for e in seen if e.get("conversation_id") == "conv-r"], seen


async def test_events_cross_service_workers_through_redis(
    app: Sanic, db_url: str, knowledge_index: Path
) -> None:  # type: ignore[type-arg]
    """Two service processes' worth of apps on one Redis: a console on one hears what happens on the other."""
    Sanic.test_mode = True
    other = create_app(app.ctx.settings, http_transport=rasa_stand_in([]))
    async with serving(app) as first, serving(other) as second:
        ana, ana_elsewhere = Console(first), Console(second)
        await add_agent(ana.http, "ana")
        await ana.login("ana")
        ana_elsewhere.http.cookies.update(ana.http.cookies)  # the same session works on every worker
        ana_elsewhere.csrf = ana.csrf
        async with await ana.socket() as ws:
            await ws.recv()
            online = await ana_elsewhere.call("PUT", "/api/agents/ana/presence", json={"presence": "online"})
            assert online.status_code == 200
            await hand_off(ana_elsewhere.http, "rest-conv-x")
            offer = await next_event(ws, lambda e: e["type"] == "offer")
            assert offer["conversation_id"] == "rest-conv-x"
            assert (await ana_elsewhere.call("POST", "/api/offers/rest-conv-x/accept")).status_code == 200
            await ws.send(json.dumps({"type": "watch", "conversation_ids": ["rest-conv-x"]}))
            await next_event(ws, lambda e: e["type"] == "watching")
            await ana_elsewhere.http.post(
                "/webhooks/rest/webhook", json={"sender": "conv-x", "message": "hello?"}, headers=REST_AUTH
            )
            message = await next_event(ws, lambda e: e["type"] == "message")
            assert message["conversation_id"] == "rest-conv-x"
        while Console.opened:
            await Console.opened.pop().http.aclose()


# -- the page and the command line -----------------------------------------------------------------


async def test_the_page_forbids_inline_script(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        page = await client.get("/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert (
        "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    )
    assert page.headers["x-content-type-options"] == "nosniff"


def test_the_command_line_creates_users_and_the_demo_team(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "REDIS_URL": db_url, "PYTHONPATH": str(ROOT), "HUB_USER_PASSWORD": PASSWORD}
    run = [sys.executable, "-m", "handoff"]
    added = subprocess.run(
        [*run, "user", "add", "boss", "--role", "admin"], env=env, capture_output=True, text=True
    )
    assert added.returncode == 0, added.stderr
    again = subprocess.run(
        [*run, "user", "add", "boss", "--role", "admin"], env=env, capture_output=True, text=True
    )
    assert again.returncode == 2 and "already exists" in again.stderr
    out = tmp_path / "team.tsv"
    demo = subprocess.run([*run, "demo-team", "--output", str(out)], env=env, capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = [line.split("\t") for line in out.read_text().splitlines()[1:]]
    assert {r[0] for r in rows} >= {"ana", "li", "sam", "admin"}
    client = redis.Redis.from_url(db_url, decode_responses=True)
    assert client.hget("hub:user:li", "agent_id") == "li" and client.sismember("hub:agents", "li")


async def test_sessions_that_idled_out_leave_no_trace(base: str, db_url: str) -> None:
    console = Console(base)
    await add_agent(console.http, "ana")
    client = redis.Redis.from_url(db_url, decode_responses=True)
    try:
        for _ in range(3):
            assert (await console.login("ana")).status_code == 200
            for digest in client.smembers("hub:user:ana:sessions"):
                client.delete(f"hub:session:{digest}")  # as if its idle timeout had passed
        assert (await console.login("ana")).status_code == 200
        assert client.scard("hub:user:ana:sessions") == 1  # only the live one is remembered
    finally:
        client.close()
