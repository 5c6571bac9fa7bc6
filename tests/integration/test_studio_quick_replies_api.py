"""The studio's quick-reply API over real HTTP against a real Redis: roles, 409 on an edit of an old
version with the current one attached, 400 naming the field, the checker's preview, the audit, and agents
getting a saved template at once, on the worker that saved it and on another one, without a restart.

Two workers are served for the module; each test gets an emptied Redis database and its own copy of the
templates."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis
import redis.asyncio as aioredis
from sanic import Sanic

from handoff import keys
from handoff.app import create_app
from handoff.blueprints import studio_quick_replies
from handoff.identity import Role, TokenStore
from handoff.quick_replies.live import LiveQuickReplies
from handoff.quick_replies.loader import load_templates
from handoff.settings import Settings
from tests.integration.api_helpers import database_url
from tests.integration.conftest import ADMIN, SERVICE, hub_secrets, rasa_stand_in
from tests.integration.live_app import serving
from tests.integration.studio_fixtures import as_new_worker, use_quick_replies
from tests.unit.quick_reply_files import SHIPPED

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

REDIS_DB = 3  # this module empties its own database before each test
POLL_SECONDS = 0.2  # how often a worker looks at the files for changes made by hand
PASSWORD = "studio password 0123"
API = "/api/studio/quick-replies"


@pytest.fixture(scope="module")
def db_url(redis_url: str) -> str:
    return database_url(redis_url, REDIS_DB)


def template_copy(root: Path) -> Path:
    return Path(shutil.copytree(SHIPPED, root / "quick_replies"))


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return template_copy(tmp_path)


def with_live_quick_replies(app: Sanic, directory: Path) -> Sanic:  # type: ignore[type-arg]
    """The app serving (and the studio editing) the test's copy of the templates, kept current through
    Redis; the blueprint registered if the app does not register it yet."""
    app.ctx.quick_replies = LiveQuickReplies(directory, poll_seconds=POLL_SECONDS)
    if studio_quick_replies.bp.name not in app.blueprints:
        app.blueprint(studio_quick_replies.bp)

    async def start(app: Sanic) -> None:  # type: ignore[type-arg]
        await app.ctx.quick_replies.start(app.ctx.redis)  # a second start is a no-op

    async def stop(app: Sanic) -> None:  # type: ignore[type-arg]
        await app.ctx.quick_replies.stop()

    app.register_listener(start, "after_server_start")
    app.register_listener(stop, "before_server_stop")
    return app


def hub_worker(db_url: str, routing_config: str, directory: Path) -> Sanic:  # type: ignore[type-arg]
    """A hub worker on the module's database serving the templates in `directory`."""
    Sanic.test_mode = True
    env = {**hub_secrets(), "REDIS_URL": db_url, "HUB_ROUTING_CONFIG": routing_config}
    return with_live_quick_replies(
        create_app(Settings.from_env(env), http_transport=rasa_stand_in([])), directory
    )


@dataclass(frozen=True)
class Worker:
    app: Sanic  # type: ignore[type-arg]
    url: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(
    db_url: str, no_overflow_routing: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Worker, Worker]]:
    """Two hub workers sharing the module's database; each test points both at its own copy of the
    templates. The first is started last: sanic-ext serves the API reference from the app started last in
    a process."""
    async with AsyncExitStack() as stack:
        started = []
        for name in ("second", "first"):
            app = hub_worker(db_url, no_overflow_routing, template_copy(tmp_path_factory.mktemp(name)))
            started.append(Worker(app, await stack.enter_async_context(serving(app))))
        second, first = started
        yield first, second


@pytest_asyncio.fixture(loop_scope="module")
async def workers(served: tuple[Worker, Worker], directory: Path) -> tuple[Worker, Worker]:
    """The module's workers as newly started on an empty database, serving the test's templates."""
    await as_new_worker(served[0].app)
    for worker in served:
        await use_quick_replies(worker.app, directory, POLL_SECONDS)
    return served


@pytest.fixture
def base(workers: tuple[Worker, Worker]) -> str:
    """The worker the tests' users call."""
    return workers[0].url


@pytest.fixture
def elsewhere(workers: tuple[Worker, Worker]) -> str:
    """Another worker."""
    return workers[1].url


class User:
    """A caller with an API token, as the studio's API clients are; `session` below signs in instead."""

    def __init__(self, base: str, token: str = "") -> None:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=base, headers={"Origin": base, **auth})
        self.csrf = ""

    async def call(self, method: str, path: str, csrf: bool = True, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if csrf and self.csrf and method != "GET":
            headers["X-CSRF-Token"] = self.csrf
        return await self.http.request(method, path, headers=headers, **kwargs)


ROLES = {"eda": Role.EDITOR, "ed2": Role.EDITOR, "sam": Role.SUPERVISOR, "ana": Role.AGENT}


@pytest_asyncio.fixture(loop_scope="module")
async def users(base: str, db_url: str) -> AsyncIterator[dict[str, User]]:
    """API tokens as the token store issues them: no password hashing in every test."""
    client = aioredis.Redis.from_url(db_url, decode_responses=True)
    tokens = TokenStore(client, SERVICE, ADMIN)
    made = {
        user_id: User(base, await tokens.issue(user_id, role, user_id if role is Role.AGENT else None))
        for user_id, role in ROLES.items()
    }
    await client.aclose()
    yield made
    for user in made.values():
        await user.http.aclose()


@asynccontextmanager
async def session(base: str, user_id: str, role: str) -> AsyncIterator[User]:
    """A console session (cookie and CSRF token) for a user the admin creates: what the studio page uses."""
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}) as admin:
        body = {"id": user_id, "password": PASSWORD, "role": role}
        assert (await admin.post("/api/users", json=body)).status_code == 201
    user = User(base)
    try:
        response = await user.http.post("/api/session", json={"user_id": user_id, "password": PASSWORD})
        assert response.status_code == 200, response.text
        user.csrf = response.json()["csrf_token"]
        yield user
    finally:
        await user.http.aclose()


def english(text: str, **fields: str) -> dict[str, str]:
    return {
        "shortcut": "parcel-where",
        "title": "Where is my parcel",
        "category": "orders",
        "text": text,
        **fields,
    }


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.glob("*.yml")}


def audit_entries(db_url: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(db_url, decode_responses=True)
    try:
        return [json.loads(entry) for entry in client.lrange(keys.studio_audit(), 0, -1)]
    finally:
        client.close()


async def test_roles_editors_write_supervisors_read_agents_and_strangers_do_neither(
    base: str, users: dict[str, User]
) -> None:
    editor, supervisor, agent = users["eda"], users["sam"], users["ana"]
    one = f"{API}/greeting.order_context"
    check = {"id": "orders.where", "languages": {"en": english("Hi")}}
    async with httpx.AsyncClient(base_url=base) as stranger:
        assert (await stranger.get(API)).status_code == 401
        assert (await stranger.put(f"{API}/orders.where", json={"version": None})).status_code == 401
    for method, path, body in (("GET", API, None), ("GET", one, None), ("POST", f"{API}/check", check)):
        assert (await agent.call(method, path, json=body)).status_code == 403, path
        assert (await supervisor.call(method, path, json=body)).status_code == 200, path
        assert (await editor.call(method, path, json=body)).status_code == 200, path
    current = (await editor.call("GET", one)).json()
    draft = {"version": None, "languages": {"en": english("Where is {order_id}?")}}
    for refused in (agent, supervisor):
        assert (await refused.call("PUT", f"{API}/orders.where", json=draft)).status_code == 403
        response = await refused.call("DELETE", one, params={"version": current["version"]})
        assert response.status_code == 403
    async with session(base, "eve", "editor") as signed_in:  # the studio page: a cookie and its CSRF token
        assert (await signed_in.call("GET", API)).status_code == 200
        no_csrf = await signed_in.call("PUT", f"{API}/orders.where", csrf=False, json=draft)
        assert no_csrf.status_code == 403
        assert (await signed_in.call("PUT", f"{API}/orders.where", json=draft)).status_code == 201
    deleted = await editor.call("DELETE", one, params={"version": current["version"]})
    assert deleted.status_code == 200
    assert deleted.json() == {"id": "greeting.order_context", "deleted": True, "version": current["version"]}
    assert (await editor.call("GET", one)).status_code == 404


async def test_an_agent_gets_a_saved_template_at_once_without_a_restart(
    base: str, users: dict[str, User], db_url: str, directory: Path
) -> None:
    editor, agent = users["eda"], users["ana"]
    search = {"q": "parcel-where", "lang": "en"}
    assert (await agent.call("GET", "/api/quick-replies", params=search)).json() == []
    draft = {
        "version": None,
        "languages": {"en": english("Hi {customer_name}, order {order_id} is on its way.")},
    }
    saved = await editor.call("PUT", f"{API}/orders.where", json=draft)
    assert saved.status_code == 201, saved.text
    body = saved.json()
    assert body["changed"] is True
    assert [w["field"] for w in body["warnings"]] == ["languages.zh"]  # no Chinese version: a warning only
    template = body["template"]
    assert template["languages"]["en"]["variables"] == ["customer_name", "order_id"]
    assert template["languages"]["en"]["file"] == "en.yml" and template["languages"]["zh"] is None

    found = (await agent.call("GET", "/api/quick-replies", params=search)).json()
    assert [(t["id"], t["shortcut"], t["variables"]) for t in found] == [
        ("orders.where", "parcel-where", ["customer_name", "order_id"])
    ]
    assert load_templates(directory).get("en", "orders.where") is not None

    update = {
        "version": template["version"],
        "languages": {"en": english("Order {order_id} left the warehouse.")},
    }
    updated = await editor.call("PUT", f"{API}/orders.where", json=update)
    assert updated.status_code == 200
    found = (await agent.call("GET", "/api/quick-replies", params=search)).json()
    assert found[0]["text"] == "Order {order_id} left the warehouse."

    entries = audit_entries(db_url)
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("quick_replies.template.saved", "eda"),
        ("quick_replies.template.saved", "eda"),
    ]
    newest = entries[0]["detail"]
    assert newest["id"] == "orders.where" and newest["created"] is False
    assert newest["previous_version"] == template["version"]
    assert newest["before"]["en"]["text"].startswith("Hi {customer_name}")
    assert newest["after"]["en"]["text"] == "Order {order_id} left the warehouse."


async def test_another_worker_serves_the_change_too(elsewhere: str, users: dict[str, User]) -> None:
    """Two hub workers share Redis and the files; the save goes to the first, the agent asks the second."""
    agent_elsewhere = User(elsewhere)
    agent_elsewhere.http.headers.update(users["ana"].http.headers)  # a token works on every worker
    try:
        search = {"q": "parcel-where", "lang": "en"}
        assert (await agent_elsewhere.call("GET", "/api/quick-replies", params=search)).json() == []
        draft = {"version": None, "languages": {"en": english("Order {order_id} is on its way.")}}
        assert (await users["eda"].call("PUT", f"{API}/orders.where", json=draft)).status_code == 201
        for _ in range(100):
            found = (await agent_elsewhere.call("GET", "/api/quick-replies", params=search)).json()
            if found:
                break
            await asyncio.sleep(0.02)
        assert [t["id"] for t in found] == ["orders.where"]
    finally:
        await agent_elsewhere.http.aclose()


async def test_an_edit_of_an_old_version_is_refused_with_the_current_one(
    users: dict[str, User], directory: Path
) -> None:
    first, second = users["eda"], users["ed2"]
    path = f"{API}/greeting.order_context"
    opened = (await first.call("GET", path)).json()
    assert opened == (await second.call("GET", path)).json()
    english_now = {k: v for k, v in opened["languages"]["en"].items() if k != "variables"}
    mine = {"version": opened["version"], "languages": {"en": {**english_now, "title": "First editor"}}}
    theirs = {"version": opened["version"], "languages": {"en": {**english_now, "title": "Second editor"}}}
    assert (await first.call("PUT", path, json=mine)).status_code == 200
    before = (directory / "en.yml").read_text(encoding="utf-8")

    refused = await second.call("PUT", path, json=theirs)
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "quick_reply_changed"
    assert body["current"]["languages"]["en"]["title"] == "First editor"
    assert body["current"] == (await second.call("GET", path)).json()
    gone = await second.call("DELETE", path, params={"version": opened["version"]})
    assert gone.status_code == 409 and gone.json()["current"]["version"] == body["current"]["version"]
    exists = await second.call("PUT", path, json={**theirs, "version": None})
    assert exists.status_code == 409 and exists.json()["error"] == "quick_reply_exists"
    assert (directory / "en.yml").read_text(encoding="utf-8") == before


BAD_TEMPLATES: list[tuple[dict[str, Any], str]] = [
    ({"version": None, "languages": {"en": english("Order {order_no}")}}, "languages.en.text"),
    ({"version": None, "languages": {"en": english("Order {order_id")}}, "languages.en.text"),
    ({"version": None, "languages": {"en": english("Hi", shortcut="hi")}}, "languages.en.shortcut"),
    ({"version": None, "languages": {"en": english("Hi", category="misc")}}, "languages.en.category"),
    ({"version": None, "languages": {"en": {"text": "Hi"}}}, "languages.en.shortcut"),
    ({"version": None, "languages": {"fr": english("Salut")}}, "languages.fr"),
    ({"version": None, "languages": {}}, "languages"),
    ({"languages": {"en": english("Hi")}}, "version"),
    ({"version": None, "languages": {"en": english("Hi")}, "extra": 1}, "extra"),
]


async def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    users: dict[str, User], directory: Path, db_url: str
) -> None:
    editor = users["eda"]
    before = files_of(directory)
    for body, field in BAD_TEMPLATES:
        response = await editor.call("PUT", f"{API}/orders.where", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["field"] == field, body
        assert response.json()["message"].startswith(f"{field}: "), body
    not_object = await editor.call("PUT", f"{API}/orders.where", content=b"[1]")
    assert not_object.status_code == 400
    draft = {"version": None, "languages": {"en": english("Hi")}}
    bad_id = await editor.call("PUT", f"{API}/Not An Id", json=draft)
    assert bad_id.status_code == 400 and bad_id.json()["field"] == "id"
    no_version = await editor.call("DELETE", f"{API}/greeting.order_context")
    assert no_version.status_code == 400 and no_version.json()["field"] == "version"
    unknown = await editor.call("DELETE", f"{API}/greeting.nobody", params={"version": "0" * 16})
    assert unknown.status_code == 404 and unknown.json()["error"] == "quick_reply_not_found"
    assert (await editor.call("GET", f"{API}/greeting.nobody")).status_code == 404
    assert files_of(directory) == before
    assert audit_entries(db_url) == []


async def test_the_checker_previews_a_draft_and_lists_its_problems_without_saving(
    users: dict[str, User], directory: Path, db_url: str
) -> None:
    before = files_of(directory)
    draft = {
        "id": "orders.where",
        "languages": {
            "en": english("Hi {customer_name}, {order_id} arrives {eta}. {odrer_id}"),
            "zh": english("{customer_name}您好，订单{order_id}预计{eta}送达。", shortcut="daoda"),
        },
    }
    response = await users["sam"].call("POST", f"{API}/check", json=draft)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert body["problems"] == [
        {
            "field": "languages.en.text",
            "message": "unknown variable {odrer_id} (did you mean {order_id}?)",
            "severity": "error",
        }
    ]
    assert body["languages"]["en"]["variables"] == ["customer_name", "order_id", "eta"]
    assert body["languages"]["zh"]["preview"] == "王芳您好，订单SO-10001021预计5月9日送达。"
    assert body["languages"]["en"]["preview"].startswith("Hi Alice Carter, SO-10001021 arrives May 9.")
    assert files_of(directory) == before
    assert audit_entries(db_url) == []


async def test_the_list_carries_what_the_editor_chooses_from_and_the_routes_are_documented(
    base: str, users: dict[str, User]
) -> None:
    body = (await users["sam"].call("GET", API)).json()
    assert {"templates", "files", "languages", "categories", "variables"} <= set(body)
    assert {"file": "en.yml", "language": "en"} in body["files"]
    assert any(v["name"] == "order_id" for v in body["variables"])
    ids = [t["id"] for t in body["templates"]]
    assert ids == sorted(ids) and len(ids) == len(set(ids))

    async with httpx.AsyncClient(base_url=base) as client:
        document = (await client.get("/docs/openapi.json")).json()
    paths = document["paths"]
    assert {"get"} <= set(paths[API]) and {"post"} <= set(paths[f"{API}/check"])
    assert {"get", "put", "delete"} <= set(paths[f"{API}/{{template_id}}"])
    assert "studio" in paths[API]["get"]["tags"]
