"""The tickets view's thread, reply box and promises in Debian's headless Chromium against the real handoff
app, a real Redis and an SMTP relay on a loopback port (aiosmtpd) that refuses the first message it is sent.

An agent keeps a customer's address, promises a reply within the hour (the list flags the ticket and its
"due soon" filter finds it), and answers by email: the refused email stays in view with its reason until
"Send again" gets it sent, and the answer keeps the promise. The customer's emailed answer joins the thread,
marked as an email, and opens the ticket again. A customer without an address is answered in the chat
alone, and a promised call is marked made; while the server's email is off, a reply goes to the chat alone.
The customer's text stays text; no page may raise a script error, open a native dialog or violate the
Content-Security-Policy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect
from sanic import Sanic

from handoff.app import create_app
from handoff.channels.email.tokens import ReplyTokens
from handoff.settings import Settings
from tests.integration.api_helpers import flushed_database
from tests.integration.conftest import ADMIN, REST_AUTH, hub_secrets, rasa_stand_in
from tests.integration.live_app import WatchedPages, launched_chromium, serving_in_thread
from tests.integration.test_email_delivery import Relay
from tests.smtp_relay import running_relay

pytestmark = pytest.mark.integration

REDIS_DB = 12  # routing and ticket keys are global: this module empties the database when it starts
VIEWPORT: ViewportSize = {"width": 1360, "height": 1000}
UI_MS = 20_000  # page actions; and email delivery: the outbox is looked at every 2 s, a pending email
# read again by the page every 5 s
PASSWORD = "ticket email password 0123"
AGENT = "ann"
ADDRESS = "jo@home.example"
XSS = "<img src=x onerror=window.__xss=1> my lid arrived cracked"
REFUSED = "554 5.7.1 Message refused by the test relay"
TOKEN_SECRET = "reply-token-secret-0123456789"
REPLY_DOMAIN = "reply.shop.example"
INBOUND_TOKEN = "inbound-email-token-0123456789"


class Console:
    """The served app, the relay's record, and pages that record their problems."""

    def __init__(self, base: str, app: Sanic, relay: Relay, browser: Browser) -> None:  # type: ignore[type-arg]
        self.base = base
        self.app = app
        self.relay = relay
        self.pages = WatchedPages(browser, base, UI_MS)
        self.senders = 0

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)

    def add_agent(self) -> None:
        with self.admin() as client:
            agent = {"id": AGENT, "name": "Ann", "languages": ["en"], "skills": {"general": 1}, "capacity": 1}
            assert client.post("/api/agents", json=agent).status_code == 201
            user = {"id": AGENT, "name": "Ann", "password": PASSWORD, "role": "agent", "agent_id": AGENT}
            response = client.post("/api/users", json=user)
            assert response.status_code == 201, response.text

    def conversation(self, text: str) -> str:
        """A customer's chat with the assistant through the REST channel; its conversation id."""
        self.senders += 1
        sender = f"tm{self.senders}-{time.monotonic_ns()}"
        with httpx.Client(base_url=self.base, timeout=30) as client:
            response = client.post(
                "/webhooks/rest/webhook", json={"sender": sender, "message": text}, headers=REST_AUTH
            )
            assert response.status_code == 200, response.text
        return f"rest-{sender}"

    def ticket(self, conversation_id: str, subject: str) -> str:
        body = {"subject": subject, "conversation_id": conversation_id, "skill": "general", "language": "en"}
        with self.admin() as client:
            response = client.post("/api/tickets", json=body)
            assert response.status_code == 201, response.text
            ticket_id: str = response.json()["id"]
            return ticket_id

    def change_ticket(self, ticket_id: str, **changes: Any) -> None:
        with self.admin() as client:
            response = client.patch(f"/api/tickets/{ticket_id}", json=changes)
            assert response.status_code == 200, response.text

    def customer_emails(self, ticket_id: str, text: str) -> None:
        """The customer answers the ticket's email; the mail provider posts it to the inbound webhook."""
        raw = (
            f"From: Jo <{ADDRESS}>\r\n"
            f"To: <{ReplyTokens(TOKEN_SECRET, REPLY_DOMAIN).address(ticket_id)}>\r\n"
            f"Subject: Re: [{ticket_id}] Cracked lid\r\n"
            f"Message-ID: <{time.monotonic_ns()}@home.example>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            f"{text}\r\n"
        ).encode()
        headers = {"Authorization": f"Bearer {INBOUND_TOKEN}", "Content-Type": "message/rfc822"}
        with httpx.Client(base_url=self.base, timeout=30) as client:
            response = client.post("/webhooks/email/inbound", content=raw, headers=headers)
            assert response.status_code == 202, response.text

    def read_ticket(self, ticket_id: str) -> dict[str, Any]:
        with self.admin() as client:
            response = client.get(f"/api/tickets/{ticket_id}")
            assert response.status_code == 200, response.text
            ticket: dict[str, Any] = response.json()
            return ticket

    def open(self, hash_: str) -> Page:
        # UTC in the page too: the promise's datetime-local value is written here in the same zone.
        return self.pages.open(
            f"/console#{hash_}", AGENT, PASSWORD, viewport=VIEWPORT, locale="en-GB", timezone_id="UTC"
        )


def customer_markup_ran(page: Page) -> list[str]:
    return ["customer markup ran"] if page.evaluate("window.__xss || 0") else []


@pytest.fixture(scope="module")
def relay() -> Iterator[tuple[Relay, int]]:
    handler = Relay()
    with running_relay(handler) as port:
        yield handler, port


def ticket_app(redis_url: str, routing: str, smtp_port: int) -> Sanic:  # type: ignore[type-arg]
    Sanic.test_mode = True
    env = {
        **hub_secrets(),
        "REDIS_URL": redis_url,
        "HUB_ROUTING_CONFIG": routing,
        "HUB_SWEEP_INTERVAL": "60",
        "ANALYTICS_DB": "off",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT_SECONDS": "5",
        "EMAIL_FROM": "Shop Support <support@shop.example>",
        "EMAIL_REPLY_DOMAIN": REPLY_DOMAIN,
        "EMAIL_TOKEN_SECRET": TOKEN_SECRET,
        "EMAIL_INBOUND_TOKEN": INBOUND_TOKEN,
    }
    return create_app(Settings.from_env(env), http_transport=rasa_stand_in([]))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def served(
    redis_url: str, no_overflow_routing: str, relay: tuple[Relay, int], browser: Browser
) -> Iterator[Console]:
    handler, port = relay
    app = ticket_app(flushed_database(redis_url, REDIS_DB), no_overflow_routing, port)
    with serving_in_thread(app, "ticket-email-app") as (base, _loop):
        console = Console(base, app, handler, browser)
        console.add_agent()
        yield console


@pytest.fixture
def console(served: Console) -> Iterator[Console]:
    served.relay.data_replies.clear()
    yield served
    try:
        problems = served.pages.problems(customer_markup_ran)
    finally:
        served.pages.close_all()
    assert problems == []


def local_input(ts: float) -> str:
    """Epoch seconds as a datetime-local value in the page's zone (UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M")


def list_item(page: Page, ticket_id: str) -> Locator:
    return page.locator(f'[data-testid="ticket-item"][data-ticket-id="{ticket_id}"]')


def set_promise(page: Page, kind: str, due_at: float) -> None:
    page.get_by_test_id("ticket-promise-kind").select_option(kind)
    page.get_by_test_id("ticket-promise-due").fill(local_input(due_at))
    page.get_by_test_id("ticket-promise-save").click()


def test_a_promised_reply_goes_by_email_and_a_refused_email_is_sent_again(console: Console) -> None:
    cid = console.conversation(XSS)
    ticket_id = console.ticket(cid, "Cracked lid")
    other_id = console.ticket(console.conversation("where is my parcel"), "Parcel")
    console.relay.data_replies.append(REFUSED)
    received = len(console.relay.received)
    page = console.open(f"ticket/{ticket_id}")
    expect(page.get_by_test_id("ticket-title")).to_contain_text(ticket_id)

    # the thread: the customer's words as text, and the assistant's answer
    thread = page.get_by_test_id("ticket-thread")
    said = thread.locator('[data-testid="ticket-thread-message"][data-author="customer"]')
    expect(said.get_by_test_id("ticket-thread-text")).to_have_text(XSS)
    expect(thread.locator('[data-testid="ticket-thread-message"][data-author="bot"]')).to_contain_text(
        f"echo: {XSS}"
    )

    # no address yet: the reply cannot go by email; once one is kept, it goes by default
    box = page.get_by_test_id("ticket-reply-email")
    expect(box).to_be_disabled()
    expect(box).not_to_be_checked()
    page.get_by_test_id("ticket-customer-email").fill("not an address")
    page.get_by_test_id("ticket-customer-email-save").click()
    expect(page.get_by_test_id("ticket-error")).to_contain_text("name@example.com")
    expect(page.get_by_test_id("ticket-customer-email")).to_have_attribute("aria-invalid", "true")
    page.get_by_test_id("ticket-customer-email").fill(ADDRESS)
    page.get_by_test_id("ticket-customer-email-save").click()
    expect(box).to_be_enabled()
    expect(box).to_be_checked()
    expect(page.get_by_test_id("ticket-reply-email-label")).to_have_text(f"Also send by email to {ADDRESS}")

    # a reply promised within the hour: due soon, flagged in the list, found by the filter
    state = page.get_by_test_id("ticket-promise-state")
    expect(state).to_have_attribute("data-state", "none")
    set_promise(page, "reply", time.time() + 30 * 60)
    expect(state).to_have_attribute("data-state", "due")
    expect(state).to_contain_text("Reply by")
    expect(state).to_contain_text("Due within the hour")
    badge = list_item(page, ticket_id).get_by_test_id("ticket-promise-badge")
    expect(badge).to_have_attribute("data-state", "due")
    expect(badge).to_have_text("Due soon")
    expect(list_item(page, other_id).get_by_test_id("ticket-promise-badge")).to_have_count(0)
    page.get_by_test_id("tickets-filter-promise").select_option("due")
    expect(list_item(page, ticket_id)).to_have_count(1)
    expect(list_item(page, other_id)).to_have_count(0)
    page.get_by_test_id("tickets-filter-promise").select_option("")
    expect(list_item(page, other_id)).to_have_count(1)

    # the answer: into the chat and by email; the relay refuses it, and the failure stays in view
    answer = "Sorry about the lid: a new one leaves our warehouse today."
    page.get_by_test_id("ticket-reply-text").fill(answer)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/replies")) as sent:
        page.get_by_test_id("ticket-reply-send").click()
    assert json.loads(sent.value.post_data or "{}") == {"text": answer, "email": True}
    expect(page.get_by_test_id("ticket-reply-text")).to_have_value("")
    mine = thread.locator('[data-testid="ticket-thread-message"][data-author="agent"]')
    expect(mine.get_by_test_id("ticket-thread-text")).to_have_text(answer)
    email = page.get_by_test_id("ticket-email")
    expect(email).to_have_count(1)
    expect(email).to_have_attribute("data-status", "failed", timeout=UI_MS)
    expect(mine.get_by_test_id("ticket-message-by-email")).to_have_attribute("data-email-status", "failed")
    expect(email.get_by_test_id("ticket-email-reason")).to_contain_text("554")
    expect(email).to_contain_text(ADDRESS)
    expect(page.get_by_test_id("ticket-emails-failed")).to_be_visible()
    # the answer kept the promise: no longer flagged
    expect(state).to_have_attribute("data-state", "kept")
    expect(list_item(page, ticket_id).get_by_test_id("ticket-promise-badge")).to_have_count(0)

    # sent again, it reaches the relay
    email.get_by_test_id("ticket-email-retry").click()
    expect(email).to_have_attribute("data-status", "sent", timeout=UI_MS)
    expect(email.get_by_test_id("ticket-email-retry")).to_have_count(0)
    expect(page.get_by_test_id("ticket-emails-failed")).to_be_hidden()
    expect(mine.get_by_test_id("ticket-message-by-email")).to_have_attribute("data-email-status", "sent")
    assert [to for _, to, _ in console.relay.received[received:]] == [[ADDRESS]]

    ticket = console.read_ticket(ticket_id)
    assert ticket["customer_email"] == ADDRESS
    assert ticket["promise"]["kind"] == "reply" and ticket["promise"]["state"] == "kept"
    assert ticket["status"] == "pending"  # awaiting the customer


def test_without_an_address_the_reply_stays_in_the_chat_and_a_callback_is_marked_done(
    console: Console,
) -> None:
    ticket_id = console.ticket(console.conversation("please call me about my refund"), "Refund call")
    received = len(console.relay.received)
    page = console.open(f"ticket/{ticket_id}")
    expect(page.get_by_test_id("ticket-title")).to_contain_text(ticket_id)
    thread = page.get_by_test_id("ticket-thread")
    expect(thread.locator('[data-testid="ticket-thread-message"][data-author="customer"]')).to_have_count(1)

    box = page.get_by_test_id("ticket-reply-email")
    expect(box).not_to_be_checked()
    expect(box).to_be_disabled()
    expect(page.get_by_test_id("ticket-customer-email")).to_have_value("")
    answer = "We will call you this afternoon."
    page.get_by_test_id("ticket-reply-text").fill(answer)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/replies")) as sent:
        page.get_by_test_id("ticket-reply-send").click()
    assert json.loads(sent.value.post_data or "{}") == {"text": answer, "email": False}
    mine = thread.locator('[data-testid="ticket-thread-message"][data-author="agent"]')
    expect(mine.get_by_test_id("ticket-thread-text")).to_have_text(answer)
    expect(page.get_by_test_id("notice")).to_have_text("Reply sent.")
    expect(page.get_by_test_id("ticket-email")).to_have_count(0)

    # an empty reply is not sent
    page.get_by_test_id("ticket-reply-send").click()
    expect(page.get_by_test_id("notice")).to_have_text("Write the reply first.")

    # a promise in the past is refused before it is sent
    set_promise(page, "callback", time.time() - 3600)
    expect(page.get_by_test_id("ticket-error")).to_have_text("Choose a date and time in the future.")

    # a call promised for later today: pending, not flagged; marked done, kept
    state = page.get_by_test_id("ticket-promise-state")
    kept = page.get_by_test_id("ticket-promise-kept")
    expect(kept).to_be_hidden()
    set_promise(page, "callback", time.time() + 3 * 3600)
    expect(state).to_have_attribute("data-state", "pending")
    expect(state).to_contain_text("Call back by")
    expect(list_item(page, ticket_id).get_by_test_id("ticket-promise-badge")).to_have_count(0)
    page.get_by_test_id("tickets-filter-promise").select_option("due")
    expect(list_item(page, ticket_id)).to_have_count(0)
    page.get_by_test_id("tickets-filter-promise").select_option("")
    kept.click()
    expect(state).to_have_attribute("data-state", "kept")
    expect(kept).to_be_hidden()

    # cleared, there is no promise
    page.get_by_test_id("ticket-promise-clear").click()
    expect(state).to_have_attribute("data-state", "none")
    expect(page.get_by_test_id("ticket-promise-clear")).to_be_hidden()
    assert console.read_ticket(ticket_id)["promise"] is None
    assert len(console.relay.received) == received


def test_the_customers_emailed_answer_joins_the_thread_and_opens_the_ticket(console: Console) -> None:
    ticket_id = console.ticket(console.conversation("the lid of my pan is cracked"), "Cracked lid")
    console.change_ticket(ticket_id, customer_email=ADDRESS, status="pending")
    page = console.open(f"ticket/{ticket_id}")
    expect(page.get_by_test_id("ticket-field-status")).to_have_text("Pending")
    expect(page.get_by_test_id("ticket-customer-email")).to_have_value(ADDRESS)

    console.customer_emails(ticket_id, XSS)  # the page hears of it and reads the ticket again
    thread = page.get_by_test_id("ticket-thread")
    emailed = thread.locator('[data-testid="ticket-thread-message"][data-channel="email"]')
    expect(emailed).to_have_attribute("data-author", "customer")
    expect(emailed.get_by_test_id("ticket-thread-text")).to_have_text(XSS)
    expect(emailed.get_by_test_id("ticket-message-by-email")).to_have_text("by email")
    expect(page.get_by_test_id("ticket-field-status")).to_have_text("Open")


def test_while_email_is_off_the_reply_goes_to_the_chat_alone(console: Console) -> None:
    ticket_id = console.ticket(console.conversation("is my parcel lost?"), "Lost parcel")
    console.change_ticket(ticket_id, customer_email=ADDRESS)
    channel = console.app.ctx.email
    console.app.ctx.email = None  # as without SMTP_HOST
    try:
        page = console.open(f"ticket/{ticket_id}")
        box = page.get_by_test_id("ticket-reply-email")
        expect(box).to_be_checked()  # the page cannot know before it asks
        answer = "It is not lost: it left the depot this morning."
        page.get_by_test_id("ticket-reply-text").fill(answer)
        page.get_by_test_id("ticket-reply-send").click()
        expect(page.get_by_test_id("notice")).to_contain_text("email channel is off")
        expect(box).not_to_be_checked()
        expect(box).to_be_disabled()
        expect(page.get_by_test_id("ticket-reply-text")).to_have_value(answer)  # nothing was sent
        with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/replies")) as sent:
            page.get_by_test_id("ticket-reply-send").click()
        assert json.loads(sent.value.post_data or "{}") == {"text": answer, "email": False}
        mine = page.locator('[data-testid="ticket-thread-message"][data-author="agent"]')
        expect(mine.get_by_test_id("ticket-thread-text")).to_have_text(answer)
        expect(mine.get_by_test_id("ticket-message-by-email")).to_have_count(0)
    finally:
        console.app.ctx.email = channel
