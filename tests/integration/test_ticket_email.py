"""Tickets by email against the real service, a real Redis and real SMTP servers on loopback ports: an
agent's reply reaches the conversation and the relay (aiosmtpd) with the ticket's reply address; the
customer's emailed reply comes back through the built-in receiver and the provider webhook into the
ticket's history, thread and conversation, once per Message-ID; a delivery the relay refuses shows as
failed and is sent again on retry; promises are listed while due or overdue and kept by a reply.

One app, relay and receiver serve the module (starting the app takes seconds); each test makes its own
tickets and conversations, and the relay forgets what it received before each test.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import partial
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sanic import Sanic

from handoff.app import create_app
from handoff.blueprints import email_inbound
from handoff.channels.email.inbound import InboundReply
from handoff.channels.email.outbox import PENDING, Outbox, Status
from handoff.channels.email.smtp_server import InboundSmtpServer
from handoff.channels.email.ticket_mail import UnknownTicket, take_reply
from handoff.channels.email.tokens import ReplyTokens
from handoff.proactive.sender import thread_key
from handoff.settings import Settings
from handoff.transcript import Message
from tests.integration.api_helpers import database_url, own_database
from tests.integration.conftest import ADMIN, SERVICE, hub_secrets, rasa_stand_in
from tests.integration.live_app import serving
from tests.integration.test_email_delivery import Relay, parsed, start_relay

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

REDIS_DB = 12  # ticket keys are global: this module empties its own database before and after it
SECRET = "reply-token-secret-0123456789"
DOMAIN = "reply.shop.example"
INBOUND_TOKEN = "inbound-webhook-token-0123456789"
CUSTOMER = "li@example.cn"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
WEBHOOK = {"Authorization": f"Bearer {INBOUND_TOKEN}", "Content-Type": "message/rfc822"}
SETTLE_SECONDS = 15.0
tokens = ReplyTokens(SECRET, DOMAIN)


def build_app(db_url: str, routing_config: str, **email: str) -> Sanic:  # type: ignore[type-arg]
    Sanic.test_mode = True
    env = {**hub_secrets(), "REDIS_URL": db_url, "HUB_ROUTING_CONFIG": routing_config, **email}
    return create_app(Settings.from_env(env), http_transport=rasa_stand_in([]))


def email_env(relay_port: int) -> dict[str, str]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(relay_port),
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT_SECONDS": "5",
        "EMAIL_FROM": "Shop Support <support@shop.example>",
        "EMAIL_REPLY_DOMAIN": DOMAIN,
        "EMAIL_TOKEN_SECRET": SECRET,
        "EMAIL_INBOUND_TOKEN": INBOUND_TOKEN,
        "EMAIL_MAX_ATTEMPTS": "3",
    }


@dataclass
class Service:
    http: httpx.AsyncClient
    app: Sanic  # type: ignore[type-arg]
    redis: Redis
    relay: Relay
    receiver_port: int

    @property
    def outbox(self) -> Outbox:
        outbox: Outbox = self.app.ctx.email.outbox
        return outbox

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, headers=ADMIN_AUTH, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    async def conversation(self, **packet: Any) -> str:
        conversation_id = f"web-mail-{uuid.uuid4().hex[:12]}"
        body = {"conversation_id": conversation_id, "reason": "customer_request", "language": "en", **packet}
        handed = await self.http.post(
            "/api/handoffs", json=body, headers={"Authorization": f"Bearer {SERVICE}"}
        )
        assert handed.status_code == 201, handed.text
        return conversation_id

    async def ticket(self, **body: Any) -> dict[str, Any]:
        created: dict[str, Any] = await self.ok(
            "POST", "/api/tickets", 201, json={"subject": "Parcel late", **body}
        )
        return created

    async def reply(self, ticket_id: str, status: int = 201, **body: Any) -> Any:
        return await self.ok("POST", f"/api/tickets/{ticket_id}/replies", status, json=body)

    async def settled(self, email_id: str) -> Status:
        """Deliver until the email is sent or failed (the app's own delivery loop may get there first)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            await self.outbox.deliver_due()
            status = await self.outbox.status(email_id)
            assert status is not None
            if status.status not in PENDING:
                return status.status
            assert time.monotonic() < deadline, f"email {email_id} is still {status.status}"
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(redis_url: str, no_overflow_routing: str) -> AsyncIterator[Service]:
    relay = Relay()
    relay_server, relay_port = await start_relay(relay)
    async with own_database(redis_url, REDIS_DB) as redis:
        app = build_app(database_url(redis_url, REDIS_DB), no_overflow_routing, **email_env(relay_port))
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
            receiver = InboundSmtpServer(app.ctx.email.tokens, partial(take_reply, app.ctx), port=0)
            await receiver.start()
            try:
                yield Service(http, app, redis, relay, receiver.port)
            finally:
                await receiver.stop()
    relay_server.close()
    await relay_server.wait_closed()


@pytest_asyncio.fixture(loop_scope="module")
async def service(served: Service) -> Service:
    served.relay.received.clear()
    served.relay.data_replies.clear()
    return served


def customer_email(
    to: str, text: str, message_id: str, in_reply_to: str | None = None, **headers: str
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Li Lei <{CUSTOMER}>"
    message["To"] = to
    message["Subject"] = "Re: Parcel late"
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(
        f"{text}\n\nOn Tue, 17 Mar 2030 at 17:46, Shop Support <{to}> wrote:\n> Your parcel left\n"
    )
    return message.as_bytes()


def send_mail(port: int, rcpt: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.example.cn", timeout=5) as client:
        client.sendmail(CUSTOMER, [rcpt], raw)


def actions(ticket: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [entry for entry in ticket["history"] if entry["action"] == action]


async def transcript(service: Service, conversation_id: str) -> list[dict[str, Any]]:
    thread: list[dict[str, Any]] = await service.ok("GET", f"/api/conversations/{conversation_id}/messages")
    return thread


# -- an agent's reply ------------------------------------------------------------------------------------


async def test_a_reply_reaches_the_conversation_and_the_customer_with_the_reply_address(
    service: Service,
) -> None:
    identity = {"customer_id": "c-1", "verified_by": "storefront", "email": CUSTOMER}
    conversation_id = await service.conversation(channel="web", identity=identity)
    ticket = await service.ticket(conversation_id=conversation_id)
    assert ticket["customer_email"] == CUSTOMER  # from the packet's verified identity
    due_at = time.time() + 2 * 3600
    promised = await service.ok(
        "PATCH", f"/api/tickets/{ticket['id']}", json={"promise": {"kind": "reply", "due_at": due_at}}
    )
    assert promised["promise"]["state"] == "pending"

    answer = await service.reply(ticket["id"], text="Your parcel left the warehouse today.")

    assert answer["message"]["author"] == "agent"
    assert answer["message"]["text"] == "Your parcel left the warehouse today."
    assert answer["email"]["status"] == "queued" and answer["email"]["recipient"] == CUSTOMER
    in_chat = [m for m in await transcript(service, conversation_id) if m["author"] == "agent"]
    assert [m["id"] for m in in_chat] == [answer["message"]["id"]]
    after = await service.ok("GET", f"/api/tickets/{ticket['id']}")
    assert after["status"] == "pending"
    assert after["promise"]["state"] == "kept"
    [replied] = actions(after, "replied")
    assert replied["emailed"] and replied["email_id"] == answer["email"]["id"]
    assert replied["text"] == "Your parcel left the warehouse today."
    assert replied["changes"]["status"] == ["open", "pending"]

    assert await service.settled(answer["email"]["id"]) is Status.SENT
    [(sender, recipients, raw)] = service.relay.received
    sent = parsed(raw)
    assert (sender, recipients) == ("support@shop.example", [CUSTOMER])
    assert sent["To"] == CUSTOMER
    assert sent["Reply-To"] == tokens.address(ticket["id"])
    assert ticket["id"] in sent["Subject"]
    assert "Your parcel left the warehouse today." in sent.get_content()


async def test_an_email_only_ticket_is_answered_by_email_and_a_ticket_without_either_is_refused(
    service: Service,
) -> None:
    bare = await service.ticket()
    refused = await service.reply(bare["id"], 409, text="Hello")
    assert refused["error"] == "nowhere_to_send"
    assert (await service.reply(bare["id"], 409, text="Hello", email=True))["error"] == "no_customer_email"
    with_email = await service.ok("PATCH", f"/api/tickets/{bare['id']}", json={"customer_email": CUSTOMER})
    assert with_email["customer_email"] == CUSTOMER

    answer = await service.reply(bare["id"], text="We have refunded you.")

    assert answer["message"] is None
    assert await service.settled(answer["email"]["id"]) is Status.SENT
    assert parsed(service.relay.received[0][2])["Reply-To"] == tokens.address(bare["id"])
    thread = await service.ok("GET", f"/api/tickets/{bare['id']}/thread")
    assert thread["messages"] == []
    assert [e["status"] for e in thread["emails"]] == ["sent"]


# -- the customer's reply ------------------------------------------------------------------------------


async def test_the_customers_reply_through_the_receiver_reopens_the_ticket_and_threads_the_next_reply(
    service: Service,
) -> None:
    conversation_id = await service.conversation(channel="web")
    ticket = await service.ticket(conversation_id=conversation_id, customer_email=CUSTOMER)
    first = await service.reply(ticket["id"], text="Could you send a photo of the parcel?")
    await service.settled(first["email"]["id"])
    ours = parsed(service.relay.received[0][2])
    reply_to = ours["Reply-To"]

    theirs = customer_email(
        reply_to, "Here it is, the box is crushed.", "<r-1@mail.example.cn>", ours["Message-ID"]
    )
    await asyncio.to_thread(send_mail, service.receiver_port, reply_to, theirs)

    after = await service.ok("GET", f"/api/tickets/{ticket['id']}")
    assert after["status"] == "open"  # back with the team
    [taken] = actions(after, "customer_replied")
    assert (taken["text"], taken["truncated"], taken["channel"], taken["from"]) == (
        "Here it is, the box is crushed.",
        False,
        "email",
        CUSTOMER,
    )
    assert taken["changes"]["status"] == ["pending", "open"]
    thread = await service.ok("GET", f"/api/tickets/{ticket['id']}/thread")
    said = [(m["text"], m["channel"]) for m in thread["messages"] if m["author"] == "customer"]
    assert said == [("Here it is, the box is crushed.", "email")]

    second = await service.reply(ticket["id"], text="Thank you, a replacement is on its way.")
    await service.settled(second["email"]["id"])
    answer = parsed(service.relay.received[1][2])
    assert answer["In-Reply-To"] == "<r-1@mail.example.cn>"
    assert answer["References"].split() == [ours["Message-ID"], "<r-1@mail.example.cn>"]
    thread = await service.ok("GET", f"/api/tickets/{ticket['id']}/thread")
    assert [e["id"] for e in thread["emails"]] == [
        second["email"]["id"],
        first["email"]["id"],
    ]  # newest first


async def test_the_webhook_takes_a_reply_once_however_often_it_arrives(service: Service) -> None:
    conversation_id = await service.conversation(channel="web")
    ticket = await service.ticket(conversation_id=conversation_id, customer_email=CUSTOMER)
    address = tokens.address(ticket["id"])
    raw = customer_email(address, "Any news about my refund?", "<r-7@mail.example.cn>")

    first = await service.http.post(email_inbound.PATH, content=raw, headers=WEBHOOK)
    again = await service.http.post(email_inbound.PATH, content=raw, headers=WEBHOOK)
    await asyncio.to_thread(send_mail, service.receiver_port, address, raw)  # and by SMTP as well

    assert (first.status_code, again.status_code) == (202, 202), first.text
    assert first.json()["ticket_id"] == ticket["id"]
    after = await service.ok("GET", f"/api/tickets/{ticket['id']}")
    assert [e["text"] for e in actions(after, "customer_replied")] == ["Any news about my refund?"]
    said = [m["text"] for m in await transcript(service, conversation_id) if m["author"] == "customer"]
    assert said == ["Any news about my refund?"]


async def test_the_webhook_refuses_wrong_tokens_and_says_what_it_cannot_take(service: Service) -> None:
    ticket = await service.ticket(customer_email=CUSTOMER)
    address = tokens.address(ticket["id"])
    raw = customer_email(address, "Hello?", "<r-9@mail.example.cn>")
    post = partial(service.http.post, email_inbound.PATH)

    for headers in (
        {**WEBHOOK, "Authorization": "Bearer wrong-token-0123456789"},
        {**WEBHOOK, "Authorization": INBOUND_TOKEN},  # not a bearer token
        {"Content-Type": "message/rfc822"},
    ):
        assert (await post(content=raw, headers=headers)).status_code == 401
    assert (
        await post(content=raw, headers={**WEBHOOK, "Content-Type": "application/json"})
    ).status_code == 415
    elsewhere = customer_email("support@shop.example", "Hello?", "<r-10@mail.example.cn>")
    assert (await post(content=elsewhere, headers=WEBHOOK)).json()["error"] == "unreadable"
    gone = await post(
        content=customer_email(tokens.address("T-999999"), "Hi", "<r-11@x.cn>"), headers=WEBHOOK
    )
    assert (gone.status_code, gone.json()["error"]) == (422, "unknown_ticket")
    away = customer_email(address, "I am away until Monday.", "<r-12@x.cn>", Auto_Submitted="auto-replied")
    dropped = await post(content=away, headers=WEBHOOK)
    assert (dropped.status_code, dropped.json()["dropped"]) == (200, "auto_reply")
    assert actions(await service.ok("GET", f"/api/tickets/{ticket['id']}"), "customer_replied") == []


# -- failure and retry -----------------------------------------------------------------------------------


async def test_a_refused_email_shows_as_failed_and_is_sent_again_on_retry(service: Service) -> None:
    ticket = await service.ticket(customer_email=CUSTOMER)
    other = await service.ticket(customer_email=CUSTOMER)
    service.relay.data_replies.append("550 5.1.1 Mailbox unavailable")
    answer = await service.reply(ticket["id"], text="Your refund is on its way.")
    email_id = answer["email"]["id"]

    assert await service.settled(email_id) is Status.FAILED
    [shown] = (await service.ok("GET", f"/api/tickets/{ticket['id']}/thread"))["emails"]
    assert (shown["id"], shown["status"], shown["reason"]) == (
        email_id,
        "failed",
        "550 5.1.1 Mailbox unavailable",
    )
    retry = f"/api/tickets/{ticket['id']}/emails/{email_id}/retry"
    assert (await service.ok("POST", f"/api/tickets/{other['id']}/emails/{email_id}/retry", 404))[
        "error"
    ] == ("unknown_email")
    assert await service.ok("POST", f"/api/tickets/{ticket['id']}/emails/no-such-email/retry", 404)

    queued = await service.ok("POST", retry)

    assert queued["email"]["status"] == "queued" and queued["email"]["attempts"] == 0
    assert await service.settled(email_id) is Status.SENT
    assert len(service.relay.received) == 1
    assert (await service.ok("POST", retry, 409))["error"] == "not_failed"
    after = await service.ok("GET", f"/api/tickets/{ticket['id']}")
    assert [e["email_id"] for e in actions(after, "email_retried")] == [email_id]


# -- promises ---------------------------------------------------------------------------------------------


async def test_promises_are_listed_while_due_or_overdue_and_leave_the_lists_when_kept(
    service: Service,
) -> None:
    now = time.time()
    due = await service.ticket(customer_email=CUSTOMER)
    late = await service.ticket(customer_email=CUSTOMER)
    later = await service.ticket(customer_email=CUSTOMER)
    for ticket, kind, due_at in (
        (due, "callback", now + 1800),
        (late, "reply", now - 60),
        (later, "reply", now + 7200),
    ):
        await service.ok(
            "PATCH", f"/api/tickets/{ticket['id']}", json={"promise": {"kind": kind, "due_at": due_at}}
        )

    mine = {due["id"], late["id"], later["id"]}

    async def listed(promise: str) -> list[str]:
        found = await service.ok("GET", "/api/tickets", params={"promise": promise})
        assert found["total"] == len(found["tickets"])
        return [t["id"] for t in found["tickets"] if t["id"] in mine]

    assert await listed("due") == [due["id"]]
    assert await listed("overdue") == [late["id"]]
    kept_by_hand = await service.ok("PATCH", f"/api/tickets/{due['id']}", json={"promise_kept": True})
    assert kept_by_hand["promise"]["state"] == "kept"
    refused = await service.ok("PATCH", f"/api/tickets/{late['id']}", 409, json={"promise_kept": True})
    assert refused["error"] == "promise_kept_by_reply"
    await service.reply(late["id"], text="Sorry for the wait: your refund was sent today.")
    assert (await listed("due"), await listed("overdue")) == ([], [])
    assert (await service.ok("GET", "/api/tickets", 400, params={"promise": "kept"}))["field"] == "promise"


async def test_the_webhook_is_unavailable_while_email_is_off(
    redis_url: str, no_overflow_routing: str
) -> None:
    app = build_app(database_url(redis_url, REDIS_DB), no_overflow_routing)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        answer = await http.post(email_inbound.PATH, content=b"From: x@example.cn\r\n\r\nhi", headers=WEBHOOK)
        ticket = (await http.post("/api/tickets", json={"subject": "s"}, headers=ADMIN_AUTH)).json()
        thread = await http.get(f"/api/tickets/{ticket['id']}/thread", headers=ADMIN_AUTH)
        asked = await http.post(
            f"/api/tickets/{ticket['id']}/replies", json={"text": "hi", "email": True}, headers=ADMIN_AUTH
        )
    assert answer.status_code == 503
    assert thread.json() == {"messages": [], "emails": []}
    assert (asked.status_code, asked.json()["error"]) == (409, "email_off")


# -- taking a reply, with a hub that can fail ---------------------------------------------------------------


@dataclass
class StandInHub:
    """The hub's customer_reply_outside, failing its first `failures` calls (Redis away)."""

    failures: int = 0
    taken: list[tuple[str, str, str]] = field(default_factory=list)

    async def customer_reply_outside(
        self, conversation_id: str, text: str, channel: str, facts: Sequence[Mapping[str, Any]] = ()
    ) -> Message:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis is away")
        self.taken.append((conversation_id, text, channel))
        return Message(author="customer", text=text, channel=channel, id=f"{len(self.taken)}-0")


def inbound(
    ticket_id: str, text: str = "Still nothing arrived.", message_id: str = "<r-30@x.cn>"
) -> InboundReply:
    return InboundReply(ticket_id=ticket_id, from_address=CUSTOMER, text=text, message_id=message_id)


async def test_a_reply_that_could_not_be_stored_is_taken_when_it_comes_again(service: Service) -> None:
    conversation_id = await service.conversation(channel="web")
    ticket = await service.ticket(conversation_id=conversation_id, customer_email=CUSTOMER)
    hub = StandInHub(failures=1)
    ctx = SimpleNamespace(tickets=service.app.ctx.tickets, hub=hub, redis=service.app.ctx.redis)

    with pytest.raises(ConnectionError):
        await take_reply(ctx, inbound(ticket["id"]))
    await take_reply(ctx, inbound(ticket["id"]))  # the sending server's next attempt
    await take_reply(ctx, inbound(ticket["id"]))  # and a repeat after that

    assert hub.taken == [(conversation_id, "Still nothing arrived.", "email")]
    after = await service.ok("GET", f"/api/tickets/{ticket['id']}")
    assert [e["text"] for e in actions(after, "customer_replied")] == ["Still nothing arrived."]


async def test_a_reply_to_an_order_update_goes_to_its_conversation_and_one_ticket_for_the_team(
    service: Service,
) -> None:
    conversation_id = await service.conversation(channel="web")
    ctx = service.app.ctx
    about = {"order_id": "SO-12345678", "customer_id": "c-9", "conversation_id": conversation_id}
    await service.redis.set(thread_key("o:0123456789abcdef"), json.dumps(about))

    await take_reply(ctx, inbound("o:0123456789abcdef", "Where is it now?", "<r-31@x.cn>"))
    await take_reply(ctx, inbound("o:0123456789abcdef", "Hello?", "<r-33@x.cn>"))

    thread = await service.ok("GET", f"/api/conversations/{conversation_id}/messages")
    by_email = [(m["text"], m["channel"]) for m in thread if m["author"] == "customer"]
    assert by_email == [("Where is it now?", "email"), ("Hello?", "email")]
    listed = await service.ok("GET", "/api/tickets", params={"conversation_id": conversation_id})
    assert len(listed["tickets"]) == 1  # both replies in one ticket, answered by email to the sender
    ticket = await service.ok("GET", f"/api/tickets/{listed['tickets'][0]['id']}")
    assert "SO-12345678" in ticket["subject"] and ticket["customer_email"] == CUSTOMER
    assert ticket["status"] == "open"
    assert [e["text"] for e in actions(ticket, "customer_replied")] == ["Where is it now?", "Hello?"]
    for gone in ("o:fedcba9876543210", "T-999999"):
        with pytest.raises(UnknownTicket):
            await take_reply(ctx, inbound(gone, message_id="<r-32@x.cn>"))
