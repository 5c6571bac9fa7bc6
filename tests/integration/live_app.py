"""Run the handoff app as a real server: inside the test's event loop (for WebSocket tests), or in a thread
of its own (for the browser tests, whose synchronous Playwright API drives the page from the test's
thread); and how those tests start Debian's Chromium."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

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


@asynccontextmanager
async def serving(app: Sanic) -> AsyncIterator[str]:  # type: ignore[type-arg]
    """Start `app` on a free port; yields its base URL (http://127.0.0.1:PORT)."""
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
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
