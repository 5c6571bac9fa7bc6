"""A scripted storefront widget for tests: the WebSocket protocol of handoff/channels/widget/."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets


class Widget:
    """A scripted widget: a WebSocket plus the frames it has received."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.frames: list[dict[str, Any]] = []  # everything received
        self.inbox: list[dict[str, Any]] = []  # received, not yet consumed by next()
        self.ws: Any = None

    async def connect(self, after: str | None = None, origin: str | None = None) -> dict[str, Any]:
        headers = {"Origin": origin} if origin else None
        self.ws = await websockets.connect(
            self.base.replace("http", "ws") + "/ws/widget", additional_headers=headers
        )
        try:
            await self.ws.send(json.dumps({"type": "hello", "token": self.token, "after": after}))
            return await self.next("ready", "error")
        except websockets.ConnectionClosed as closed:  # refused before the hello was read
            assert closed.rcvd is not None and closed.rcvd.code == 4001
            return {"type": "error", "code": "unauthorized"}

    async def next(self, *types: str, timeout: float = 5.0, author: str | None = None) -> dict[str, Any]:
        """The first unconsumed frame of one of `types` (frames arrive in any order around an ack)."""

        def wanted(frame: dict[str, Any]) -> bool:
            return frame["type"] in types and (author is None or frame.get("author") == author)

        while True:
            for frame in self.inbox:
                if wanted(frame):
                    self.inbox.remove(frame)
                    return frame
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            self.frames.append(frame)
            self.inbox.append(frame)

    async def say(self, text: str, client_id: str) -> dict[str, Any]:
        await self.ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
        return await self.next("ack", "error")

    async def message(self, author: str, timeout: float = 5.0) -> dict[str, Any]:
        return await self.next("message", timeout=timeout, author=author)

    def messages(self) -> list[tuple[str, str]]:
        return [(f["author"], f["text"]) for f in self.frames if f["type"] == "message"]


async def new_session(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/widget/session", json=body)
    assert response.status_code == 201, response.text
    return response.json()
