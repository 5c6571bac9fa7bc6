"""A customer shows the team a damaged parcel, in Debian's headless Chromium against the running stack:
they attach a photo in the storefront widget while the assistant has the chat (it reads a stand-in and
answers) and another while an agent has it; the agent sees both on the context card as they arrive, with
the order number the customer wrote, and opens one full size; a widget that replays the conversation
fetches the stored photos; no page breaks its Content-Security-Policy. Screenshots go to
var/artifacts/console/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect, sync_playwright

from handoff.notices import notice
from tests.e2e.conftest import Stack, clear_routing
from tests.e2e.test_console import (
    BOT_MS,
    accept_offer,
    admin,
    customer_says,
    go_online,
    make_user,
    new_page,
    open_storefront_chat,
    problems,
    service_handoff,
    set_presence,
    shot,
    sign_in,
)
from tests.integration.live_app import CHROMIUM, CHROMIUM_ARGS
from tests.unit.test_attachments import png

pytestmark = pytest.mark.e2e

BEFORE = png(8, 6, (200, 40, 40))  # sent to the assistant
DURING = png(6, 8, (40, 80, 200))  # sent while the agent has the chat


@dataclass(frozen=True)
class Scene:
    console: Page
    customer: Page
    cid: str
    before: str  # attachment ids
    during: str


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def attach(page: Page, data: bytes, name: str) -> None:
    """The customer picks a photo with the widget's camera button."""
    button = page.get_by_role("button", name="Send a photo")
    expect(button).to_be_visible()
    photo: FilePayload = {"name": name, "mimeType": "image/png", "buffer": data}
    page.get_by_test_id("photo-input").set_input_files(files=[photo])


def card(stack: Stack, cid: str) -> dict[str, Any]:
    response = httpx.get(f"{stack.hub_url}/api/conversations/{cid}", headers=admin(stack), timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def scene(stack: Stack, chromium: Browser) -> Iterator[Scene]:
    opened: list[Page] = []
    pia = make_user(stack, "agent", "Pia", agent=True)
    clear_routing(stack)
    try:
        console = new_page(chromium, opened, stack)
        sign_in(console, pia)
        go_online(console)

        # the assistant has the chat: the photo is stored, shown at once, and the customer is told it is
        # kept for the team (the assistant cannot look at it)
        customer = new_page(chromium, opened, stack)
        cid = open_storefront_chat(customer)
        attach(customer, BEFORE, "crushed-box.png")
        photo = customer.locator(".sa-customer").get_by_test_id("photo").first
        expect(photo).to_have_js_property("naturalWidth", 8)
        expect(customer.locator(".sa-unsent")).to_have_count(0, timeout=BOT_MS)  # stored: the echo came
        expect(customer.locator(".sa-system").last).to_have_text(
            notice("photo_received", "en"), timeout=BOT_MS
        )

        # the assistant hands over (as the action server would); the agent takes it
        service_handoff(stack, cid, reason="damaged_goods", intent="request_return", order={})
        accept_offer(console, cid)
        before = card(stack, cid)["packet"]["photos"][0]["id"]

        # while the agent has it: another photo and an order number
        attach(customer, DURING, "wrong-colour.png")
        expect(customer.locator(".sa-customer").get_by_test_id("photo")).to_have_count(2)
        expect(customer.locator(".sa-unsent")).to_have_count(0, timeout=BOT_MS)
        customer_says(customer, "my order is SO-10001021")
        expect(console.get_by_test_id("context-order-hint")).to_contain_text("SO-10001021", timeout=BOT_MS)
        updates = card(stack, cid)["packet"]["updates"]
        during = next(u["value"] for u in updates if u["kind"] == "photo")
        yield Scene(console, customer, cid, before, during)
    finally:
        set_presence(stack, str(pia.agent_id), "offline")
        for page in opened:
            page.context.close()


def test_the_agent_sees_the_customers_photos_on_the_card_as_they_arrive(scene: Scene) -> None:
    console = scene.console
    context = console.get_by_test_id("context-card")
    expect(context.get_by_test_id("context-reason")).to_contain_text("Damaged goods")
    photos = context.get_by_test_id("context-photos")
    for attachment_id, width in ((scene.before, 8), (scene.during, 6)):
        link = photos.locator(f'[data-testid="photo-link"][data-attachment-id="{attachment_id}"]')
        expect(link).to_have_attribute("href", f"/api/attachments/{attachment_id}")
        expect(link.get_by_test_id("photo")).to_have_js_property(
            "naturalWidth", width
        )  # loaded with the cookie
    updates = context.get_by_test_id("context-updates")
    expect(updates.locator('[data-kind="photo"] [data-testid="photo-link"]')).to_have_attribute(
        "data-attachment-id", scene.during
    )
    expect(updates.locator('[data-kind="order_id"]')).to_contain_text("SO-10001021")
    shot(console, "agent-photos")

    # a thumbnail opens the photo full size, as an image and nothing else
    with console.expect_popup() as popup_info:
        photos.locator(f'[data-attachment-id="{scene.before}"]').click()
    full = popup_info.value
    full.wait_for_load_state()
    assert full.url.endswith(f"/api/attachments/{scene.before}")
    assert full.evaluate("document.contentType") == "image/png"
    assert full.evaluate("document.images[0].naturalWidth") == 8
    full.close()
    assert problems(console) == []


def test_the_widget_shows_stored_photos_when_it_replays_the_conversation(scene: Scene) -> None:
    """A page that shows the conversation from its start (another tab, or storage without a cursor) fetches
    the photos from the service with its session token."""
    customer = scene.customer
    customer.evaluate(
        """() => {
            const key = 'sa-widget:' + location.origin;
            const state = JSON.parse(localStorage.getItem(key));
            state.cursor = null;
            localStorage.setItem(key, JSON.stringify(state));
        }"""
    )
    customer.reload()
    customer.get_by_role("button", name="Chat with us").click()
    thumbnails = customer.locator(".sa-customer").get_by_test_id("photo")
    expect(thumbnails).to_have_count(2, timeout=BOT_MS)
    expect(thumbnails.nth(0)).to_have_js_property("naturalWidth", 8)
    expect(thumbnails.nth(1)).to_have_js_property("naturalWidth", 6)
    expect(thumbnails.first).to_have_attribute("src", re.compile(r"^blob:"))
    assert problems(customer) == []  # img-src blob: is allowed on the storefront


def test_the_transcript_shows_the_photos_where_they_were_sent(scene: Scene) -> None:
    transcript = scene.console.get_by_test_id("transcript")
    sent = transcript.locator('[data-author="customer"]').get_by_test_id("photo-link")
    expect(sent).to_have_count(2, timeout=5_000)
    expect(sent.nth(0)).to_have_attribute("data-attachment-id", scene.before)
    expect(sent.nth(1)).to_have_attribute("data-attachment-id", scene.during)


def test_the_newer_handoff_reasons_read_as_words(stack: Stack, chromium: Browser) -> None:
    opened: list[Page] = []
    rae = make_user(stack, "agent", "Rae", agent=True)
    offered: list[str] = []
    labels = [
        ("injury", "Injury from a product"),
        ("refund_overdue", "Refund overdue"),
        ("repeated_failure", "Two unclear answers to one question"),
        ("injury", "商品致人受伤"),  # after switching the console to Chinese
    ]
    clear_routing(stack)
    try:
        console = new_page(chromium, opened, stack)
        sign_in(console, rae)
        go_online(console)
        for n, (reason, label) in enumerate(labels):
            if label == "商品致人受伤":
                console.get_by_test_id("lang-toggle").click()
            cid = f"e2e-reason-{n}-{rae.user_id}"
            service_handoff(stack, cid, reason=reason)
            offered.append(cid)
            offer = console.locator(f'[data-testid="offer"][data-conversation-id="{cid}"]')
            expect(offer).to_contain_text(label, timeout=BOT_MS)
            withdraw(stack, cid)  # withdrawn at once: nothing is left waiting for another test's agent
            expect(offer).to_have_count(0, timeout=BOT_MS)
        assert problems(console) == []
    finally:
        set_presence(stack, str(rae.agent_id), "offline")
        for page in opened:
            page.context.close()


def withdraw(stack: Stack, cid: str) -> None:
    response = httpx.delete(f"{stack.hub_url}/api/handoffs/{cid}", headers=admin(stack), timeout=30)
    assert response.status_code == 200, response.text
