"""One handoff app served for a whole API test module, and the calls its tests make as its users.

Starting Sanic per request costs ~0.15 s, so a module serves one app (sanic-testing's ReusableClient) in
a Redis database of its own. Tests stay independent by construction: ids carry a uuid suffix, and each
test routes in its own skill "lane" (the module's routing config maps intents <prefix>_i<n> to skills
<prefix>_s<n>).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
from redis.asyncio import Redis as AsyncRedis
from sanic import Sanic
from sanic_testing.reusable import ReusableClient

from handoff.app import create_app
from handoff.settings import Settings
from tests.redis_server import free_port


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def database_url(redis_url: str, db: int) -> str:
    """The session's Redis with another database: routing and ticket keys are global to a database."""
    return redis_url.rsplit("/", 1)[0] + f"/{db}"


def flushed_database(redis_url: str, db: int) -> str:
    """database_url(redis_url, db), emptied: for a module whose keys are global to a database (routing, the
    studio's audit log) and that flushes it before each test."""
    url = database_url(redis_url, db)
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@asynccontextmanager
async def own_database(redis_url: str, db: int) -> AsyncIterator[AsyncRedis]:
    """An asyncio client of database `db`, empty before and after: for a module whose keys are global to a
    database (a stream every test reads whole) and that must not see other tests' keys."""
    client = AsyncRedis.from_url(database_url(redis_url, db), decode_responses=True)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


async def issue_token(http: httpx.AsyncClient, admin: str, role: str, user_id: str) -> dict[str, str]:
    """The Authorization header of a new token for `user_id` in `role`, issued with the admin token
    `admin`; an agent is created first (agents get their tokens through their own record)."""
    admin_auth = {"Authorization": f"Bearer {admin}"}
    if role == "agent":
        body = {"id": user_id, "name": "Ana", "languages": ["en"], "skills": {"general": 0.5}, "capacity": 1}
        assert (await http.post("/api/agents", json=body, headers=admin_auth)).status_code == 201
        issued = await http.post(f"/api/agents/{user_id}/tokens", headers=admin_auth)
    else:
        issued = await http.post("/api/tokens", json={"role": role, "user_id": user_id}, headers=admin_auth)
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}"}


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


@dataclass(frozen=True)
class Agent:
    id: str
    token: str


@dataclass(frozen=True)
class Lane:
    """A skill only this test routes in, and the intent that the routing config maps to it."""

    intent: str
    skill: str

    @property
    def queue(self) -> str:
        return f"{self.skill}:en"


def lane_skills(prefix: str, lanes: int) -> dict[str, str]:
    """The routing config's `skills.by_intent` for `lanes` lanes."""
    return {f"{prefix}_i{n}": f"{prefix}_s{n}" for n in range(lanes)}


def write_routing_config(directory: Path, config: Mapping[str, Any]) -> Path:
    path = directory / "routing.yml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


def app_env(
    *, channel: str, service: str, admin: str, rasa_api: str, redis_url: str, routing_config: Path
) -> dict[str, str]:
    """Settings for a module's own app: its own secrets, database and routing config."""
    return {
        "RASA_CHANNEL_TOKEN": channel,
        "HUB_SERVICE_TOKEN": service,
        "HUB_ADMIN_TOKEN": admin,
        "RASA_AUTH_TOKEN": rasa_api,
        "HUB_WIDGET_SECRET": "widget-secret-0123456789",
        "HUB_IDENTITY_SECRET": "storefront-identity-key-0123",
        "REDIS_URL": redis_url,
        "HUB_ROUTING_CONFIG": str(routing_config),
        "HUB_SWEEP_INTERVAL": "60",  # offer expiry and overflow are not under test here
    }


@contextmanager
def serving(env: Mapping[str, str], rasa: httpx.AsyncBaseTransport) -> Iterator[Any]:
    """The app built from `env`, served on a free port; yields the reusable test client."""
    Sanic.test_mode = True
    app = create_app(Settings.from_env(dict(env)), http_transport=rasa)
    loop = asyncio.new_event_loop()
    try:
        with ReusableClient(app, loop=loop, port=free_port()) as client:
            yield client
    finally:
        loop.close()


class ApiClient:
    """JSON calls to the served app with a bearer token, and the lanes of its routing config."""

    def __init__(self, client: Any, prefix: str, lanes: int) -> None:
        self._client = client
        self.prefix = prefix
        self._lanes = itertools.count()
        self._lane_count = lanes
        self.supervisor = ""

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        headers.update(kwargs.pop("headers", {}))
        _, response = getattr(self._client, method)(path, headers=headers, gather_request=False, **kwargs)
        assert response is not None
        return Reply(int(response.status), response.json)

    def lane(self) -> Lane:
        n = next(self._lanes)
        assert n < self._lane_count, "raise LANES: the routing config has no skill left"
        return Lane(f"{self.prefix}_i{n}", f"{self.prefix}_s{n}")

    def issue_token(self, admin: str, role: str, user_id: str) -> str:
        """A new API token for `user_id` in `role`, issued with the admin token."""
        issued = self.call("post", "/api/tokens", admin, json={"role": role, "user_id": user_id})
        assert issued.status == 201, issued.body
        token: str = issued.body["token"]
        return token

    def add_agent(self, body: Mapping[str, Any], by: str) -> Agent:
        """The agent `body` describes, created by `by`, with a token of their own."""
        created = self.call("post", "/api/agents", by, json=dict(body))
        assert created.status == 201, created.body
        issued = self.call("post", f"/api/agents/{body['id']}/tokens", by)
        assert issued.status == 201, issued.body
        return Agent(str(body["id"]), issued.body["token"])
