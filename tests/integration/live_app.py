"""Run the handoff app as a real server: inside the test's event loop (for WebSocket tests), or in a thread
of its own (for the browser tests, whose synchronous Playwright API drives the page from the test's
thread); how those tests start Debian's Chromium, and the signed-in pages they watch for problems."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from sanic import Sanic

from tests.redis_server import free_port

CHROMIUM = "/usr/bin/chromium"  # Debian's package: Playwright never downloads a browser here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Recorded in every watched page: a Content-Security-Policy violation the page's scripts can see.
WATCH = """
document.addEventListener("securitypolicyviolation", function (e) {
  (window.__violations = window.__violations || []).push(e.violatedDirective + " " + e.blockedURI);
});
"""


@asynccontextmanager
async def serving(app: Sanic) -> AsyncIterator[str]:  # type: ignore[type-arg]
    """Start `app` on a free port; yields its base URL (http://127.0.0.1:PORT)."""
    port = free_port()
    created = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert created is not None
    server: Any = created  # AsyncioServer's lifecycle methods carry no annotations
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


@contextmanager
def serving_in_thread(
    app: Sanic,  # type: ignore[type-arg]
    name: str = "app",
    start_timeout: float = 120.0,
) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """`app` served on a free port by an event loop in a thread of its own; yields (base URL, that loop). A
    failure to start is raised in the test's thread."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    found: dict[str, Any] = {}

    async def main() -> None:
        found["stop"] = asyncio.Event()
        try:
            async with serving(app) as base:
                found["base"] = base
                ready.set()
                await found["stop"].wait()
        except BaseException as exc:  # reported to the test's thread
            found["error"] = exc
            ready.set()
        # Connections the browser kept alive (and event streams) outlive the server: end them here.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def run() -> None:
        loop.run_until_complete(main())
        loop.run_until_complete(loop.shutdown_asyncgens())

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    assert ready.wait(start_timeout), "the app did not start"
    if "error" in found:
        raise found["error"]
    try:
        yield found["base"], loop
    finally:
        loop.call_soon_threadsafe(found["stop"].set)
        thread.join(30)
        loop.close()


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright's synchronous API."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _refused_by_policy(message: ConsoleMessage) -> bool:
    """Chromium's console report of a Content-Security-Policy violation: it also covers a sandboxed frame,
    where no script runs to see the event."""
    return message.type == "error" and (
        "Content Security Policy" in message.text or "Refused to" in message.text
    )


class WatchedPages:
    """Pages of the app at `base`, each in a browser context of its own and signed in, that record their
    script errors, native dialogs and Content-Security-Policy violations."""

    def __init__(self, browser: Browser, base: str, timeout_ms: float) -> None:
        self.browser = browser
        self.base = base
        self.timeout_ms = timeout_ms
        self.opened: list[tuple[Page, list[str]]] = []

    def open(self, path: str, user_id: str, password: str, **context_options: Any) -> Page:
        """`path` (relative to the base URL) signed in as `user_id`, once the app shows; `context_options`
        go to Browser.new_context (viewport, locale, timezone_id, ...)."""
        context = self.browser.new_context(base_url=self.base, **context_options)
        context.add_init_script(WATCH)
        page = context.new_page()
        page.set_default_timeout(self.timeout_ms)
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: problems.append(message.text) if _refused_by_policy(message) else None,
        )
        page.on("dialog", lambda dialog: problems.append(f"native dialog: {dialog.message}"))
        self.opened.append((page, problems))
        page.goto(path)
        page.get_by_test_id("login-user").fill(user_id)
        page.get_by_test_id("login-password").fill(password)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("app")).to_be_visible()
        return page

    def problems(self, extra_check: Callable[[Page], list[str]] | None = None) -> list[str]:
        """What the pages recorded, and the violations their scripts saw; `extra_check` adds the problems it
        finds in each page still open."""
        found: list[str] = []
        for page, problems in self.opened:
            found += problems
            if not page.is_closed():
                found += page.evaluate("window.__violations || []")
                if extra_check is not None:
                    found += extra_check(page)
        return found

    def close_all(self) -> None:
        """Close every page's context and forget the pages."""
        opened, self.opened = self.opened, []
        for page, _ in opened:
            page.context.close()
