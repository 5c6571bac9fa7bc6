"""HTTP/1.1 over a bare socket, for requests an HTTP client would tidy up: request targets spelled exactly
as given (`//webhook`, `/%77ebhook`, `*`, absolute URLs), headers announcing a body that is never sent."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

CLOSED = 0  # the status of a response that never came: the server closed the connection instead


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def request(method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """A request with `Host`, `Connection: close` and, for a body, its `Content-Length` (unless given)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    given = {name.lower() for name in headers or {}}
    if body and "content-length" not in given and "transfer-encoding" not in given:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def exchange(base: str, data: bytes, timeout: float = 10.0) -> RawResponse:
    """Send `data` to the server at `base` and read one response, its body to the end of the connection;
    status CLOSED when the server closed the connection without answering."""
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()  # the server may answer and close before reading everything
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        if not status_line:
            return RawResponse(CLOSED, {}, b"")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = (await asyncio.wait_for(reader.readline(), timeout)).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await asyncio.wait_for(reader.read(), timeout)  # to EOF: every request says Connection: close
        return RawResponse(status, headers, body)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
