"""Fixtures for the handoff service against a real redis-server, with HTTP stand-ins for Rasa."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
import redis
from sanic import Sanic

from handoff.app import create_app
from handoff.settings import Settings

TOKEN = "channel-token-0123456789"
SERVICE = "service-token-0123456789"
ADMIN = "admin-token-0123456789"
RASA_API = "rasa-api-token-0123456789"
WIDGET_SECRET = "widget-secret-0123456789"


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


@pytest.fixture
def make_app(redis_url: str) -> Callable[..., Sanic]:
    Sanic.test_mode = True

    def build(transport: httpx.MockTransport, **overrides: str) -> Sanic:
        env = {
            "RASA_CHANNEL_TOKEN": TOKEN,
            "HUB_SERVICE_TOKEN": SERVICE,
            "HUB_ADMIN_TOKEN": ADMIN,
            "RASA_AUTH_TOKEN": RASA_API,
            "HUB_WIDGET_SECRET": WIDGET_SECRET,
            "REDIS_URL": redis_url,
            **overrides,
        }
        app = create_app(Settings.from_env(env), http_transport=transport)
        return app

    return build


def transcript(redis_url: str, conversation_id: str) -> list[dict]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [json.loads(f["data"]) for _, f in client.xrange(f"hub:conv:{conversation_id}:transcript")]
    finally:
        client.close()
