"""Fixtures for the handoff service against a real redis-server, with HTTP stand-ins for Rasa."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
from sanic import Sanic

from handoff.app import create_app
from handoff.routing.config import DEFAULT_PATH, RoutingConfig
from handoff.settings import Settings

TOKEN = "channel-token-0123456789"
SERVICE = "service-token-0123456789"
ADMIN = "admin-token-0123456789"
RASA_API = "rasa-api-token-0123456789"
WIDGET_SECRET = "widget-secret-0123456789"
IDENTITY_SECRET = "storefront-identity-key-0123"  # the storefront backend signs identity assertions
REST_TOKEN = "rest-token-0123456789"
REST_AUTH = {"Authorization": f"Bearer {REST_TOKEN}"}


def rasa_stand_in(seen: list[dict]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/webhooks/hub/webhook":
            assert request.headers["authorization"] == f"Bearer {TOKEN}"
            body = json.loads(request.content)
            seen.append(body)
            return httpx.Response(
                200, json=[{"recipient_id": body["sender"], "text": f"echo: {body['message']}"}]
            )
        return httpx.Response(200, json={"status": "ok"})

    return httpx.MockTransport(handler)


def down_transport() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return httpx.MockTransport(handler)


@pytest.fixture(scope="session")
def no_overflow_routing(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped routing configuration without overflow: the suites sharing database 0 run for minutes,
    and a handoff one test left waiting must not be widened into another test's agent two minutes later.
    Overflow itself is tested with the engine and with apps that set their own limits."""
    text = DEFAULT_PATH.read_text()
    for setting in ("widen_after_seconds", "ticket_after_seconds"):
        text = re.sub(rf"(?m)^(\s*{setting}:)\s*[0-9.]+", r"\g<1> 86400", text)
    path = tmp_path_factory.mktemp("routing") / "routing.yml"
    path.write_text(text)
    assert RoutingConfig.load(path).widen_after == 86400  # the shipped file's layout still matches
    return str(path)


# The analytics store of every app these tests build: a temporary file, never the checkout's var/.
ANALYTICS_DB = Path(tempfile.mkdtemp(prefix="hub-analytics-")) / "analytics.sqlite"


def hub_secrets() -> dict[str, str]:
    """The hub's tokens and secrets, as var/secrets.env provides them, and where its analytics store is."""
    return {
        "ANALYTICS_DB": str(ANALYTICS_DB),
        "RASA_CHANNEL_TOKEN": TOKEN,
        "HUB_SERVICE_TOKEN": SERVICE,
        "HUB_ADMIN_TOKEN": ADMIN,
        "RASA_AUTH_TOKEN": RASA_API,
        "HUB_WIDGET_SECRET": WIDGET_SECRET,
        "HUB_IDENTITY_SECRET": IDENTITY_SECRET,
        "HUB_REST_TOKEN": REST_TOKEN,
    }


@pytest.fixture
def make_app(redis_url: str, no_overflow_routing: str) -> Callable[..., Sanic]:
    Sanic.test_mode = True

    def build(transport: httpx.MockTransport, **overrides: str) -> Sanic:
        env = {
            **hub_secrets(),
            "REDIS_URL": redis_url,
            "HUB_ROUTING_CONFIG": no_overflow_routing,
            **overrides,
        }
        app = create_app(Settings.from_env({**env, **overrides}), http_transport=transport)
        return app

    return build


def transcript(redis_url: str, conversation_id: str) -> list[dict]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [json.loads(f["data"]) for _, f in client.xrange(f"hub:conv:{conversation_id}:transcript")]
    finally:
        client.close()
