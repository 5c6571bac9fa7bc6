"""The studio's inbox against a real Redis: what the assistant was unsure of, handed off or an agent flagged
comes in masked; editors accept it into the training data or dismiss it; roles are enforced.

One app is served for the module; each test gets an emptied Redis database and its own copy of the data."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sanic import Sanic

from handoff.app import create_app
from handoff.blueprints.studio_nlu import NluData
from handoff.settings import Settings
from tests.integration.api_helpers import database_url
from tests.integration.conftest import ADMIN, RASA_API, REST_AUTH, REST_TOKEN, SERVICE, TOKEN
from tests.integration.live_app import serving
from tests.integration.studio_fixtures import as_new_worker, copy_training_data

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

REDIS_DB = 12  # this module empties its own database before each test

# What the stand-in Rasa understood of each text (the hub channel's X-Understood header).
UNDERSTOOD = {
    "where is my order": {"intent": "order_status", "confidence": 0.93, "ranking": [], "entities": []},
    "my parcel got eaten by the neighbour's dog, mail me at jo@home.net": {
        "intent": "nlu_fallback",
        "confidence": 0.15,
        "ranking": [{"name": "order_status", "confidence": 0.15}, {"name": "complain", "confidence": 0.1}],
        "entities": [],
    },
    "can i swap the colour": {
        "intent": "ask_policy",
        "confidence": 0.31,
        "ranking": [{"name": "ask_policy", "confidence": 0.31}],
        "entities": [],
    },
}


def rasa(parsed: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/webhooks/hub/webhook":
            body = json.loads(request.content)
            understood = UNDERSTOOD.get(body["message"])
            headers = {"X-Understood": json.dumps(understood)} if understood else {}
            return httpx.Response(200, json=[{"text": "ok"}], headers=headers)
        if request.url.path == "/model/parse":
            assert request.url.params["token"] == RASA_API
            text = json.loads(request.content)["text"]
            parsed.append(text)
            return httpx.Response(
                200,
                json={
                    "text": text,
                    "intent": {"name": "ask_policy", "confidence": 0.42},
                    "intent_ranking": [{"name": "ask_policy", "confidence": 0.42}],
                    "entities": [{"entity": "item", "value": "jacket", "start": 0, "end": 6}],
                },
            )
        return httpx.Response(200, json={"status": "ok"})

    return httpx.MockTransport(handler)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The training data and domain the studio edits: a copy, so the checkout's files stay as they are."""
    return copy_training_data(tmp_path / "project")


@pytest.fixture(scope="module")
def seen_by_rasa() -> list[str]:
    return []


@pytest.fixture
def parsed(seen_by_rasa: list[str]) -> list[str]:
    """The texts the stand-in Rasa parsed during this test."""
    seen_by_rasa.clear()
    return seen_by_rasa


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(redis_url: str, seen_by_rasa: list[str]) -> AsyncIterator[tuple[Sanic, str]]:  # type: ignore[type-arg]
    """The module's app, on its own Redis database (the inbox and the audit log are global to one)."""
    Sanic.test_mode = True
    env = {
        "RASA_CHANNEL_TOKEN": TOKEN,
        "HUB_SERVICE_TOKEN": SERVICE,
        "HUB_ADMIN_TOKEN": ADMIN,
        "RASA_AUTH_TOKEN": RASA_API,
        "HUB_WIDGET_SECRET": "widget-secret-0123456789",
        "HUB_IDENTITY_SECRET": "storefront-identity-key-0123",
        "HUB_REST_TOKEN": REST_TOKEN,
        "REDIS_URL": database_url(redis_url, REDIS_DB),
        "HUB_SWEEP_INTERVAL": "60",
    }
    app = create_app(Settings.from_env(env), http_transport=rasa(seen_by_rasa))
    async with serving(app) as base:
        yield app, base


@pytest_asyncio.fixture(loop_scope="module")
async def client(
    served: tuple[Sanic, str],  # type: ignore[type-arg]
    project: Path,
    parsed: list[str],
) -> AsyncIterator[httpx.AsyncClient]:
    """The module's app as a new worker on an empty database, editing the test's copy of the data."""
    app, base = served
    await as_new_worker(app)
    app.ctx.nlu_data = NluData(project)
    async with httpx.AsyncClient(base_url=base) as http:
        yield http


async def token(http: httpx.AsyncClient, role: str, user_id: str) -> dict[str, str]:
    issued = await http.post(
        "/api/tokens", json={"role": role, "user_id": user_id}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}"}


async def agent_token(http: httpx.AsyncClient, agent_id: str) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    spec = {"id": agent_id, "name": "Ann", "languages": ["en"], "skills": {"general": 0.5}, "capacity": 1}
    assert (await http.post("/api/agents", json=spec, headers=admin)).status_code == 201
    issued = await http.post(f"/api/agents/{agent_id}/tokens", headers=admin)
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}"}


async def say(http: httpx.AsyncClient, sender: str, text: str) -> None:
    sent = await http.post(
        "/webhooks/rest/webhook", json={"sender": sender, "message": text}, headers=REST_AUTH
    )
    assert sent.status_code == 200, sent.text


async def test_unsure_and_fallback_messages_come_in_masked_and_confident_ones_do_not(
    client: httpx.AsyncClient,
) -> None:
    editor = await token(client, "editor", "eve")
    await say(client, "c1", "where is my order")
    await say(client, "c1", "my parcel got eaten by the neighbour's dog, mail me at jo@home.net")
    await say(client, "c2", "can i swap the colour")
    await say(client, "c2", "/greet")  # a button payload is never an item, whatever its confidence

    listed = (await client.get("/api/studio/inbox", headers=editor)).json()
    by_text = {i["text"]: i for i in listed["items"]}
    assert len(listed["items"]) == 2 and listed["counts"] == {"open": 2, "resolved": 0}
    fallback = next(i for i in listed["items"] if i["reasons"] == ["fallback"])
    assert "jo@home.net" not in fallback["text"] and "example.com" in fallback["text"]
    assert fallback["masked"] == ["email"] and fallback["predicted"]["intent"] == "nlu_fallback"
    assert by_text["can i swap the colour"]["reasons"] == ["low_confidence"]
    assert sorted(i for group in listed["groups"] for i in group) == sorted(i["id"] for i in listed["items"])

    detail = (await client.get(f"/api/studio/inbox/{fallback['id']}", headers=editor)).json()
    context = detail["context"]
    assert [c["author"] for c in context][:2] == ["customer", "bot"]
    assert [c["this"] for c in context].count(True) == 1
    assert not any("jo@home.net" in c["text"] for c in context)

    only_zh = await client.get("/api/studio/inbox?language=zh", headers=editor)
    assert only_zh.json()["items"] == []
    bad = await client.get("/api/studio/inbox?reason=bored", headers=editor)
    assert bad.status_code == 400 and bad.json()["field"] == "reason"


async def test_accepting_writes_the_example_and_dismissing_closes_the_item(
    client: httpx.AsyncClient, project: Path
) -> None:
    editor = await token(client, "editor", "eve")
    await say(client, "c3", "can i swap the colour")
    await say(client, "c3", "my parcel got eaten by the neighbour's dog, mail me at jo@home.net")
    items = {
        i["reasons"][0]: i for i in (await client.get("/api/studio/inbox", headers=editor)).json()["items"]
    }

    refused = await client.post(
        "/api/studio/inbox/accept",
        json={"ids": [items["low_confidence"]["id"]], "intent": "no_such_intent"},
        headers=editor,
    )
    assert refused.status_code == 200 and refused.json()["accepted"] == []
    assert "no_such_intent" in refused.json()["refused"][0]["message"]

    unknown_entity = await client.post(
        "/api/studio/inbox/accept",
        json={
            "ids": [items["low_confidence"]["id"]],
            "intent": "request_return",
            "text": "swap the [hue](tint)",
        },
        headers=editor,
    )
    assert (
        unknown_entity.json()["accepted"] == [] and "tint" in unknown_entity.json()["refused"][0]["message"]
    )
    accepted = await client.post(
        "/api/studio/inbox/accept",
        json={
            "ids": [items["low_confidence"]["id"]],
            "intent": "request_return",
            "text": "can i swap the colour of my [jacket](item)",  # the editor's wording marks the product
        },
        headers=editor,
    )
    assert accepted.status_code == 200, accepted.text
    assert [a["text"] for a in accepted.json()["accepted"]] == ["can i swap the colour of my [jacket](item)"]
    examples = NluData(project).examples("request_return", "en")
    added = next(e for e in examples.examples if e.text == "can i swap the colour of my [jacket](item)")
    assert [(x.entity, x.value) for x in added.entities] == [("item", "jacket")]

    dismissed = await client.post(
        "/api/studio/inbox/dismiss", json={"ids": [items["fallback"]["id"], "nope"]}, headers=editor
    )
    assert dismissed.json() == {"dismissed": [items["fallback"]["id"]], "unknown": ["nope"]}
    listed = (await client.get("/api/studio/inbox", headers=editor)).json()
    assert listed["items"] == [] and listed["counts"] == {"open": 0, "resolved": 2}
    resolved = (await client.get("/api/studio/inbox?status=accepted", headers=editor)).json()["items"]
    assert [(i["status"], i["accepted_intent"], i["resolved_by"]) for i in resolved] == [
        ("accepted", "request_return", "eve")
    ]
    audit = (await client.get("/api/studio/audit", headers=editor)).json()["entries"]
    assert [e["action"] for e in audit] == ["inbox.dismissed", "inbox.accepted"]
    assert audit[1]["actor"] == "eve" and audit[1]["detail"]["intent"] == "request_return"


async def test_a_handoff_for_a_miss_brings_in_the_message_and_a_request_for_a_person_the_one_before(
    client: httpx.AsyncClient,
) -> None:
    editor = await token(client, "editor", "eve")
    service = {"Authorization": f"Bearer {SERVICE}"}
    history = [
        {"text": "does the tent survive a monsoon", "intent": "ask_policy", "confidence": 0.55},
        {"text": "let me talk to someone", "intent": "request_human", "confidence": 0.97},
    ]
    for sender, reason, turns in (("h1", "kb_miss", history[:1]), ("h2", "customer_request", history)):
        await say(client, sender, "where is my order")  # the conversation exists before the handoff
        cid = f"rest-{sender}"
        body = {"conversation_id": cid, "reason": reason, "language": "en", "intent_history": turns}
        assert (await client.post("/api/handoffs/", json=body, headers=service)).status_code == 201
    await say(client, "h3", "where is my order")
    injury = {"conversation_id": "rest-h3", "reason": "injury", "language": "en", "intent_history": history}
    assert (await client.post("/api/handoffs/", json=injury, headers=service)).status_code == 201

    items = (await client.get("/api/studio/inbox?reason=handoff", headers=editor)).json()["items"]
    assert sorted((i["conversation_id"], i["text"], i["handoff_reason"]) for i in items) == [
        ("rest-h1", "does the tent survive a monsoon", "kb_miss"),
        ("rest-h2", "does the tent survive a monsoon", "customer_request"),
    ]


async def test_flags_from_staff_and_the_roles_of_the_studio(
    client: httpx.AsyncClient, parsed: list[str]
) -> None:
    editor = await token(client, "editor", "eve")
    supervisor = await token(client, "supervisor", "sam")
    agent = await agent_token(client, "ann")
    await say(client, "f1", "where is my order")
    transcript = (await client.get("/api/conversations/rest-f1/messages", headers=supervisor)).json()
    message_id = next(m["id"] for m in transcript if m["author"] == "customer")
    bot_id = next(m["id"] for m in transcript if m["author"] == "bot")

    flagged = await client.post(
        "/api/studio/flags",
        json={
            "conversation_id": "rest-f1",
            "message_id": message_id,
            "intent": "cancel_order",
            "note": "wanted to cancel",
        },
        headers=supervisor,
    )
    assert flagged.status_code == 201, flagged.text
    assert parsed == ["where is my order"]  # the live model's reading is shown beside the flag
    item = (await client.get(f"/api/studio/inbox/{flagged.json()['id']}", headers=editor)).json()["item"]
    assert item["reasons"] == ["flagged"] and item["suggested_intent"] == "cancel_order"
    assert item["predicted"]["intent"] == "ask_policy" and item["flags"][0]["by"] == "sam"

    not_customer = await client.post(
        "/api/studio/flags", json={"conversation_id": "rest-f1", "message_id": bot_id}, headers=supervisor
    )
    assert not_customer.status_code == 400 and not_customer.json()["field"] == "message_id"
    # An agent flags only in conversations offered to or held by them.
    assert (
        await client.post(
            "/api/studio/flags", json={"conversation_id": "rest-f1", "message_id": message_id}, headers=agent
        )
    ).status_code == 403

    assert (await client.get("/api/studio/inbox", headers=agent)).status_code == 403
    names = (await client.get("/api/studio/intent-names", headers=agent)).json()["intents"]
    assert "cancel_order" in names and "nlu_fallback" not in names  # what an agent may name in a flag
    assert (await client.get("/api/studio/inbox", headers=supervisor)).status_code == 200
    dismiss = await client.post("/api/studio/inbox/dismiss", json={"ids": [item["id"]]}, headers=supervisor)
    assert dismiss.status_code == 403
    assert (
        await client.post("/api/studio/inbox/dismiss", json={"ids": "x"}, headers=editor)
    ).status_code == 400


async def test_try_it_shows_the_live_models_reading(client: httpx.AsyncClient, parsed: list[str]) -> None:
    editor = await token(client, "editor", "eve")
    tried = await client.post("/api/studio/try", json={"text": "jacket exchange?"}, headers=editor)
    assert tried.status_code == 200, tried.text
    body: dict[str, Any] = tried.json()
    assert body["intent"] == "ask_policy" and body["language"] == "en"
    assert body["entities"][0]["entity"] == "item" and parsed == ["jacket exchange?"]
    empty = await client.post("/api/studio/try", json={"text": "  "}, headers=editor)
    assert empty.status_code == 400 and empty.json()["field"] == "text"
    agent = await agent_token(client, "ann")
    assert (await client.post("/api/studio/try", json={"text": "hi"}, headers=agent)).status_code == 403
