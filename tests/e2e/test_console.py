"""The agent console in Debian's headless Chromium against the running stack (real Rasa, real actions):
an agent takes a handoff from a customer on the demo storefront and answers with a quick reply, a
supervisor reads the routing decision, customer HTML stays text, agents see only their own chats, and
cookie requests need the CSRF token. Screenshots go to var/artifacts/console/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from tests.e2e.conftest import ROOT, Stack
from tests.integration.live_app import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.e2e

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
ARTIFACTS = ROOT / "var" / "artifacts" / "console"
BOT_MS = 60_000  # Rasa on two shared cores can take seconds per turn
UI_MS = 15_000
PASSWORD = "correct horse battery"
SKILLS = ("general", "returns", "orders", "payments", "shipping", "complaints")
XSS = "<img src=x onerror=window.__xss=1><script>window.__xss=2</script>"
PROBLEMS: dict[int, list[str]] = {}  # script errors and CSP violations, per page
WELCOME = "Hi {customer_name}, thanks for waiting — I'm {agent_name} and I'll take it from here."


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    role: str
    agent_id: str | None = None


def admin(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.env['HUB_ADMIN_TOKEN']}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_user(stack: Stack, role: str, name: str, agent: bool = False, language: str = "en") -> User:
    """A console user (with a routing agent of the same id for agents), created with the admin token."""
    user_id = unique(role)
    with httpx.Client(base_url=stack.hub_url, headers=admin(stack), timeout=30) as client:
        if agent:
            body = {
                "id": user_id,
                "name": name,
                "languages": ["en", "zh"],
                "capacity": 3,
                "skills": dict.fromkeys(SKILLS, 0.8),
            }
            r = client.post("/api/agents", json=body)
            assert r.status_code == 201, r.text
        user = {"id": user_id, "name": name, "password": PASSWORD, "role": role, "language": language}
        if agent:
            user["agent_id"] = user_id
        r = client.post("/api/users", json=user)
        assert r.status_code == 201, r.text
    return User(user_id, name, role, user_id if agent else None)


def set_presence(stack: Stack, agent_id: str, presence: str) -> None:
    with httpx.Client(base_url=stack.hub_url, headers=admin(stack), timeout=30) as client:
        r = client.put(f"/api/agents/{agent_id}/presence", json={"presence": presence})
        assert r.status_code == 200, r.text


def service_handoff(stack: Stack, conversation_id: str, **packet: Any) -> dict[str, Any]:
    """What the action server posts when the assistant hands a conversation over."""
    body = {"conversation_id": conversation_id, "language": "en", "channel": "web", **packet}
    headers = {"Authorization": f"Bearer {stack.env['HUB_SERVICE_TOKEN']}"}
    r = httpx.post(f"{stack.hub_url}/api/handoffs/", json=body, headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def headless_chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def closing_pages() -> Iterator[list[Page]]:
    """Opened pages, each in its own context (own cookies and storage); the test appends them."""
    opened: list[Page] = []
    yield opened
    for page in opened:
        page.context.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from headless_chromium()


@pytest.fixture
def pages(browser: Browser) -> Iterator[list[Page]]:
    yield from closing_pages()


def new_page(browser: Browser, pages: list[Page], stack: Stack) -> Page:
    context = browser.new_context(base_url=stack.hub_url, viewport=VIEWPORT, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(UI_MS)
    # Any Content-Security-Policy violation or script error fails the test that caused it.
    found = PROBLEMS.setdefault(id(page), [])
    page.on("pageerror", lambda error: found.append(str(error)))
    page.on(
        "console",
        lambda message: (
            found.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    pages.append(page)
    return page


def problems(page: Page) -> list[str]:
    return PROBLEMS.get(id(page), [])


def sign_in(page: Page, user: User) -> None:
    page.goto("/console")
    page.get_by_test_id("login-user").fill(user.user_id)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("app")).to_be_visible()
    expect(page.get_by_test_id("connection")).to_have_class(re.compile(r"is-open"))


def go_online(page: Page) -> None:
    with page.expect_response(lambda r: "/presence" in r.url and r.request.method == "PUT") as answer:
        page.get_by_test_id("presence").select_option("online")
    assert answer.value.status == 200


def open_storefront_chat(page: Page) -> str:
    """The customer opens the widget on the demo storefront; returns their conversation id."""
    page.goto("/")
    page.get_by_role("button", name="Chat with us").click()
    cid = page.wait_for_function(
        "() => (JSON.parse(localStorage.getItem('sa-widget:' + location.origin) || '{}')).conversation_id"
    ).json_value()
    assert isinstance(cid, str)
    return cid


def customer_says(page: Page, text: str) -> None:
    box = page.locator(".sa-input")
    box.fill(text)
    box.press("Enter")


def accept_offer(page: Page, cid: str) -> None:
    offer = page.locator(f'[data-testid="offer"][data-conversation-id="{cid}"]')
    expect(offer).to_be_visible(timeout=BOT_MS)
    offer.get_by_test_id("offer-accept").click()
    expect(page.get_by_test_id("conversation-title")).to_be_visible()
    expect(page.locator(f'[data-testid="chat-item"][data-conversation-id="{cid}"]')).to_be_visible()


def number(text: str) -> float:
    match = re.match(r"\s*(-?\d+(?:\.\d+)?)", text)
    assert match, text
    return float(match.group(1))


def test_an_agent_answers_a_handoff_with_a_quick_reply_and_a_supervisor_reads_the_decision(
    stack: Stack, browser: Browser, pages: list[Page]
) -> None:
    mia = make_user(stack, "agent", "Mia", agent=True)
    boss = make_user(stack, "supervisor", "Sam")
    try:
        console = new_page(browser, pages, stack)
        sign_in(console, mia)
        expect(console.get_by_test_id("chats-view")).to_be_visible()
        expect(console.get_by_test_id("me")).to_contain_text("Mia")
        go_online(console)

        # the customer asks the assistant for a person on the storefront widget
        customer = new_page(browser, pages, stack)
        cid = open_storefront_chat(customer)
        customer_says(customer, "hello")
        expect(customer.locator(".sa-bot").first).to_be_visible(timeout=BOT_MS)
        customer_says(customer, "I want to talk to a human")

        offer = console.locator(f'[data-testid="offer"][data-conversation-id="{cid}"]')
        expect(offer).to_be_visible(timeout=BOT_MS)
        expect(offer.get_by_test_id("offer-countdown")).to_have_text(re.compile(r"^\d{1,2} s left$"))
        first = number(offer.get_by_test_id("offer-countdown").inner_text())
        expect(offer.get_by_test_id("offer-countdown")).not_to_have_text(f"{first:.0f} s left")  # it counts
        shot(console, "offer")
        offer.get_by_test_id("offer-accept").click()

        # the whole transcript (the assistant's part included) and the context card
        transcript = console.get_by_test_id("transcript")
        said = transcript.locator('[data-author="customer"]').filter(has_text="I want to talk to a human")
        expect(said).to_be_visible()
        expect(transcript.locator('[data-author="bot"]').first).to_be_visible()
        expect(transcript.locator('[data-internal="true"]').first).to_contain_text("handoff requested")
        expect(console.get_by_test_id("context-reason")).to_contain_text("customer_request")
        expect(console.get_by_test_id("context-intents")).to_contain_text("request_human")
        expect(console.get_by_test_id("load")).to_have_text("1 of 3")
        expect(customer.locator(".sa-system").filter(has_text="Mia")).to_be_visible(timeout=BOT_MS)

        # "/" opens the quick replies; arrows move, Escape closes, Enter picks
        reply = console.get_by_test_id("reply-input")
        reply.click()
        reply.press_sequentially("/hi")
        popup = console.get_by_test_id("quick-replies")
        expect(popup).to_be_visible()
        options = popup.get_by_test_id("quick-reply-option")
        expect(options.first).to_have_attribute("data-id", "greeting.welcome")
        expect(options.first).to_have_attribute("aria-selected", "true")
        reply.press("ArrowDown")
        expect(options.nth(1)).to_have_attribute("aria-selected", "true")
        shot(console, "quick-replies")
        reply.press("Escape")
        expect(popup).to_be_hidden()
        reply.press("Backspace")
        reply.press_sequentially("i")
        expect(options.first).to_have_attribute("data-id", "greeting.welcome")
        expect(options.first).to_have_attribute("aria-selected", "true")
        reply.press("Enter")

        # {agent_name} came from the conversation; {customer_name} is unknown: highlighted, send blocked
        expect(popup).to_be_hidden()
        expect(reply).to_have_value(WELCOME.replace("{agent_name}", "Mia"))
        blank = console.get_by_test_id("unresolved-variable")
        expect(blank).to_have_text("{customer_name}")
        expect(console.locator("#reply-backdrop mark")).to_have_text("{customer_name}")
        expect(console.get_by_test_id("send")).to_be_disabled()
        reply.press("End")
        reply.press("Enter")
        expect(console.get_by_test_id("reply-error")).to_be_visible()
        blank.click()  # selects the blank in the reply box: typing replaces it
        console.keyboard.type("Alex")
        expect(console.get_by_test_id("unresolved")).to_be_hidden()
        expect(console.get_by_test_id("send")).to_be_enabled()
        reply.press("Enter")

        sent = WELCOME.replace("{agent_name}", "Mia").replace("{customer_name}", "Alex")
        expect(transcript.locator('[data-author="agent"]')).to_have_count(1)  # the blocked try never left
        expect(transcript.locator('[data-author="agent"]').get_by_test_id("message-text")).to_have_text(sent)
        expect(reply).to_have_value("")
        expect(customer.locator(".sa-agent")).to_have_text(sent, timeout=BOT_MS)

        # the customer answers: live in the console, and the knowledge base suggests articles for it
        customer_says(customer, "How long does a refund take?")
        expect(transcript.locator('[data-author="customer"]').last).to_have_text(
            re.compile("How long does a refund take"), timeout=BOT_MS
        )
        expect(console.get_by_test_id("kb-query")).to_contain_text("refund", timeout=BOT_MS)
        expect(console.get_by_test_id("kb-hit").first).to_be_visible()
        shot(console, "agent-chat")

        # the interface in Chinese, remembered across a reload (the session is re-read with its CSRF token)
        console.get_by_test_id("lang-toggle").click()
        expect(console.get_by_test_id("tab-chats")).to_contain_text("会话")
        expect(console.get_by_test_id("send")).to_have_text("发送")
        console.reload()
        expect(console.get_by_test_id("tab-chats")).to_contain_text("会话")
        console.goto(f"/console#chat/{cid}")
        expect(transcript.locator('[data-author="agent"]').get_by_test_id("message-text")).to_have_text(sent)
        expect(console.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(console.get_by_test_id("kb-hit").first).to_be_visible(timeout=BOT_MS)
        expect(console.get_by_test_id("action-resolve")).to_be_enabled()  # the chat is still mine
        shot(console, "console-zh")
        console.get_by_test_id("lang-toggle").click()
        expect(console.get_by_test_id("tab-chats")).to_contain_text("Chats")

        # a supervisor opens the routing decision: each candidate's score parts and the filters
        with httpx.Client(base_url=stack.hub_url, headers=admin(stack), timeout=30) as client:
            decisions = client.get("/api/decisions", params={"conversation_id": cid}).json()
        decision = decisions[-1]  # the first (oldest) decision for this conversation: the offer to Mia
        assert decision["chosen"] == mia.agent_id
        board = new_page(browser, pages, stack)
        sign_in(board, boss)
        expect(board.get_by_test_id("supervisor-view")).to_be_visible()
        expect(board.get_by_test_id("sl-20")).to_be_visible()
        row = board.locator(f'[data-testid="agent-row"][data-agent-id="{mia.agent_id}"]')
        expect(row).to_contain_text("Online")
        expect(row).to_contain_text("1 / 3")
        item = board.locator(f'[data-testid="decision-item"][data-decision-id="{decision["id"]}"]')
        item.click()
        detail = board.get_by_test_id("decision-detail")
        candidate = detail.locator(f'[data-testid="candidate-row"][data-agent-id="{mia.agent_id}"]')
        expect(candidate).to_contain_text("chosen")
        parts = next(c for c in decision["candidates"] if c["agent_id"] == mia.agent_id)
        for name in ("skill", "load", "rating"):
            shown = number(candidate.get_by_test_id(f"part-{name}").inner_text())
            assert shown == pytest.approx(parts["parts"][name], abs=1e-3)
        assert number(candidate.get_by_test_id("part-total").inner_text()) == pytest.approx(
            parts["total"], abs=1e-3
        )
        expect(detail.get_by_test_id("decision-filter").first).to_be_visible()
        board.get_by_test_id("decision-list").evaluate("list => list.closest('section').scrollIntoView()")
        shot(board, "supervisor")

        # the weights editor, audited with who and the old and new values
        weight = board.get_by_test_id("weight-skill")
        expect(weight).to_have_value(re.compile(r"\d"))
        old = weight.input_value()
        weight.fill("0.5")
        board.get_by_test_id("weights-save").click()
        audit = board.get_by_test_id("audit-row").first
        expect(audit).to_contain_text(boss.user_id)
        expect(audit).to_contain_text("0.5")
        weight.fill(old)
        board.get_by_test_id("weights-save").click()
        expect(board.get_by_test_id("audit-row").first).to_contain_text("0.5 / ")

        # resolving hands the customer back to the assistant with the survey
        console.get_by_test_id("action-resolve").click()
        expect(console.locator(f'[data-testid="chat-item"][data-conversation-id="{cid}"]')).to_have_count(0)
        expect(customer.locator(".sa-quick").first).to_be_visible(timeout=BOT_MS)
        for page in (console, customer, board):
            assert problems(page) == []
    finally:
        set_presence(stack, str(mia.agent_id), "offline")


def test_customer_html_and_script_show_as_text(stack: Stack, browser: Browser, pages: list[Page]) -> None:
    ana = make_user(stack, "agent", "Ana", agent=True)
    try:
        console = new_page(browser, pages, stack)
        sign_in(console, ana)
        go_online(console)
        customer = new_page(browser, pages, stack)
        cid = open_storefront_chat(customer)
        # the packet as the action server would send it, with the payload in every customer-typed field
        service_handoff(
            stack,
            cid,
            reason="complaint",
            intent="complain",
            intent_history=[{"text": XSS, "intent": "complain", "confidence": 0.91}],
            entities=[{"entity": "item", "value": XSS}],
            slots={"item": XSS},
            kb_hits=[{"article_id": "x", "title": XSS, "score": 0.4}],
            transcript=[{"author": "customer", "text": XSS}],
            identity={"customer_id": XSS, "verified_by": None},
        )
        accept_offer(console, cid)
        customer_says(customer, XSS)
        transcript = console.get_by_test_id("transcript")
        message = transcript.locator('[data-author="customer"]').get_by_test_id("message-text")
        expect(message.filter(has_text="<script>")).to_have_text(XSS, timeout=BOT_MS)
        context = console.get_by_test_id("context-card")
        expect(context.get_by_test_id("context-intents")).to_contain_text(XSS)
        expect(context.get_by_test_id("context-slots")).to_contain_text(XSS)
        expect(context.get_by_test_id("context-kb")).to_contain_text(XSS)
        identity = context.get_by_test_id("context-identity")
        expect(identity).to_contain_text(XSS)
        expect(identity).to_contain_text("not verified")  # a claimed id alone proves nothing
        expect(identity).to_have_class(re.compile(r"\bis-unverified\b"))
        chat = console.locator(f'[data-testid="chat-item"][data-conversation-id="{cid}"]')
        expect(chat).to_contain_text("<img src=x")
        assert console.locator("main img, main script").count() == 0
        assert console.evaluate("typeof window.__xss") == "undefined"
        assert customer.evaluate("typeof window.__xss") == "undefined"
        assert problems(console) == []
    finally:
        set_presence(stack, str(ana.agent_id), "offline")


def test_the_card_shows_the_risk_and_the_mood_first(
    stack: Stack, browser: Browser, pages: list[Page]
) -> None:
    ana = make_user(stack, "agent", "Ana", agent=True)
    try:
        console = new_page(browser, pages, stack)
        sign_in(console, ana)
        go_online(console)
        customer = new_page(browser, pages, stack)
        cid = open_storefront_chat(customer)
        affect = {"risk": ["injury", "legal"], "frustration": "annoyed", "peak_frustration": "angry"}
        service_handoff(stack, cid, reason="injury", intent="complain", affect=affect)
        accept_offer(console, cid)
        context = console.get_by_test_id("context-card")
        risk = context.get_by_test_id("context-risk")
        expect(risk).to_contain_text("Injury from a product", timeout=BOT_MS)
        expect(risk).to_contain_text("Legal or regulatory threat")
        expect(risk).to_have_class(re.compile(r"\brisk\b"))
        expect(context.get_by_test_id("context-mood")).to_have_text("annoyed (peak: angry)")
        assert problems(console) == []
    finally:
        set_presence(stack, str(ana.agent_id), "offline")


def test_an_agent_files_a_ticket_from_a_chat_and_works_it(
    stack: Stack, browser: Browser, pages: list[Page]
) -> None:
    tess = make_user(stack, "agent", "Tess", agent=True)
    cid = unique("e2e-ticket")
    order = {"id": "SO-10001021", "status": "delivered", "total": 59.9, "currency": "USD", "items": []}
    try:
        console = new_page(browser, pages, stack)
        sign_in(console, tess)
        go_online(console)
        service_handoff(stack, cid, reason="damaged_goods", intent="request_return", order=order)
        accept_offer(console, cid)
        expect(console.get_by_test_id("context-order")).to_contain_text("SO-10001021")

        # the ticket form starts from the context card
        console.get_by_test_id("action-ticket").click()
        dialog = console.get_by_test_id("ticket-dialog")
        expect(dialog).to_be_visible()
        expect(console.get_by_test_id("ticket-subject")).to_have_value(
            re.compile("Damaged goods.*SO-10001021")
        )
        expect(console.get_by_test_id("ticket-description")).to_have_value(re.compile("SO-10001021"))
        console.get_by_test_id("ticket-subject").press("Escape")  # Escape closes it ...
        expect(dialog).to_be_hidden()
        console.get_by_test_id("action-ticket").click()  # ... and it opens again, filled in
        expect(console.get_by_test_id("ticket-subject")).to_have_value(re.compile("SO-10001021"))
        console.get_by_test_id("ticket-submit").click()
        expect(dialog).to_be_hidden()
        notice = console.get_by_test_id("notice")
        expect(notice).to_contain_text(re.compile(r"Ticket T-\d+ created"))
        match = re.search(r"T-\d+", notice.inner_text())
        assert match
        ticket_id = match.group(0)

        # the Tickets tab: open it, assign it to me, change its status, add a note
        console.get_by_test_id("tab-tickets").click()
        item = console.locator(f'[data-testid="ticket-item"][data-ticket-id="{ticket_id}"]')
        expect(item).to_contain_text("SO-10001021")
        item.click()
        detail = console.get_by_test_id("ticket-detail")
        expect(console.get_by_test_id("ticket-title")).to_contain_text(ticket_id)
        expect(detail.get_by_test_id("ticket-field-status")).to_have_text("Open")
        console.get_by_test_id("ticket-assign").click()
        expect(detail.get_by_test_id("ticket-field-assignee")).to_have_text(str(tess.agent_id))
        console.get_by_test_id("ticket-status").select_option("pending")
        expect(detail.get_by_test_id("ticket-field-status")).to_have_text("Pending")
        console.get_by_test_id("ticket-note").fill("Asked the customer for a photo of the damage.")
        console.get_by_test_id("ticket-note-add").click()
        expect(detail.get_by_test_id("ticket-note-text").last).to_have_text(
            "Asked the customer for a photo of the damage."
        )
        console.get_by_test_id("ticket-filter-mine").check()
        expect(item).to_be_visible()
        console.get_by_test_id("ticket-filter-status").select_option("solved")
        expect(item).to_have_count(0)
        shot(console, "tickets")

        with httpx.Client(base_url=stack.hub_url, headers=admin(stack), timeout=30) as client:
            ticket = client.get(f"/api/tickets/{ticket_id}").json()
        assert (ticket["status"], ticket["assignee"], ticket["conversation_id"]) == (
            "pending",
            tess.agent_id,
            cid,
        )
        assert any(
            e.get("note") == "Asked the customer for a photo of the damage." for e in ticket["history"]
        )
        assert problems(console) == []
    finally:
        set_presence(stack, str(tess.agent_id), "offline")


def test_an_agent_cannot_open_another_agents_conversation(
    stack: Stack, browser: Browser, pages: list[Page]
) -> None:
    owner = make_user(stack, "agent", "Olga", agent=True)
    other = make_user(stack, "agent", "Otto", agent=True)
    boss = make_user(stack, "supervisor", "Sue")
    cid = unique("e2e-private")
    try:
        with httpx.Client(base_url=stack.hub_url, timeout=30) as client:
            token = client.post(f"/api/agents/{owner.agent_id}/tokens", headers=admin(stack)).json()["token"]
            olga = {"Authorization": f"Bearer {token}"}
            assert client.put(
                f"/api/agents/{owner.agent_id}/presence", json={"presence": "online"}, headers=olga
            ).is_success
            service_handoff(
                stack, cid, reason="customer_request", transcript=[{"author": "customer", "text": "hi"}]
            )
            r = client.post(f"/api/offers/{cid}/accept", headers=olga)
            assert r.status_code == 200, r.text

            # through the API, with Otto's session cookie
            r = client.post("/api/session", json={"user_id": other.user_id, "password": PASSWORD})
            assert r.status_code == 200, r.text
            for path in (f"/api/conversations/{cid}", f"/api/conversations/{cid}/messages"):
                denied = client.get(path)
                assert denied.status_code == 403, denied.text

        # and through the page
        console = new_page(browser, pages, stack)
        sign_in(console, other)
        console.goto(f"/console#chat/{cid}")
        error = console.get_by_test_id("conversation-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("403")
        expect(console.get_by_test_id("transcript")).to_be_hidden()
        expect(console.get_by_test_id("context")).to_be_hidden()

        # a supervisor may read it
        board = new_page(browser, pages, stack)
        sign_in(board, boss)
        board.goto(f"/console#chat/{cid}")
        expect(board.get_by_test_id("conversation-error")).to_be_hidden()
        expect(board.get_by_test_id("transcript").locator('[data-internal="true"]').first).to_be_visible()
        assert problems(console) == [] and problems(board) == []
    finally:
        set_presence(stack, str(owner.agent_id), "offline")


def test_cookie_requests_need_the_csrf_token_and_sign_in_only_from_the_console(stack: Stack) -> None:
    agent = make_user(stack, "agent", "Cleo", agent=True)
    evil = {"Origin": "https://evil.example"}
    with httpx.Client(base_url=stack.hub_url, timeout=30) as client:
        credentials = {"user_id": agent.user_id, "password": PASSWORD}
        # a cross-site page cannot sign the visitor in (login CSRF) ...
        assert client.post("/api/session", json=credentials, headers=evil).status_code == 403
        assert client.post("/api/session", data=credentials).status_code in (400, 415)  # a plain form
        assert "hub_session" not in client.cookies
        assert (
            client.post("/api/session", json={**credentials, "password": "wrong password!"}).status_code
            == 401
        )

        signed_in = client.post("/api/session", json=credentials)
        assert signed_in.status_code == 200, signed_in.text
        csrf = signed_in.json()["csrf_token"]
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie

        # ... and a request that rides on the cookie without the session's token is refused
        presence = f"/api/agents/{agent.agent_id}/presence"
        online = {"presence": "online"}
        assert client.put(presence, json=online, headers=evil).status_code == 403
        assert client.put(presence, json=online, headers={"X-CSRF-Token": "not-the-token"}).status_code == 403
        assert client.delete("/api/session").status_code == 403
        assert client.get("/api/session").status_code == 200  # still signed in
        token = {"X-CSRF-Token": csrf}
        assert client.put(presence, json={"presence": "away"}, headers=token).status_code == 200
        assert client.delete("/api/session", headers=token).status_code == 200
        assert client.get("/api/session").status_code == 401


def test_the_page_signs_in_and_out_under_a_strict_content_security_policy(
    stack: Stack, browser: Browser, pages: list[Page]
) -> None:
    editor = make_user(stack, "editor", "Eve", language="zh")
    page = new_page(browser, pages, stack)
    response = page.goto("/console")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy
    page.get_by_test_id("login-user").fill(editor.user_id)
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong user id or password.")
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-password").press("Enter")
    expect(page.get_by_test_id("app")).to_be_visible()
    # the user's language is the default until they choose one
    expect(page.get_by_test_id("logout")).to_have_text("退出")
    expect(page.get_by_test_id("tab-chats")).to_be_hidden()
    expect(page.get_by_test_id("tab-supervisor")).to_be_hidden()
    expect(page.get_by_test_id("tab-tickets")).to_be_hidden()
    expect(page.get_by_test_id("empty-view")).to_be_visible()
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    assert problems(page) == []


def test_the_api_reference_renders_from_the_pinned_viewer_under_its_policy(
    stack: Stack, browser: Browser, pages: list[Page]
) -> None:
    page = new_page(browser, pages, stack)
    loaded: list[str] = []  # requests that completed (the policy blocks any other host before it loads)
    page.on("requestfinished", lambda request: loaded.append(request.url))
    response = page.goto("/docs")
    assert response is not None and response.status == 200
    expect(page.locator(".api-content")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("/webhooks/rest/webhook").first).to_be_attached()
    elsewhere = [url for url in loaded if not url.startswith((stack.hub_url, "data:", "blob:"))]
    assert elsewhere == []
    # redoc reaches for its vendor's logo on a CDN: the policy blocking it is the point, nothing else fails.
    blocked_elsewhere = re.compile(
        r"^Loading the \w+ 'https://[^']+' violates the following Content Security Policy"
    )
    assert [p for p in problems(page) if not blocked_elsewhere.match(p)] == []


def test_a_waiting_customer_leaves_the_queue_from_the_widget(
    stack: Stack, browser: Browser, pages: list[Page]
) -> None:
    with httpx.Client(base_url=stack.hub_url, headers=admin(stack), timeout=30) as client:
        for agent in client.get("/api/agents").json():  # nobody to answer: the customer waits
            if agent["presence"] != "offline":
                set_presence(stack, agent["id"], "offline")
    page = new_page(browser, pages, stack)
    cid = open_storefront_chat(page)
    service_handoff(stack, cid, reason="customer_request")
    leave = page.get_by_test_id("leave-queue")
    expect(leave).to_be_visible(timeout=BOT_MS)
    expect(page.locator(".sa-banner-text")).to_contain_text("in line")
    leave.click()
    expect(page.locator(".sa-system").last).to_contain_text(re.compile(r"ticket T-\d+"))
    expect(leave).to_be_hidden()
    shot(page, "widget-left-queue")
    with httpx.Client(base_url=stack.hub_url, headers=admin(stack), timeout=30) as client:
        tickets = client.get("/api/tickets", params={"conversation_id": cid}).json()["tickets"]
    assert [t["auto_reason"] for t in tickets] == ["customer_left"]
    assert not problems(page)
