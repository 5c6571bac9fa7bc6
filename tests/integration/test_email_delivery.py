"""Email delivery against a real SMTP server (aiosmtpd on a free loopback port) and a real Redis: what
the relay receives, retries after 4xx and dead relays, failure after 5xx, one send when workers race; and
the inbound receiver taking a customer's reply back to its ticket."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from redis.asyncio import Redis

from handoff.channels.email.compose import Draft, compose
from handoff.channels.email.inbound import InboundReply
from handoff.channels.email.outbox import (
    SENT_RETENTION_SECONDS,
    NotRetryable,
    Outbox,
    Status,
    claim_key,
    deliver_forever,
    due_key,
    record_key,
)
from handoff.channels.email.settings import EmailSettings, SmtpSecurity
from handoff.channels.email.smtp_server import InboundSmtpServer
from handoff.channels.email.tokens import ReplyTokens
from tests.integration.api_helpers import database_url, own_database

pytestmark = pytest.mark.integration

SECRET = "reply-token-secret-0123456789"
DOMAIN = "reply.shop.example"
NOW = 1_900_000_000.0
BASE = 10.0
tokens = ReplyTokens(SECRET, DOMAIN)


@dataclass
class Relay:
    """The provider's SMTP relay: accepts what it is sent, answering DATA with the scripted replies first."""

    data_replies: list[str] = field(default_factory=list)
    rcpt_reply: str | None = None
    pause: float = 0.0  # seconds DATA takes, so that racing workers overlap
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    attempts: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        await asyncio.sleep(self.pause)
        if self.data_replies:
            return self.data_replies.pop(0)
        assert isinstance(envelope.original_content, bytes)
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Ok: queued"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with own_database(redis_url, 10) as client:
        yield client


async def start_relay(relay: Relay) -> tuple[asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(relay, hostname="relay.test"), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.fixture
async def relay() -> AsyncIterator[tuple[Relay, int]]:
    handler = Relay()
    server, port = await start_relay(handler)
    yield handler, port
    server.close()
    await server.wait_closed()


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port nothing listens on: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port


def settings_for(port: int, max_attempts: int = 3) -> EmailSettings:
    return EmailSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        security=SmtpSecurity.NONE,
        from_header="Shop Support <support@shop.example>",
        from_address="support@shop.example",
        reply_domain=DOMAIN,
        token_secret=SECRET,
        max_attempts=max_attempts,
        retry_base_seconds=BASE,
        timeout_seconds=5.0,
    )


def draft(ticket_id: str = "T-000042", **overrides: Any) -> Draft:
    fields: dict[str, Any] = {
        "ticket_id": ticket_id,
        "to": "li@example.cn",
        "text": "您的包裹今天已从仓库发出，预计三天内送达。",
        "language": "zh",
        "ticket_subject": "订单 12345 还没有收到",
        "customer_name": "李雷",
        "in_reply_to": "<tencent_0123@qq.com>",
    }
    return Draft(**{**fields, **overrides})


async def queue(outbox: Outbox, d: Draft | None = None) -> str:
    composed = compose(d or draft(), outbox.settings.from_header, tokens, now=NOW)
    assert await outbox.enqueue(composed, now=NOW)
    return composed.message_id


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


# -- delivery ----------------------------------------------------------------------------------------------


async def test_message_is_stored_before_delivery_and_delivered_with_its_headers(
    redis: Redis, relay: tuple[Relay, int]
) -> None:
    handler, port = relay
    outbox = Outbox(redis, settings_for(port))
    message_id = await queue(outbox)

    queued = await outbox.status(message_id)
    assert queued is not None and queued.status is Status.QUEUED and queued.next_at == NOW
    assert handler.received == []

    assert await outbox.deliver_due(NOW) == {message_id: Status.SENT}
    [(mail_from, rcpt_tos, raw)] = handler.received
    assert (mail_from, rcpt_tos) == ("support@shop.example", ["li@example.cn"])
    message = parsed(raw)
    assert message["From"] == "Shop Support <support@shop.example>"
    assert message["To"].addresses[0].display_name == "李雷"
    assert message["Reply-To"] == tokens.address("T-000042")
    assert message["Subject"] == "回复：订单 12345 还没有收到 [工单 T-000042]"
    assert message["Message-ID"] == f"<{message_id}@{DOMAIN}>"
    assert message["In-Reply-To"] == "<tencent_0123@qq.com>"
    body = str(message.get_content())
    assert "李雷，您好" in body and "您的包裹今天已从仓库发出" in body and "请直接回复此邮件" in body

    sent = await outbox.status(message_id)
    assert sent is not None
    assert (sent.status, sent.attempts, sent.sent_at, sent.reason) == (Status.SENT, 1, NOW, "")
    assert await redis.hget(record_key(message_id), "raw") is None  # the body is not kept once sent
    assert 0 < await redis.ttl(record_key(message_id)) <= SENT_RETENTION_SECONDS
    assert await redis.zcard(due_key()) == 0
    assert not await redis.exists(claim_key(message_id))
    assert await outbox.deliver_due(NOW + 3600) == {}
    assert len(handler.received) == 1


async def test_enqueue_of_the_same_id_is_kept_once(redis: Redis, relay: tuple[Relay, int]) -> None:
    _, port = relay
    outbox = Outbox(redis, settings_for(port))
    composed = compose(draft(), outbox.settings.from_header, tokens, message_id="fixed-id-1", now=NOW)
    assert await outbox.enqueue(composed, now=NOW)
    assert not await outbox.enqueue(composed, now=NOW + 1)
    assert [s.id for s in await outbox.messages_for("T-000042")] == ["fixed-id-1"]


async def test_451_then_250_is_retried_and_delivered(redis: Redis, relay: tuple[Relay, int]) -> None:
    handler, port = relay
    handler.data_replies = ["451 4.3.0 Greylisted, try again later"]
    outbox = Outbox(redis, settings_for(port))
    message_id = await queue(outbox)

    assert await outbox.deliver_due(NOW) == {message_id: Status.RETRYING}
    retrying = await outbox.status(message_id)
    assert retrying is not None and retrying.status is Status.RETRYING and retrying.attempts == 1
    assert "451 4.3.0 Greylisted" in retrying.reason
    assert retrying.next_at is not None and NOW + BASE / 2 <= retrying.next_at <= NOW + BASE

    assert await outbox.deliver_due(retrying.next_at - 0.01) == {}  # not due yet
    assert await outbox.deliver_due(retrying.next_at) == {message_id: Status.SENT}
    assert handler.attempts == 2 and len(handler.received) == 1
    sent = await outbox.status(message_id)
    assert sent is not None and (sent.status, sent.attempts, sent.reason) == (Status.SENT, 2, "")


async def test_550_fails_at_once_with_the_reason(redis: Redis, relay: tuple[Relay, int]) -> None:
    handler, port = relay
    handler.rcpt_reply = "550 5.1.1 <li@example.cn>: Recipient address rejected: User unknown"
    outbox = Outbox(redis, settings_for(port, max_attempts=5))
    message_id = await queue(outbox)
    other_ticket = await queue(outbox, draft("T-000043"))

    outcomes = await outbox.deliver_due(NOW)
    assert outcomes == {message_id: Status.FAILED, other_ticket: Status.FAILED}
    failed = await outbox.status(message_id)
    assert failed is not None and failed.status is Status.FAILED and failed.attempts == 1
    assert failed.reason.startswith("550 5.1.1") and "User unknown" in failed.reason
    assert failed.next_at is None
    assert [s.id for s in await outbox.failed_for("T-000042")] == [message_id]
    assert await redis.zcard(due_key()) == 0
    assert await outbox.deliver_due(NOW + 86400) == {}

    # An agent sends it again once the address is fixed on the relay's side.
    handler.rcpt_reply = None
    await outbox.retry(message_id, now=NOW + 60)
    assert await outbox.deliver_due(NOW + 60) == {message_id: Status.SENT}
    assert await outbox.failed_for("T-000042") == []
    with pytest.raises(NotRetryable):
        await outbox.retry(message_id)
    with pytest.raises(KeyError):
        await outbox.retry("no-such-message")


async def test_dead_relay_is_retried_with_backoff_then_failed(redis: Redis, dead_port: int) -> None:
    outbox = Outbox(redis, settings_for(dead_port, max_attempts=3))
    message_id = await queue(outbox)

    now = NOW
    for attempt, (low, high) in enumerate([(BASE / 2, BASE), (BASE, 2 * BASE)], start=1):
        assert await outbox.deliver_due(now) == {message_id: Status.RETRYING}
        status = await outbox.status(message_id)
        assert status is not None and status.attempts == attempt and "refused" in status.reason.lower()
        assert status.next_at is not None and now + low <= status.next_at <= now + high
        now = status.next_at

    assert await outbox.deliver_due(now) == {message_id: Status.FAILED}
    failed = await outbox.status(message_id)
    assert failed is not None and failed.status is Status.FAILED and failed.attempts == 3
    assert failed.reason.startswith("gave up after 3 attempts:") and "refused" in failed.reason.lower()
    assert failed.as_dict()["status"] == "failed" and failed.as_dict()["ticket_id"] == "T-000042"
    assert [s.id for s in await outbox.failed_for("T-000042")] == [message_id]
    assert await redis.hget(record_key(message_id), "raw")  # kept, to be sent again


async def test_two_workers_racing_send_each_message_once(
    redis: Redis, redis_url: str, relay: tuple[Relay, int]
) -> None:
    handler, port = relay
    handler.pause = 0.05
    other_client = Redis.from_url(database_url(redis_url, 10), decode_responses=True)
    try:
        first, second = Outbox(redis, settings_for(port)), Outbox(other_client, settings_for(port))
        ids = {await queue(first, draft(f"T-00010{i}")) for i in range(4)}
        a, b = await asyncio.gather(first.deliver_due(NOW), second.deliver_due(NOW))
    finally:
        await other_client.aclose()
    assert set(a) | set(b) == ids and not set(a) & set(b)
    assert set(a.values()) | set(b.values()) == {Status.SENT}
    sent_ids = [parsed(raw)["Message-ID"] for _, _, raw in handler.received]
    assert sorted(sent_ids) == sorted(f"<{i}@{DOMAIN}>" for i in ids)


async def test_a_claimed_message_is_left_to_its_worker(redis: Redis, relay: tuple[Relay, int]) -> None:
    handler, port = relay
    outbox = Outbox(redis, settings_for(port))
    message_id = await queue(outbox)
    await redis.set(claim_key(message_id), "another-worker", ex=60)
    assert await outbox.deliver_due(NOW) == {}
    assert handler.received == []
    await redis.delete(claim_key(message_id))  # that worker died: its claim expired
    assert await outbox.deliver_due(NOW) == {message_id: Status.SENT}


async def test_the_worker_loop_delivers_until_stopped(redis: Redis, relay: tuple[Relay, int]) -> None:
    handler, port = relay
    outbox = Outbox(redis, settings_for(port))
    composed = compose(draft(), outbox.settings.from_header, tokens)
    await outbox.enqueue(composed)
    stopping = asyncio.Event()
    worker = asyncio.create_task(deliver_forever(outbox, 0.01, stopping))
    try:
        for _ in range(500):  # bounded: at most ~5 s
            if handler.received:
                break
            await asyncio.sleep(0.01)
    finally:
        stopping.set()
        await asyncio.wait_for(worker, 5)
    assert len(handler.received) == 1
    status = await outbox.status(composed.message_id)
    assert status is not None and status.status is Status.SENT


# -- inbound receiver --------------------------------------------------------------------------------------


@dataclass
class Inbox:
    replies: list[InboundReply] = field(default_factory=list)
    failing: bool = False

    async def take(self, reply: InboundReply) -> None:
        if self.failing:
            raise ConnectionError("redis is away")
        self.replies.append(reply)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Inbox, int]]:
    inbox = Inbox()
    server = InboundSmtpServer(tokens, inbox.take, port=0)
    await server.start()
    yield inbox, server.port
    await server.stop()


def send_mail(port: int, rcpt: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.customer.example", timeout=5) as client:
        client.sendmail("li@example.cn", [rcpt], raw)


def customer_reply(to: str, text: str = "收到了，谢谢！", headers: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = "李雷 <li@example.cn>"
    message["To"] = to
    message["Subject"] = "Re: 回复：订单 12345 还没有收到 [工单 T-000042]"
    message["Message-ID"] = "<reply-1@example.cn>"
    for line in filter(None, headers.split("\n")):
        name, _, value = line.partition(": ")
        message[name] = value
    message.set_content(
        f"{text}\n\n在 2030年3月17日 17:46，Shop Support <{to}> 写道：\n> 您的包裹今天已从仓库发出\n"
    )
    return message.as_bytes(policy=policy.SMTP)


async def test_reply_to_a_delivered_message_reaches_its_ticket(
    redis: Redis, relay: tuple[Relay, int], receiver: tuple[Inbox, int]
) -> None:
    handler, relay_port = relay
    inbox, port = receiver
    outbox = Outbox(redis, settings_for(relay_port))
    await queue(outbox, draft("T-000077"))
    await outbox.deliver_due(NOW)
    reply_to = parsed(handler.received[0][2])["Reply-To"]

    await asyncio.to_thread(send_mail, port, reply_to.upper(), customer_reply(reply_to))
    [reply] = inbox.replies
    assert (reply.ticket_id, reply.from_address, reply.text) == (
        "T-000077",
        "li@example.cn",
        "收到了，谢谢！",
    )
    assert reply.message_id == "<reply-1@example.cn>"


async def test_receiver_refuses_other_recipients(receiver: tuple[Inbox, int]) -> None:
    inbox, port = receiver
    forged = tokens.address("T-000042").replace("reply+", "reply+a")
    for rcpt in ("postmaster@shop.example", f"reply+abc@{DOMAIN}", forged, "someone@elsewhere.example"):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            await asyncio.to_thread(send_mail, port, rcpt, customer_reply(rcpt))
        assert refused.value.recipients[rcpt][0] == 550
    assert inbox.replies == []


async def test_receiver_bounces_what_it_cannot_take_and_drops_auto_replies(
    receiver: tuple[Inbox, int],
) -> None:
    inbox, port = receiver
    address = tokens.address("T-000042")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send_mail, port, address, customer_reply(address, text=""))
    assert refused.value.smtp_code == 550
    auto = customer_reply(address, text="I am away until Monday.", headers="Auto-Submitted: auto-replied")
    await asyncio.to_thread(send_mail, port, address, auto)  # accepted: a bounce could loop
    assert inbox.replies == []


async def test_receiver_asks_to_try_later_when_the_reply_cannot_be_stored(
    receiver: tuple[Inbox, int],
) -> None:
    inbox, port = receiver
    inbox.failing = True
    address = tokens.address("T-000042")
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        await asyncio.to_thread(send_mail, port, address, customer_reply(address))
    assert deferred.value.smtp_code == 451
    inbox.failing = False
    await asyncio.to_thread(send_mail, port, address, customer_reply(address))
    assert [r.ticket_id for r in inbox.replies] == ["T-000042"]
