"""POST /api/handoffs against a real redis-server; after it the bot never answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from tests.integration.conftest import REST_AUTH, SERVICE, rasa_stand_in, transcript

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {SERVICE}"}


@pytest.fixture(autouse=True, scope="module")
def leave_no_waiting_handoffs(redis_url: str) -> Iterator[None]:
    """The handoffs queued here would keep waiting in database 0 and, once widened after two minutes, be
    offered to other modules' agents; clear them when the module is done."""
    yield
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.flushdb()
    finally:
        client.close()


def packet(conversation_id: str, **overrides: object) -> dict:
    return {"conversation_id": conversation_id, "reason": "customer_request", "language": "en", **overrides}


def test_the_service_token_is_required(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.post("/api/handoffs/", json=packet("h-1"))
    assert response.status == 401
    _, response = app.test_client.post(
        "/api/handoffs/", json=packet("h-1"), headers={"Authorization": "Bearer wrong"}
    )
    assert response.status == 401


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": "bored"}, "reason"),
        ({"language": "fr"}, "language"),
        ({"conversation_id": "has space"}, "conversation_id"),
        ({"kb_hits": "none"}, "kb_hits"),
        ({"slots": [1]}, "slots"),
        ({"customer_id": 42}, "customer_id"),
        ({"identity": "cust-1"}, "identity"),
        ({"identity": {"customer_id": "cust-1", "verified_by": "self"}}, "identity"),
        ({"identity": {"customer_id": 7}}, "identity"),
        ({"affect": "angry"}, "affect"),
        ({"affect": {"risk": ["bored"]}}, "affect"),
        ({"affect": {"risk": [], "frustration": "furious"}}, "affect"),
    ],
)
def test_a_bad_packet_is_a_400_naming_the_field(make_app, overrides: dict, field: str) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.post("/api/handoffs/", json={**packet("h-2"), **overrides}, headers=AUTH)
    assert response.status == 400
    assert response.json["field"] == field


def test_malformed_json_is_a_400(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.post(
        "/api/handoffs/", content="{not json", headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status == 400


def test_after_a_handoff_messages_wait_for_the_agent(make_app, redis_url: str) -> None:
    seen: list[dict] = []
    app = make_app(rasa_stand_in(seen))
    _, first = app.test_client.post(
        "/api/handoffs/", json=packet("rest-h-3", kb_hits=[{"article_id": "a"}]), headers=AUTH
    )
    _, second = app.test_client.post("/api/handoffs/", json=packet("h-4"), headers=AUTH)
    assert first.status == 201 and second.status == 201
    assert second.json["position"] == first.json["position"] + 1

    _, reply = app.test_client.post(
        "/webhooks/rest/webhook", json={"sender": "h-3", "message": "hello?"}, headers=REST_AUTH
    )
    assert reply.status == 200
    assert reply.json == [{"recipient_id": "h-3", "text": "Your message has been passed to the team."}]
    assert seen == []  # the assistant never saw it  # never forwarded to the assistant
    authors = [(m["author"], m["internal"]) for m in transcript(redis_url, "rest-h-3")]
    assert authors == [("system", True), ("system", False), ("customer", False)]  # note, queue notice

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    stored = json.loads(client.get("hub:handoff:rest-h-3") or "{}")
    client.close()
    assert stored["kb_hits"] == [{"article_id": "a"}]
