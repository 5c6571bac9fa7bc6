"""Proactive messages through the hub: the signed order webhook, the scheduler in the app, delivery into the
customer's conversation and by email to a real SMTP server (aiosmtpd), quiet hours, opt-out, two workers
sending once, and the reply context the assistant gets with the customer's next message."""

from __future__ import annotations

import asyncio
import json
import re
import smtplib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from aiosmtpd.smtp import SMTP, Envelope, Session
from redis.asyncio import Redis
from sanic import Sanic

from common.webhook_signature import sign
from handoff import keys
from handoff.app import create_app
from handoff.proactive.triggers import DEFAULT_PATH
from handoff.settings import Settings
from handoff.widget_tokens import sign as sign_token
from tests.integration.api_helpers import database_url
from tests.integration.conftest import IDENTITY_SECRET, hub_secrets, rasa_stand_in
from tests.integration.live_app import serving
from tests.integration.test_telegram_channel import BOT_TOKEN, BotApiStandIn, RoutingTransport
from tests.redis_server import free_port
from tests.smtp_relay import running_relay

pytestmark = pytest.mark.integration

REDIS_DB = 2  # the scheduler's due set and lease are global: this module empties its own database
WEBHOOK_SECRET = "order-webhook-secret-0123456789"
ADMIN_HEADERS = {"Authorization": "Bearer admin-token-0123456789"}
CUSTOMER = "cust-proactive-1"
EMAIL = "li.wei@example.com"


@dataclass
class Relay:
    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.original_content or b"")))
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[Relay, int]]:
    handler = Relay()
    with running_relay(handler) as port:
        yield handler, port


def triggers_file(directory: Path, quiet_hours: str | None) -> Path:
    """The shipped triggers with the quiet hours under test and a quick scheduler."""
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    quiet = "null" if quiet_hours is None else f'"{quiet_hours}"'
    text = re.sub(r'(?m)^quiet_hours: "[^"]*"', f"quiet_hours: {quiet}", text)
    text = re.sub(r"(?m)^(\s*interval_seconds:)\s*\d+", r"\1 1", text)
    path = directory / "proactive.yml"
    path.write_text(text, encoding="utf-8")
    return path


def quiet_now() -> str:
    """Quiet hours that hold now, in the store's time zone (Asia/Shanghai), whatever the time of day."""
    local = datetime.now(UTC) + timedelta(hours=8)
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end = (local + timedelta(hours=2)).strftime("%H:%M")
    return f"{start}-{end}"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(database_url(redis_url, REDIS_DB), decode_responses=True)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


def app_for(
    redis_url: str,
    triggers: Path,
    smtp_port: int,
    seen: list[dict[str, Any]],
    name: str,
    transport: httpx.AsyncBaseTransport | None = None,
    **extra: str,
) -> Sanic:  # type: ignore[type-arg]
    env = {
        **extra,
        **hub_secrets(),
        "REDIS_URL": database_url(redis_url, REDIS_DB),
        "ORDER_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PROACTIVE_CONFIG": str(triggers),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "EMAIL_FROM": "Shop Support <support@shop.example>",
        "EMAIL_REPLY_DOMAIN": "reply.shop.example",
        "EMAIL_TOKEN_SECRET": "email-token-secret-0123456789",
        "HUB_SWEEP_INTERVAL": "60",
    }
    Sanic.test_mode = True
    app = create_app(Settings.from_env(env), http_transport=transport or rasa_stand_in(seen))
    app.name = name  # type: ignore[misc]
    return app


def late_order_event(event_id: str, language: str = "zh", email: str | None = EMAIL) -> bytes:
    promised = date.today() - timedelta(days=3)
    placed = datetime.now(UTC) - timedelta(days=6)
    event = {
        "event_id": event_id,
        "type": "order.updated",
        "occurred_at": datetime.now(UTC).isoformat(),
        "order": {
            "id": "SO-20261201",
            "customer_id": CUSTOMER,
            "status": "shipped",
            "placed_at": placed.isoformat(),
            "promised_by": promised.isoformat(),
            "shipped_at": (placed + timedelta(days=1)).isoformat(),
            "carrier": "SF Express",
            "tracking_number": "SF1234567890",
            "language": language,
            "email": email,
        },
    }
    return json.dumps(event).encode()


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"X-Signature": sign(secret, body, int(time.time())), "Content-Type": "application/json"}


async def customer_session(http: httpx.AsyncClient, base: str) -> tuple[str, str]:
    """The signed-in customer's widget conversation and session token, as the storefront opens it."""
    identity = sign_token(IDENTITY_SECRET, "identity", {"sub": CUSTOMER}, 600)
    answer = await http.post(f"{base}/api/widget/session", json={"identity": identity})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["conversation_id"]), str(answer.json()["token"])


@asynccontextmanager
async def widget(base: str, token: str) -> AsyncIterator[Any]:
    url = base.replace("http://", "ws://") + "/ws/widget"
    async with websockets.connect(url, additional_headers={"Origin": base}) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        yield ws


async def frames_until(ws: Any, wanted: Any) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if wanted(frame):
            return dict(frame)


async def bot_messages(redis: Redis, conversation_id: str) -> list[dict[str, Any]]:
    entries = [
        json.loads(fields["data"]) for _, fields in await redis.xrange(keys.transcript(conversation_id))
    ]
    return [entry for entry in entries if entry.get("author") == "bot"]


async def eventually(check: Any, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_late_order_reaches_widget_and_email_once_and_the_reply_knows_the_order(
    redis: Redis, redis_url: str, relay: tuple[Relay, int], tmp_path: Path
) -> None:
    handler, smtp_port = relay
    seen: list[dict[str, Any]] = []
    triggers = triggers_file(tmp_path, None)
    async with AsyncExitStack() as stack:
        # Two hub workers on one Redis: the lease lets one scheduler run, the send guard keeps it to one.
        first = await stack.enter_async_context(
            serving(app_for(redis_url, triggers, smtp_port, seen, "hub_a"))
        )
        second = await stack.enter_async_context(
            serving(app_for(redis_url, triggers, smtp_port, seen, "hub_b"))
        )
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        conversation_id, token = await customer_session(http, first)

        body = late_order_event("evt-late-1")
        answer = await http.post(f"{second}/webhooks/orders", content=body, headers=signed(body))
        assert answer.status_code == 202, answer.text
        messages = await eventually(lambda: bot_messages(redis, conversation_id))
        assert "SO-20261201" in messages[0]["text"] and "抱歉" in messages[0]["text"]  # the order's language
        await eventually(lambda: asyncio.sleep(0, result=handler.received))
        recipients, raw = handler.received[0]
        assert recipients == [EMAIL]
        mail = message_from_bytes(raw, policy=policy.default)
        assert "SO-20261201" in str(mail["Subject"]) and "SF1234567890" in mail.get_content()
        assert str(mail["Reply-To"]).startswith("reply+")
        # How to stop them: an address of its own (no public URL configured, so no link)
        unsubscribe = str(mail["List-Unsubscribe"])
        assert unsubscribe.startswith("<mailto:reply+") and unsubscribe.endswith("?subject=unsubscribe>")
        assert str(mail["Reply-To"]) not in unsubscribe and "退订" in mail.get_content()
        assert mail["List-Unsubscribe-Post"] is None

        # The same event again is refused and changes nothing; a new event the same day sends nothing.
        again = await http.post(f"{first}/webhooks/orders", content=body, headers=signed(body))
        assert again.status_code == 409, again.text
        other = late_order_event("evt-late-2")
        assert (
            await http.post(f"{first}/webhooks/orders", content=other, headers=signed(other))
        ).status_code == 202
        await asyncio.sleep(3)  # several scheduler rounds on both workers
        assert len(await bot_messages(redis, conversation_id)) == 1
        assert len(handler.received) == 1

        # The customer opens the widget later: the message is there; their answer goes to the assistant
        # with the order and the reason it wrote.
        async with widget(first, token) as ws:
            shown = await frames_until(ws, lambda f: f.get("author") == "bot")
            assert "SO-20261201" in shown["text"]
            await ws.send(json.dumps({"type": "message", "text": "到哪了？", "client_id": "c1"}))
            await frames_until(ws, lambda f: str(f.get("text", "")).startswith("echo: 到哪了"))
            await ws.send(json.dumps({"type": "message", "text": "thanks", "client_id": "c2"}))
            await frames_until(ws, lambda f: f.get("text") == "echo: thanks")
        told = [m for m in seen if m["sender"] == conversation_id]
        assert told[0]["metadata"]["proactive"] == {"order_id": "SO-20261201", "trigger": "late_shipment"}
        assert "proactive" not in told[1]["metadata"]  # only the answer to it: the next message is new


async def test_bad_webhooks_change_nothing(
    redis: Redis, redis_url: str, relay: tuple[Relay, int], tmp_path: Path
) -> None:
    _, smtp_port = relay
    app = app_for(redis_url, triggers_file(tmp_path, None), smtp_port, [], "hub_bad")
    async with serving(app) as base, httpx.AsyncClient(timeout=10) as http:
        body = late_order_event("evt-bad-1")
        unsigned = await http.post(f"{base}/webhooks/orders", content=body)
        assert unsigned.status_code == 401, unsigned.text
        forged = await http.post(
            f"{base}/webhooks/orders", content=body, headers=signed(body, "another-secret-0123456789")
        )
        assert forged.status_code == 401
        tampered = body.replace(b"SO-20261201", b"SO-20269999")
        assert (
            await http.post(f"{base}/webhooks/orders", content=tampered, headers=signed(body))
        ).status_code == 401
        malformed = b'{"event_id": "evt-bad-2", "type": "order.shipped"}'
        refused = await http.post(f"{base}/webhooks/orders", content=malformed, headers=signed(malformed))
        assert refused.status_code == 400 and refused.json()["field"] == "type", refused.text
        assert set(await redis.keys("hub:proactive:*")) <= {"hub:proactive:lease"}  # the scheduler's own


async def test_quiet_hours_and_opt_out_hold_messages_back(
    redis: Redis, redis_url: str, relay: tuple[Relay, int], tmp_path: Path
) -> None:
    handler, smtp_port = relay
    quiet = app_for(redis_url, triggers_file(tmp_path, quiet_now()), smtp_port, [], "hub_quiet")
    async with serving(quiet) as base, httpx.AsyncClient(timeout=10) as http:
        conversation_id, _ = await customer_session(http, base)
        body = late_order_event("evt-quiet-1")
        assert (
            await http.post(f"{base}/webhooks/orders", content=body, headers=signed(body))
        ).status_code == 202

        async def postponed() -> bool:  # to the end of the quiet hours, about two hours away
            due = await redis.zscore("hub:proactive:due", "SO-20261201")
            return due is not None and due / 1000 > time.time() + 3000

        await eventually(postponed, 10)
        assert await bot_messages(redis, conversation_id) == [] and handler.received == []

    await redis.flushdb()
    loud = app_for(redis_url, triggers_file(tmp_path, None), smtp_port, [], "hub_optout")
    async with serving(loud) as base, httpx.AsyncClient(timeout=10) as http:
        conversation_id, _ = await customer_session(http, base)
        put = await http.put(
            f"{base}/api/customers/{CUSTOMER}/proactive", json={"opted_out": True}, headers=ADMIN_HEADERS
        )
        assert put.status_code == 200 and put.json()["opted_out"] is True, put.text
        body = late_order_event("evt-optout-1")
        assert (
            await http.post(f"{base}/webhooks/orders", content=body, headers=signed(body))
        ).status_code == 202
        await eventually(lambda: redis.zscore("hub:proactive:due", "SO-20261201"), 10)
        await asyncio.sleep(2.5)
        assert await bot_messages(redis, conversation_id) == [] and handler.received == []
        got = await http.get(f"{base}/api/customers/{CUSTOMER}/proactive", headers=ADMIN_HEADERS)
        assert got.json() == {"customer_id": CUSTOMER, "opted_out": True}


async def test_a_telegram_customer_is_told_in_their_chat(
    redis: Redis, redis_url: str, relay: tuple[Relay, int], tmp_path: Path
) -> None:
    """A customer whose conversation is a Telegram chat (linked to their identity when they shared their
    verified contact) gets the message pushed there, through the Bot API."""
    handler, smtp_port = relay
    api = BotApiStandIn()
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    telegram = {
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": "telegram-webhook-secret-0123",
        "TELEGRAM_API_URL": api.url,
    }
    transport = RoutingTransport(api.port, rasa_stand_in([]))  # the Bot API over the network
    app = app_for(
        redis_url, triggers_file(tmp_path, None), smtp_port, [], "hub_telegram", transport, **telegram
    )
    try:
        async with serving(app) as base, httpx.AsyncClient(timeout=10) as http:
            chat = "tg-424242"
            await redis.set(keys.identity("customer", CUSTOMER), chat)
            await redis.hset(keys.conversation(chat), mapping={"channel": "telegram", "address": "424242"})
            body = late_order_event("evt-telegram-1", language="en", email=None)
            answer = await http.post(f"{base}/webhooks/orders", content=body, headers=signed(body))
            assert answer.status_code == 202, answer.text
            sent = await eventually(lambda: asyncio.sleep(0, result=api.sent()))
            assert str(sent[0]["chat_id"]) == "424242"
            assert "SO-20261201" in sent[0]["text"] and "Sorry" in sent[0]["text"]
            assert [m["text"] for m in await bot_messages(redis, chat)] == [sent[0]["text"]]
            assert handler.received == []  # no address on the order: no email
    finally:
        api.server.shutdown()
        api.server.server_close()


async def test_a_customer_unsubscribes_from_the_email_by_link_or_by_mail(
    redis: Redis, redis_url: str, relay: tuple[Relay, int], tmp_path: Path
) -> None:
    handler, smtp_port = relay
    inbound = free_port()
    extra = {"HUB_PUBLIC_URL": "https://help.shop.example", "EMAIL_INBOUND_SMTP_PORT": str(inbound)}
    app = app_for(redis_url, triggers_file(tmp_path, None), smtp_port, [], "hub_unsubscribe", None, **extra)
    async with serving(app) as base, httpx.AsyncClient(timeout=10) as http:
        body = late_order_event("evt-unsub-1", language="en")
        assert (
            await http.post(f"{base}/webhooks/orders", content=body, headers=signed(body))
        ).status_code == 202
        await eventually(lambda: asyncio.sleep(0, result=handler.received))
        mail = message_from_bytes(handler.received[0][1], policy=policy.default)
        link, mailto = (part.strip(" <>") for part in str(mail["List-Unsubscribe"]).split(","))
        assert link.startswith("https://help.shop.example/unsubscribe?token=") and link in mail.get_content()
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        path = link.removeprefix("https://help.shop.example")

        # Opening the link (as mail scanners do) changes nothing; the page's button (or one click) does.
        page = await http.get(f"{base}{path}")
        assert page.status_code == 200 and 'method="post"' in page.text
        assert not await redis.sismember("hub:proactive:opted_out", CUSTOMER)
        forged = await http.post(
            f"{base}/unsubscribe?token=not-a-token", content=b"List-Unsubscribe=One-Click"
        )
        assert forged.status_code == 401
        done = await http.post(f"{base}{path}", content=b"List-Unsubscribe=One-Click")
        assert done.status_code == 200 and "Unsubscribed" in done.text
        assert await redis.sismember("hub:proactive:opted_out", CUSTOMER)

        # The mailto way, as a mail client sends it (no text at all), to the hub's own receiver.
        await redis.srem("hub:proactive:opted_out", CUSTOMER)
        address = mailto.removeprefix("mailto:").split("?")[0]
        note = EmailMessage()
        note["From"], note["To"], note["Subject"] = EMAIL, address, "unsubscribe"
        note.set_content("")
        await asyncio.to_thread(send_mail, inbound, note)
        assert await redis.sismember("hub:proactive:opted_out", CUSTOMER)
        got = await http.get(f"{base}/api/customers/{CUSTOMER}/proactive", headers=ADMIN_HEADERS)
        assert got.json()["opted_out"] is True


def send_mail(port: int, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)
