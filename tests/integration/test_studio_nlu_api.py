"""The studio's training-data API over HTTP against a real redis-server: who may read and change examples,
edits based on an old version (409 with the current one), bad input named by field with the files left as
they were, warnings, search, and the audit entries every change leaves.

One app is served for the module; each test gets an emptied Redis database and a fresh temporary copy of
data/nlu and bot/domain to edit, never the checkout's files."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis as AsyncRedis
from sanic import Sanic

from handoff.app import create_app
from handoff.blueprints import studio_nlu
from handoff.settings import Settings
from handoff.studio import audit
from handoff.studio.nlu_data import NluData
from tests.integration.api_helpers import database_url, issue_token
from tests.integration.conftest import ADMIN, hub_secrets, rasa_stand_in
from tests.integration.live_app import serving
from tests.integration.studio_fixtures import ROOT, as_new_worker, copy_training_data

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

REDIS_DB = 14  # the studio's audit log is global: this module empties its own database before each test
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def studio_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the module's app is told about (STUDIO_ROOT); each test copies the data there afresh."""
    return tmp_path_factory.mktemp("studio-nlu") / "project"


@pytest.fixture
def project(studio_root: Path) -> Path:
    root = copy_training_data(studio_root)
    # the app serves the quick replies of STUDIO_ROOT when it is set
    shutil.copytree(ROOT / "data" / "quick_replies", root / "data" / "quick_replies")
    return root


@pytest.fixture(scope="module")
def db_url(redis_url: str) -> str:
    return database_url(redis_url, REDIS_DB)


def build_app(db_url: str, **env: str) -> Sanic:  # type: ignore[type-arg]
    Sanic.test_mode = True
    settings = Settings.from_env({**hub_secrets(), "REDIS_URL": db_url, "HUB_SWEEP_INTERVAL": "60", **env})
    app = create_app(settings, http_transport=rasa_stand_in([]))
    if studio_nlu.bp.name not in app.blueprints:
        app.blueprint(studio_nlu.bp)
    return app


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(db_url: str, studio_root: Path) -> AsyncIterator[tuple[Sanic, str]]:  # type: ignore[type-arg]
    """The module's app. It names the studio root in its settings, which decides only where the app is
    given no store of its own: every test but the one about that setting gives it one."""
    copy_training_data(studio_root)  # the app reads the quick replies and the data of its root as it starts
    shutil.copytree(ROOT / "data" / "quick_replies", studio_root / "data" / "quick_replies")
    app = build_app(db_url, STUDIO_ROOT=str(studio_root))
    async with serving(app) as base:
        yield app, base


@pytest_asyncio.fixture(loop_scope="module")
async def fresh(served: tuple[Sanic, str], project: Path) -> str:  # type: ignore[type-arg]
    """The module's app as a new worker on an empty database; its base URL."""
    app, base = served
    await as_new_worker(app)
    app.ctx.nlu_data = NluData(project)
    return base


@pytest_asyncio.fixture(loop_scope="module")
async def client(fresh: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fresh) as http:
        yield http


async def token(http: httpx.AsyncClient, role: str, user_id: str) -> dict[str, str]:
    return await issue_token(http, ADMIN, role, user_id)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted((root / "data").rglob("*"))
        if p.is_file()
    }


async def entries(db_url: str) -> list[dict[str, Any]]:
    client = AsyncRedis.from_url(db_url)
    try:
        return await audit.recent(client, limit=50, action_prefix="nlu.")
    finally:
        await client.aclose()


EXAMPLES = "/api/studio/intents/order_status/en/examples"


async def test_roles_agents_are_refused_supervisors_read_editors_write(
    client: httpx.AsyncClient, project: Path
) -> None:
    agent = await token(client, "agent", "ana")
    supervisor = await token(client, "supervisor", "sam")
    editor = await token(client, "editor", "eve")
    current = (await client.get("/api/studio/intents/order_status/en", headers=editor)).json()["version"]
    reads: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/studio/intents", {}),
        ("GET", "/api/studio/intents/order_status/en", {}),
        ("GET", "/api/studio/examples", {"params": {"q": "parcel"}}),
        (
            "POST",
            "/api/studio/warnings",
            {"json": {"intent": "order_status", "language": "en", "texts": ["hi"]}},
        ),
    ]
    writes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", EXAMPLES, {"json": {"texts": ["parcel gone missing again"], "base_version": current}}),
        ("PUT", EXAMPLES, {"json": {"old": "tracking", "new": "tracking pls", "base_version": current}}),
        ("DELETE", EXAMPLES, {"json": {"text": "tracking", "base_version": current}}),
        (
            "POST",
            EXAMPLES + "/move",
            {
                "json": {
                    "text": "tracking",
                    "to_intent": "complain",
                    "base_version": current,
                    "to_base_version": "x",
                }
            },
        ),
    ]
    before = snapshot(project)
    for method, path, kwargs in reads + writes:
        assert (await client.request(method, path, **kwargs)).status_code == 401, path
        refused = await client.request(method, path, headers=agent, **kwargs)
        assert (refused.status_code, refused.json()["error"]) == (403, "forbidden"), path
    for method, path, kwargs in reads:
        assert (await client.request(method, path, headers=supervisor, **kwargs)).status_code == 200, path
    for method, path, kwargs in writes:
        assert (await client.request(method, path, headers=supervisor, **kwargs)).status_code == 403, path
    assert snapshot(project) == before
    for method, path, kwargs in reads:
        assert (await client.request(method, path, headers=editor, **kwargs)).status_code == 200, path
    method, path, kwargs = writes[0]
    added = await client.request(method, path, headers=editor, **kwargs)
    assert added.status_code == 201, added.text
    admin_read = await client.get("/api/studio/intents", headers=ADMIN_AUTH)
    assert admin_read.status_code == 200


async def test_an_editor_adds_edits_moves_and_deletes_and_each_change_is_audited(
    client: httpx.AsyncClient, project: Path, db_url: str
) -> None:
    editor = await token(client, "editor", "eve")
    listed = (await client.get("/api/studio/intents", headers=editor)).json()
    assert listed["languages"] == ["en", "zh"] and listed["min_examples"] == 10
    intents = {i["name"]: i for i in listed["intents"]}
    status = intents["order_status"]["languages"]["en"]
    assert status["count"] > 10 and "data/nlu/en/orders.yml" in status["files"]

    shown = (await client.get("/api/studio/intents/order_status/en", headers=editor)).json()
    assert (
        shown["version"] == status["version"] and shown["count"] == len(shown["examples"]) == status["count"]
    )
    assert {"text", "plain", "entities", "file"} <= set(shown["examples"][0])
    assert shown["adds_to"] == "data/nlu/en/orders.yml"

    added = await client.post(
        EXAMPLES,
        json={"texts": ["is my [garden hose](item) on the way"], "base_version": shown["version"]},
        headers=editor,
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["count"] == shown["count"] + 1 and body["version"] != shown["version"]
    # Listed by file, then as written: find it by its text (another file may sort after orders.yml).
    new = next(e for e in body["examples"] if e["text"] == "is my [garden hose](item) on the way")
    assert (new["text"], new["plain"], new["file"]) == (
        "is my [garden hose](item) on the way",
        "is my garden hose on the way",
        "data/nlu/en/orders.yml",
    )
    assert new["entities"] == [
        {"entity": "item", "value": "garden hose", "text": "garden hose", "start": 6, "end": 17}
    ]
    assert "    - is my [garden hose](item) on the way\n" in (project / "data/nlu/en/orders.yml").read_text()

    edited = await client.put(
        EXAMPLES,
        json={
            "old": "is my [garden hose](item) on the way",
            "new": "is my [hose](item) on its way",
            "base_version": body["version"],
        },
        headers=editor,
    )
    assert edited.status_code == 200, edited.text
    target = (await client.get("/api/studio/intents/complain/en", headers=editor)).json()
    moved = await client.post(
        EXAMPLES + "/move",
        json={
            "text": "is my [hose](item) on its way",
            "to_intent": "complain",
            "base_version": edited.json()["version"],
            "to_base_version": target["version"],
        },
        headers=editor,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["from"]["count"] == shown["count"]
    assert "is my [hose](item) on its way" in [e["text"] for e in moved.json()["to"]["examples"]]
    deleted = await client.request(
        "DELETE",
        "/api/studio/intents/complain/en/examples",
        json={"text": "is my [hose](item) on its way", "base_version": moved.json()["to"]["version"]},
        headers=editor,
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["version"] == target["version"]  # back to what it was

    log = await entries(db_url)
    assert [e["action"] for e in log] == [
        "nlu.example.deleted",
        "nlu.example.moved",
        "nlu.example.edited",
        "nlu.example.added",
    ]
    assert {e["actor"] for e in log} == {"eve"}
    assert log[3]["detail"] == {
        "intent": "order_status",
        "language": "en",
        "texts": ["is my [garden hose](item) on the way"],
        "version": body["version"],
    }
    assert log[2]["detail"]["old"] == "is my [garden hose](item) on the way"
    assert log[2]["detail"]["new"] == "is my [hose](item) on its way"
    assert (log[1]["detail"]["to_intent"], log[1]["detail"]["texts"]) == (
        "complain",
        ["is my [hose](item) on its way"],
    )
    assert log[0]["detail"]["intent"] == "complain"


async def test_an_edit_based_on_an_old_version_gets_409_with_the_current_examples(
    client: httpx.AsyncClient, project: Path, db_url: str
) -> None:
    first, second = await token(client, "editor", "eve"), await token(client, "editor", "ed")
    seen = (await client.get("/api/studio/intents/greet/zh", headers=first)).json()
    won = await client.post(
        "/api/studio/intents/greet/zh/examples",
        json={"texts": ["哈喽哈喽"], "base_version": seen["version"]},
        headers=first,
    )
    assert won.status_code == 201
    before = snapshot(project)
    lost = await client.put(
        "/api/studio/intents/greet/zh/examples",
        json={"old": seen["examples"][0]["text"], "new": "嗨嗨嗨", "base_version": seen["version"]},
        headers=second,
    )
    assert lost.status_code == 409
    body = lost.json()
    assert body["error"] == "edit_conflict" and "someone else" in body["message"]
    assert body["current"]["version"] == won.json()["version"]
    assert "哈喽哈喽" in [e["text"] for e in body["current"]["examples"]]
    assert snapshot(project) == before
    assert [e["actor"] for e in await entries(db_url)] == ["eve"]


async def test_two_editors_saving_at_once_cannot_both_win(client: httpx.AsyncClient, project: Path) -> None:
    one, two = await token(client, "editor", "eve"), await token(client, "editor", "ed")
    seen = (await client.get("/api/studio/intents/thank/en", headers=one)).json()["version"]
    path = "/api/studio/intents/thank/en/examples"
    answers = await asyncio.gather(
        client.post(path, json={"texts": ["cheers mate"], "base_version": seen}, headers=one),
        client.post(path, json={"texts": ["many thanks friend"], "base_version": seen}, headers=two),
    )
    assert sorted(a.status_code for a in answers) == [201, 409]
    texts = [
        e["text"] for e in (await client.get("/api/studio/intents/thank/en", headers=one)).json()["examples"]
    ]
    assert ("cheers mate" in texts) != ("many thanks friend" in texts)


# (method, path, body, the field the 400 names); "current" stands for the current version.
BAD_INPUT: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", EXAMPLES, {"base_version": "v"}, "texts"),
    ("POST", EXAMPLES, {"texts": "one text", "base_version": "v"}, "texts"),
    ("POST", EXAMPLES, {"texts": ["hello"]}, "base_version"),
    ("POST", EXAMPLES, {"texts": ["the [blue jacket](item"], "base_version": "current"}, "texts[0]"),
    ("POST", EXAMPLES, {"texts": ["ok", "my [lamp](furniture)"], "base_version": "current"}, "texts[1]"),
    ("POST", EXAMPLES, {"texts": ["x" * 501], "base_version": "current"}, "texts[0]"),
    ("POST", EXAMPLES, {"texts": ["  "], "base_version": "current"}, "texts[0]"),
    ("POST", EXAMPLES, {"texts": ["Where is my order"], "base_version": "current"}, "texts[0]"),
    (
        "POST",
        "/api/studio/intents/order_status/fr/examples",
        {"texts": ["x"], "base_version": "v"},
        "language",
    ),
    (
        "POST",
        "/api/studio/intents/nlu_fallback/en/examples",
        {"texts": ["x"], "base_version": "v"},
        "intent",
    ),
    ("PUT", EXAMPLES, {"old": "not an example", "new": "x", "base_version": "current"}, "old"),
    ("PUT", EXAMPLES, {"old": "tracking", "new": "", "base_version": "current"}, "new"),
    ("DELETE", EXAMPLES, {"base_version": "current"}, "text"),
    (
        "POST",
        EXAMPLES + "/move",
        {
            "text": "tracking",
            "to_intent": "order_status",
            "base_version": "current",
            "to_base_version": "v",
        },
        "to_intent",
    ),
    (
        "POST",
        EXAMPLES + "/move",
        {"text": "tracking", "to_intent": "weather", "base_version": "current", "to_base_version": "v"},
        "to_intent",
    ),
    ("POST", "/api/studio/warnings", {"intent": "weather", "language": "en", "texts": []}, "intent"),
    ("POST", "/api/studio/warnings", {"intent": "greet", "language": "en", "texts": "hi"}, "texts"),
]


async def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, project: Path, db_url: str
) -> None:
    editor = await token(client, "editor", "eve")
    current = (await client.get("/api/studio/intents/order_status/en", headers=editor)).json()["version"]
    before = snapshot(project)
    for method, path, body, field in BAD_INPUT:
        sent = {**body, "base_version": current} if body.get("base_version") == "current" else body
        answer = await client.request(method, path, json=sent, headers=editor)
        assert answer.status_code == 400, (body, answer.text)
        assert (answer.json()["error"], answer.json().get("field")) == ("bad_request", field), body
        assert field in answer.json()["message"], answer.json()
    assert snapshot(project) == before
    assert await entries(db_url) == []


async def test_other_refusals_are_clear_too(client: httpx.AsyncClient, project: Path) -> None:
    editor = await token(client, "editor", "eve")
    unknown = await client.get("/api/studio/intents/ask_weather/en", headers=editor)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_intent")
    not_json = await client.post(
        EXAMPLES, content=b"{nope", headers={**editor, "Content-Type": "application/json"}
    )
    assert (not_json.status_code, not_json.json()["message"]) == (400, "body is not valid JSON")
    bad_limit = await client.get("/api/studio/examples", params={"limit": "0"}, headers=editor)
    assert (bad_limit.status_code, bad_limit.json()["field"]) == (400, "limit")
    long_query = await client.get("/api/studio/examples", params={"q": "x" * 201}, headers=editor)
    assert (long_query.status_code, long_query.json()["field"]) == (400, "q")


async def test_warnings_and_search(client: httpx.AsyncClient, project: Path) -> None:
    supervisor = await token(client, "supervisor", "sam")
    before = snapshot(project)
    answer = await client.post(
        "/api/studio/warnings",
        json={"intent": "complain", "language": "en", "texts": ["Where is my order??", "[x](colour)"]},
        headers=supervisor,
    )
    assert answer.status_code == 200
    found = answer.json()["warnings"]
    same = [w for w in found if w["kind"] == "same_text_in_other_intent"]
    assert same and same[0]["intent"] == "order_status" and same[0]["index"] == 0 and not same[0]["blocking"]
    assert [w["index"] for w in found if w["kind"] == "unknown_entity" and w["blocking"]] == [1]
    assert snapshot(project) == before

    searched = await client.get(
        "/api/studio/examples",
        params={"q": "WHERE IS MY ORDER", "language": "en", "limit": "3"},
        headers=supervisor,
    )
    assert searched.status_code == 200
    body = searched.json()
    assert body["total"] >= 1 and len(body["examples"]) <= 3
    assert all(e["language"] == "en" and "where is my order" in e["plain"].lower() for e in body["examples"])
    only = await client.get(
        "/api/studio/examples", params={"q": "快递", "intent": "order_status"}, headers=supervisor
    )
    assert {e["intent"] for e in only.json()["examples"]} == {"order_status"}


async def test_without_a_store_on_the_app_the_studio_root_setting_decides(
    served: tuple[Sanic, str],  # type: ignore[type-arg]
    fresh: str,
    studio_root: Path,
    project: Path,
) -> None:
    app, _ = served
    del app.ctx.nlu_data
    assert project == studio_root  # the root the app was built with holds this test's copy
    async with httpx.AsyncClient(base_url=fresh) as http:
        editor = await token(http, "editor", "eve")
        seen = (await http.get("/api/studio/intents/goodbye/en", headers=editor)).json()
        added = await http.post(
            "/api/studio/intents/goodbye/en/examples",
            json={"texts": ["catch you later alligator"], "base_version": seen["version"]},
            headers=editor,
        )
        assert added.status_code == 201, added.text
        spec = (await http.get("/docs/openapi.json")).json()
    assert "catch you later alligator" in (project / "data/nlu/en/basics.yml").read_text()
    assert "catch you later alligator" not in (ROOT / "data/nlu/en/basics.yml").read_text()
    # the studio page is built against the reference: every operation is there, filed under "studio"
    for method, path in STUDIO_NLU_OPERATIONS:
        operation = spec["paths"][path][method]
        assert operation["tags"] == ["studio"], (method, path)
        assert {"401", "403", "409"} <= set(operation["responses"]), (method, path)


STUDIO_NLU_OPERATIONS = [
    ("get", "/api/studio/intents"),
    ("get", "/api/studio/intents/{intent}/{language}"),
    ("post", "/api/studio/intents/{intent}/{language}/examples"),
    ("put", "/api/studio/intents/{intent}/{language}/examples"),
    ("delete", "/api/studio/intents/{intent}/{language}/examples"),
    ("post", "/api/studio/intents/{intent}/{language}/examples/move"),
    ("post", "/api/studio/warnings"),
    ("get", "/api/studio/examples"),
]
