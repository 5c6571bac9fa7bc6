"""Run the handoff app as a real server inside the test's event loop (for WebSocket tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sanic import Sanic

from tests.redis_server import free_port


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
