"""The action server (actions/server.py, built with build_app as `python -m actions.server` runs it) against
the path and header attacks of a review: every route of its router in every spelling (trailing, doubled and
dot segments, case, percent-encoding, parameters, absolute form), unknown paths, every method, and tokens
that are almost right. Without the token nothing but /health answers 200, no action runs, no action name
leaks; with it or without it, nothing is a 500.

Requests go over a bare socket so that each target reaches the server exactly as spelled.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sanic import Sanic

from actions.server import normalise_path
from tests.integration.conftest import SERVICE
from tests.integration.live_app import serving
from tests.security import rawhttp
from tests.unit.test_action_server_auth import TOKEN, app, encoded, runs, small_call

__all__ = ["app", "runs"]  # the unit tests' fixtures: the app on a private order store, the executor spy

pytestmark = pytest.mark.integration

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE")
UNKNOWN = (
    "/",
    "/nope",
    "/.env",
    "/admin",
    "/webhooks/rest/webhook",
    "/health/../webhook",
    "/actions/../health",
)
ALMOST_RIGHT = {
    "none": None,
    "a wrong token": "Bearer wrong-token-0123456789",
    "the token minus a character": f"Bearer {TOKEN[:-1]}",
    "the token plus a character": f"Bearer {TOKEN}x",
    "a lower-case scheme": f"bearer {TOKEN}",
    "no scheme": TOKEN,
    "basic": "Basic " + base64.b64encode(f"rasa:{TOKEN}".encode()).decode(),
    "the hub's service token": f"Bearer {SERVICE}",
    "twice": f"Bearer {TOKEN}, Bearer {TOKEN}",
}
SPOOFS = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "X-Original-URL": "/health"}


def spellings(path: str) -> Iterator[str]:
    """`/webhook` as a router, a proxy or a browser might spell it."""
    name = path.lstrip("/")
    yield from (
        path,
        path + "/",
        "/" + path,
        path + "//",
        "//" + name + "/",
        path.upper(),
        path.title(),
        "/%" + format(ord(name[0]), "02x") + name[1:],
        "/%" + format(ord(name[0]), "02X") + name[1:],
        path + "/.",
        path + "/./",
        "/./" + name,
        "/x/.." + path,
        path + ";x",
        path + "%2f",
        path + "%00",
        path + "?token=" + TOKEN,
        "http://127.0.0.1" + path,
    )


def targets(app: Sanic) -> list[str]:  # type: ignore[type-arg]
    """Every route of the started app in every spelling, and paths it does not have."""
    paths = sorted({"/" + route.path for route in app.router.routes})
    found = [spelled for path in paths for spelled in spellings(path)]
    return [*dict.fromkeys([*found, *UNKNOWN, "*"])]


def open_without_token(method: str, target: str) -> bool:
    """/health, however it is spelled, is the one path that answers without the token."""
    path = re.sub(r"^http://[^/]+", "", target).split("?")[0]
    return method in ("GET", "HEAD", "OPTIONS") and normalise_path(path) == "/health"


async def send(
    base: str, method: str, target: str, authorization: str | None, **extra: str
) -> rawhttp.RawResponse:
    headers = {"Content-Type": "application/json", **extra}
    if authorization is not None:
        headers["Authorization"] = authorization
    body = CALL if method in ("POST", "PUT", "PATCH") else b""
    return await rawhttp.exchange(base, rawhttp.request(method, target, headers, body))


CALL = encoded(small_call())


async def test_nothing_but_health_answers_without_the_token(
    app: Any, runs: list[str], subtests: pytest.Subtests
) -> None:
    async with serving(app) as base:
        limit = asyncio.Semaphore(16)

        async def attempt(method: str, target: str, authorization: str | None, **extra: str) -> str | None:
            async with limit:
                response = await send(base, method, target, authorization, **extra)
            allowed = 200 <= response.status < 300 and open_without_token(method, target)
            if response.status >= 500 or (200 <= response.status < 300 and not allowed):
                return f"{method} {target} ({authorization}): {response.status} {response.body[:80]!r}"
            if b"action_" in response.body:
                return f"{method} {target} ({authorization}): names an action"
            return None

        paths = targets(app)
        with subtests.test(msg="every method, every spelling, no token"):
            found = await asyncio.gather(*(attempt(m, t, None) for m in METHODS for t in paths))
            assert [f for f in found if f] == []
        core = [t for t in paths if "webhook" in t.lower() or "actions" in t.lower() or "docs" in t.lower()]
        for name, authorization in ALMOST_RIGHT.items():
            with subtests.test(msg=f"almost the token: {name}"):
                found = await asyncio.gather(
                    *(attempt(m, t, authorization, **SPOOFS) for m in ("GET", "POST") for t in core)
                )
                assert [f for f in found if f] == []
        assert runs == []


async def test_with_the_token_nothing_is_a_500(app: Any, runs: list[str]) -> None:
    authorization = f"Bearer {TOKEN}"
    async with serving(app) as base:
        failures = []
        for method in METHODS:
            for target in [*UNKNOWN, "/docs", "/actions/", "//webhook", "/webhook%00"]:
                response = await send(base, method, target, authorization)
                if response.status >= 500:
                    failures.append(f"{method} {target}: {response.status} {response.body[:80]!r}")
        assert failures == []
        ok = await send(base, "POST", "/webhook/", authorization)
        assert ok.status == 200 and runs == ["action_validate_slot_mappings"]


async def test_a_malformed_request_line_is_never_answered_with_a_500(app: Any, runs: list[str]) -> None:
    """A request target that is neither a path nor a URL; the server drops or refuses it and goes on."""
    async with serving(app) as base:
        for line in (b"GET nope HTTP/1.1", b"CONNECT 127.0.0.1:80 HTTP/1.1", b"GET /\x00 HTTP/1.1", b"POST"):
            response = await rawhttp.exchange(base, line + b"\r\nHost: 127.0.0.1\r\n\r\n")
            assert response.status == rawhttp.CLOSED or 400 <= response.status < 500, line
        health = await send(base, "GET", "/health", None)
        assert health.status == 200
    assert runs == []
