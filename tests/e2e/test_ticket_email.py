"""Tickets answered by email through the running stack: an agent's reply reaches the customer's mailbox
(through a local SMTP relay) and their widget, the customer's emailed answer comes back into the ticket
through the hub's own receiver, and a message the relay keeps refusing is retried with back-off and then
shown to the agent as failed, with its reason."""

from __future__ import annotations

import asyncio
import itertools
import smtplib
import time
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from handoff.widget_tokens import IDENTITY_TTL, sign
from tests.e2e.conftest import Stack
from tests.e2e.test_proactive import Relay, relay, wait_for_async  # noqa: F401  (relay: the fixture)
from tests.widget_client import Widget, new_session

pytestmark = pytest.mark.e2e

CUSTOMER, EMAIL = "cust-1004", "d.miller@example.com"
BOUNCING = "gone@mailbox-full.example"


def admin(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.env['HUB_ADMIN_TOKEN']}"}


def send_reply(stack: Stack, reply_to: str, in_reply_to: str, text: str) -> None:
    """The customer's mail server delivering their answer to the reply address (its MX is the hub)."""
    mail = EmailMessage()
    mail["From"] = f"Dana Miller <{EMAIL}>"
    mail["To"] = reply_to
    mail["Subject"] = "Re: your ticket"
    mail["Message-ID"] = f"<answer-{time.time_ns()}@example.com>"
    mail["In-Reply-To"] = in_reply_to
    mail.set_content(f"{text}\n\nOn Monday, Shop Support wrote:\n> Hello,\n> the earlier message\n")
    with smtplib.SMTP("127.0.0.1", int(stack.env["EMAIL_INBOUND_SMTP_PORT"]), timeout=10) as smtp:
        smtp.send_message(mail)


async def test_a_ticket_reply_goes_by_email_and_the_customers_answer_comes_back(
    stack: Stack,
    relay: Relay,  # noqa: F811
) -> None:
    identity = sign(stack.env["HUB_IDENTITY_SECRET"], "identity", {"sub": CUSTOMER}, IDENTITY_TTL)
    async with httpx.AsyncClient(base_url=stack.hub_url, timeout=30) as client:
        session = await new_session(client, identity=identity)
        widget = Widget(stack.hub_url, session["token"])
        await widget.connect()
        assert (await widget.say("hello", "t1"))["type"] == "ack"
        await widget.message("bot", timeout=30)
        conversation_id = session["conversation_id"]
        created = await client.post(
            "/api/tickets",
            json={
                "subject": "Blender stopped working",
                "conversation_id": conversation_id,
                "customer_email": EMAIL,
            },
            headers=admin(stack),
        )
        assert created.status_code == 201, created.text
        ticket = created.json()
        ticket_id = ticket["id"]

        text = "We're sending you a replacement blender today; no need to return the old one."
        replied = await client.post(
            f"/api/tickets/{ticket_id}/replies", json={"text": text, "email": True}, headers=admin(stack)
        )
        assert replied.status_code == 201, replied.text
        # The customer's widget shows the answer (the conversation reopened as a follow-up) ...
        shown = await widget.next("message", timeout=15, author="agent")
        assert shown["text"] == text
        await widget.ws.close()
        # ... and their mailbox has it, with a reply address that leads back to the ticket.
        mails = await wait_for_async(lambda: asyncio.sleep(0, result=relay.to(EMAIL)), 30)
        mail = mails[-1]
        assert text in mail.get_content() and ticket_id in str(mail["Subject"])

        send_reply(
            stack, str(mail["Reply-To"]), str(mail["Message-ID"]), "Thank you! Can it come before Friday?"
        )

        async def answered() -> list[dict[str, Any]]:
            thread = (await client.get(f"/api/tickets/{ticket_id}/thread", headers=admin(stack))).json()
            return [m for m in thread["messages"] if m["author"] == "customer" and m["channel"] == "email"]

        answer = (await wait_for_async(answered, 30))[0]
        assert answer["text"] == "Thank you! Can it come before Friday?"  # the quoted message cut off
        ticket = (await client.get(f"/api/tickets/{ticket_id}", headers=admin(stack))).json()
        assert ticket["status"] == "open"

        # An address the relay keeps refusing for now (451): retried with growing waits, then failed.
        relay.defer.add(BOUNCING)
        patched = await client.patch(
            f"/api/tickets/{ticket_id}", json={"customer_email": BOUNCING}, headers=admin(stack)
        )
        assert patched.status_code == 200, patched.text
        sent = await client.post(
            f"/api/tickets/{ticket_id}/replies",
            json={"text": "One more thing.", "email": True},
            headers=admin(stack),
        )
        assert sent.status_code == 201, sent.text
        email_id = sent.json()["email"]["id"]

        async def failed() -> dict[str, Any] | None:
            thread = (await client.get(f"/api/tickets/{ticket_id}/thread", headers=admin(stack))).json()
            return next(
                (e for e in thread["emails"] if e["id"] == email_id and e["status"] == "failed"), None
            )

        gave_up = await wait_for_async(failed, 60)
        assert gave_up["attempts"] == int(stack.env["EMAIL_MAX_ATTEMPTS"]) and "451" in gave_up["reason"]
        tries = relay.deferred[BOUNCING]
        assert len(tries) == gave_up["attempts"]
        base = float(stack.env["EMAIL_RETRY_BASE_SECONDS"])  # waits of base × 2^(n-1), at least half of it
        gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
        assert all(gap >= 0.5 * base * 2**n for n, gap in enumerate(gaps)), gaps
