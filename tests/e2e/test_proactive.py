"""Proactive messages through the running stack (real Rasa, real actions, the demo order store): an order
the demo store makes late is told to its signed-in customer once, in their widget and by email to a local
SMTP relay, in their language, with two hub workers running; the customer's "where is it?" is answered
about that order without a question."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from aiosmtpd.smtp import SMTP, Envelope, Session

from handoff.widget_tokens import IDENTITY_TTL, sign
from tests.e2e.conftest import ROOT, Stack
from tests.e2e.test_widget_flows import start_hub
from tests.redis_server import free_port
from tests.smtp_relay import running_relay
from tests.widget_client import Widget, new_session

pytestmark = pytest.mark.e2e

ORDER, CUSTOMER, EMAIL = "SO-10007186", "cust-2001", "wangfang@example.cn"  # a shipped order, zh customer
DELIVERY_S = 60.0  # the product's promise: told within a minute of the event


@dataclass
class Relay:
    """The store's SMTP relay: keeps what it is given; answers "try later" for the addresses in `defer`,
    noting when each attempt came."""

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    defer: set[str] = field(default_factory=set)
    deferred: dict[str, list[float]] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.defer:
            self.deferred.setdefault(address, []).append(time.monotonic())
            return "451 4.2.2 Mailbox full, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        mail = message_from_bytes(raw, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), mail))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [mail for recipients, mail in self.received if address in recipients]


@pytest.fixture(scope="module")
def relay(stack: Stack) -> Iterator[Relay]:
    handler = Relay()
    with running_relay(handler, int(stack.env["SMTP_PORT"])):
        yield handler


def demo_event(stack: Stack, *args: str, hub_url: str | None = None) -> str:
    """The demo store moves an order along and posts the signed event, as a shop backend would."""
    env = {
        **stack.env,
        "PYTHONPATH": str(ROOT),
        "HUB_URL": hub_url or stack.hub_url,
        "ORDER_WEBHOOK_SECRET": stack.env["ORDER_WEBHOOK_SECRET"],
    }
    done = subprocess.run(
        [sys.executable, "-m", "actions.orders.demo_events", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def wait_for(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.25)
    return found


async def test_a_late_order_is_told_once_in_the_widget_and_by_email_and_the_answer_needs_no_order_number(
    stack: Stack, relay: Relay
) -> None:
    second_port = free_port()
    second = start_hub(stack, second_port)  # two hub workers: each runs the scheduler, one holds the lease
    try:
        identity = sign(stack.env["HUB_IDENTITY_SECRET"], "identity", {"sub": CUSTOMER}, IDENTITY_TTL)
        async with httpx.AsyncClient(base_url=stack.hub_url, timeout=30) as client:
            widget = Widget(stack.hub_url, (await new_session(client, identity=identity))["token"])
        await widget.connect()

        started = time.monotonic()
        print(demo_event(stack, "late", ORDER, "--language", "zh"))
        told = await widget.message("bot", timeout=DELIVERY_S)
        widget_seconds = time.monotonic() - started
        assert ORDER in told["text"] and "抱歉" in told["text"], told  # the customer's language
        mails = await wait_for(lambda: relay.to(EMAIL), DELIVERY_S)
        mail = mails[0]
        assert ORDER in str(mail["Subject"]) and "订单" in str(mail["Subject"])
        body = mail.get_content()
        assert ORDER in body and "抱歉" in body
        assert str(mail["Reply-To"]).startswith("reply+") and str(mail["Reply-To"]).endswith(
            "@reply.shop.example"
        )
        print(f"told in the widget after {widget_seconds:.1f} s")

        # Both workers keep looking: still one message each way.
        await asyncio.sleep(5)
        proactive = [f for f in widget.frames if f["type"] == "message" and f["author"] == "bot"]
        assert len(proactive) == 1, proactive
        assert len(relay.to(EMAIL)) == 1

        # The customer answers the message: the assistant knows which order, and says where it is.
        assert (await widget.say("到哪了？", "p1"))["type"] == "ack"
        answer = (await widget.message("bot", timeout=30))["text"]
        assert ORDER in answer and "运单号" in answer, answer
        assert "订单号" not in answer.replace(f"订单 {ORDER}", ""), answer  # no question for the number
        await widget.ws.close()
    finally:
        second.terminate()
        second.wait(timeout=30)


def quiet_now(stack_config: Path) -> Path:
    """The stack's triggers with quiet hours that hold now in the store's time zone, whatever the hour."""
    local = datetime.now(UTC) + timedelta(hours=8)  # Asia/Shanghai, handoff/proactive.yml's time zone
    span = f"{(local - timedelta(hours=1)):%H:%M}-{(local + timedelta(hours=2)):%H:%M}"
    text = stack_config.read_text(encoding="utf-8")
    assert "quiet_hours: null" in text
    path = stack_config.with_name("quiet.yml")
    path.write_text(text.replace("quiet_hours: null", f'quiet_hours: "{span}"'), encoding="utf-8")
    return path


async def test_nothing_is_sent_in_quiet_hours(stack: Stack, relay: Relay) -> None:
    """A hub whose quiet hours hold now (its own Redis database, so the stack's state stays apart): the
    late order waits for their end, with no message in the widget and no email."""
    quiet = quiet_now(Path(stack.env["PROACTIVE_CONFIG"]))
    port = free_port()
    database = stack.redis_url.rsplit("/", 1)[0] + "/1"
    hub = start_hub(
        stack,
        port,
        REDIS_URL=database,
        PROACTIVE_CONFIG=str(quiet),
        EMAIL_INBOUND_SMTP_PORT="",
        ANALYTICS_DB="off",
    )
    base = f"http://127.0.0.1:{port}"
    order, customer, email = "SO-10005679", "cust-1005", "emma.w@example.com"
    try:
        identity = sign(stack.env["HUB_IDENTITY_SECRET"], "identity", {"sub": customer}, IDENTITY_TTL)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            widget = Widget(base, (await new_session(client, identity=identity))["token"])
        await widget.connect()
        demo_event(stack, "late", order, "--language", "en", hub_url=base)
        r = aioredis.from_url(database, decode_responses=True)
        try:

            async def postponed() -> bool:
                due = await r.zscore("hub:proactive:due", order)
                return due is not None and due / 1000 > time.time() + 3000  # the end of the quiet hours

            await wait_for_async(postponed, 30)
        finally:
            await r.aclose()
        await asyncio.sleep(3)
        assert [f for f in widget.frames if f["type"] == "message"] == []
        assert relay.to(email) == []
        await widget.ws.close()
    finally:
        hub.terminate()
        hub.wait(timeout=30)


async def wait_for_async(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.25)
    return found
