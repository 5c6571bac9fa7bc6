"""The REST channel against a real redis-server, with Rasa replaced by an HTTP stand-in."""

from __future__ import annotations

import pytest

from tests.integration.conftest import down_transport, rasa_stand_in, transcript

pytestmark = pytest.mark.integration


def test_message_is_relayed_and_both_sides_are_stored(make_app, redis_url: str) -> None:
    seen: list[dict] = []
    app = make_app(rasa_stand_in(seen))
    _, response = app.test_client.post(
        "/webhooks/rest/webhook",
        json={"sender": "cust-42", "message": "hello", "metadata": {"customer_id": "c42"}},
    )
    assert response.status == 200
    assert response.json == [{"recipient_id": "cust-42", "text": "echo: hello"}]
    assert seen[0]["metadata"] == {"customer_id": "c42", "channel": "rest"}
    stored = transcript(redis_url, "cust-42")
    assert [(m["author"], m["text"]) for m in stored] == [("customer", "hello"), ("bot", "echo: hello")]


def test_rasa_down_still_stores_the_message_and_apologises(make_app, redis_url: str) -> None:
    app = make_app(down_transport())
    _, response = app.test_client.post(
        "/webhooks/rest/webhook", json={"sender": "cust-43", "message": "help"}
    )
    assert response.status == 200
    assert len(response.json) == 1
    stored = transcript(redis_url, "cust-43")
    assert [(m["author"], m.get("internal", False)) for m in stored] == [
        ("customer", False),
        ("system", False),  # the apology
        ("system", True),  # the handoff note for the agent: reason bot_unavailable
    ]
    assert stored[2]["text"] == "handoff requested: bot_unavailable"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "hi"}, "sender"),
        ({"sender": "", "message": "hi"}, "sender"),
        ({"sender": "a b", "message": "hi"}, "sender"),
        ({"sender": "a", "message": ""}, "message"),
        ({"sender": "a", "message": 5}, "message"),
        ({"sender": "a", "message": "x" * 5000}, "message"),
        ({"sender": "a", "message": "hi", "metadata": []}, "metadata"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(make_app, body: dict, field: str) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.post("/webhooks/rest/webhook", json=body)
    assert response.status == 400
    assert response.json["field"] == field


def test_non_json_body_is_a_400(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.post("/webhooks/rest/webhook", content="not json")
    assert response.status == 400


def test_optional_rest_token_is_enforced(make_app) -> None:
    app = make_app(rasa_stand_in([]), HUB_REST_TOKEN="integration-secret-123")
    _, response = app.test_client.post("/webhooks/rest/webhook", json={"sender": "a", "message": "hi"})
    assert response.status == 401
    _, response = app.test_client.post(
        "/webhooks/rest/webhook",
        json={"sender": "a", "message": "hi"},
        headers={"Authorization": "Bearer integration-secret-123"},
    )
    assert response.status == 200


def test_health_is_503_naming_the_dependency_that_is_down(make_app) -> None:
    app = make_app(down_transport())
    _, response = app.test_client.get("/health")
    assert response.status == 503
    assert response.json == {"status": "degraded", "redis": "up", "rasa": "down", "actions": "down"}


def test_health_is_200_when_everything_is_up(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.get("/health")
    assert response.status == 200
    assert response.json["status"] == "ok"


def test_openapi_document_lists_the_endpoints(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.get("/docs/openapi.json")
    assert response.status == 200
    paths = response.json["paths"]
    assert {"/webhooks/rest/webhook", "/health"} <= set(paths), sorted(paths)
    assert any(p.startswith("/api/handoffs") for p in paths), sorted(paths)
    _, page = app.test_client.get("/docs")
    assert page.status == 200
