"""The REST channel against a real redis-server, with Rasa replaced by an HTTP stand-in."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.conftest import REST_AUTH, down_transport, rasa_stand_in, transcript

pytestmark = pytest.mark.integration

WEBHOOK = "/webhooks/rest/webhook"


def unique(prefix: str) -> str:
    """A sender of this run only: the suites share one Redis and its per-minute rate counters."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def forwarded_for(address: str) -> dict[str, str]:
    return {**REST_AUTH, "X-Forwarded-For": address}


def test_message_is_relayed_and_both_sides_are_stored(make_app, redis_url: str) -> None:
    seen: list[dict] = []
    app = make_app(rasa_stand_in(seen))
    sender = unique("cust")
    _, response = app.test_client.post(
        WEBHOOK,
        json={"sender": sender, "message": "hello", "metadata": {"customer_id": "c42", "locale": "en-GB"}},
        headers=REST_AUTH,
    )
    assert response.status == 200
    assert response.json == [{"recipient_id": sender, "text": "echo: hello"}]
    assert seen[0]["sender"] == f"rest-{sender}"
    assert seen[0]["metadata"] == {
        "customer_id": "c42",
        "verified_by": "rest_token",
        "client_address": "127.0.0.1",
        "client": {"locale": "en-GB"},
        "channel": "rest",
    }
    stored = transcript(redis_url, f"rest-{sender}")
    assert [(m["author"], m["text"]) for m in stored] == [("customer", "hello"), ("bot", "echo: hello")]
    assert transcript(redis_url, sender) == []


def test_rasa_down_still_stores_the_message_and_apologises(make_app, redis_url: str) -> None:
    app = make_app(down_transport())
    sender = unique("cust")
    _, response = app.test_client.post(WEBHOOK, json={"sender": sender, "message": "help"}, headers=REST_AUTH)
    assert response.status == 200
    assert len(response.json) == 1
    stored = transcript(redis_url, f"rest-{sender}")
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
        ({"sender": "a" * 124, "message": "hi"}, "sender"),  # rest-<sender> must fit a conversation id
        ({"sender": "a", "message": ""}, "message"),
        ({"sender": "a", "message": 5}, "message"),
        ({"sender": "a", "message": "x" * 5000}, "message"),
        ({"sender": "a", "message": "\u200b\u200b"}, "message"),
        ({"sender": "a", "message": "hi", "metadata": []}, "metadata"),
        ({"sender": "a", "message": "hi", "metadata": {"locale": {"x": 1}}}, "metadata.locale"),
        ({"sender": "a", "message": "hi", "metadata": {"customer_id": "a b"}}, "metadata.customer_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(make_app, body: dict, field: str) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.post(WEBHOOK, json=body, headers=REST_AUTH)
    assert response.status == 400
    assert response.json["field"] == field
    assert response.json["message"]


@pytest.mark.parametrize("content", ["not json", "[1, 2]", "[" * 30_000 + "]" * 30_000])
def test_a_body_that_is_not_a_json_object_is_a_400(make_app, content: str) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.post(WEBHOOK, content=content, headers=REST_AUTH)
    assert response.status == 400
    assert response.json["error"] == "bad_request"


def test_the_token_is_required_by_default(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    body = {"sender": unique("a"), "message": "hi"}
    _, missing = app.test_client.post(WEBHOOK, json=body)
    assert missing.status == 401
    _, wrong = app.test_client.post(
        WEBHOOK, json=body, headers={"Authorization": "Bearer wrong-token-000000"}
    )
    assert wrong.status == 401
    _, right = app.test_client.post(WEBHOOK, json=body, headers=REST_AUTH)
    assert right.status == 200


def test_without_a_token_configured_the_channel_is_closed(make_app) -> None:
    app = make_app(rasa_stand_in([]), HUB_REST_TOKEN="")
    _, response = app.test_client.post(WEBHOOK, json={"sender": "a", "message": "hi"}, headers=REST_AUTH)
    assert response.status == 403
    assert "HUB_REST_TOKEN" in response.json["message"]


def test_an_open_channel_serves_anonymous_callers_who_cannot_name_a_customer(make_app) -> None:
    seen: list[dict] = []
    app = make_app(rasa_stand_in(seen), HUB_REST_OPEN="1")
    sender = unique("open")
    _, anonymous = app.test_client.post(WEBHOOK, json={"sender": sender, "message": "hi"})
    assert anonymous.status == 200
    assert seen[-1]["metadata"] == {"client_address": "127.0.0.1", "channel": "rest"}
    forged = {"sender": sender, "message": "my orders", "metadata": {"customer_id": "cust-1003"}}
    _, refused = app.test_client.post(WEBHOOK, json=forged)
    assert refused.status == 400 and refused.json["field"] == "metadata.customer_id"
    assert len(seen) == 1  # the assistant never heard the forged identity
    _, wrong = app.test_client.post(
        WEBHOOK, json=forged, headers={"Authorization": "Bearer not-the-token-0000"}
    )
    assert wrong.status == 401
    _, trusted = app.test_client.post(WEBHOOK, json=forged, headers=REST_AUTH)
    assert trusted.status == 200
    assert (seen[-1]["metadata"]["customer_id"], seen[-1]["metadata"]["verified_by"]) == (
        "cust-1003",
        "rest_token",
    )


def test_rest_senders_cannot_write_into_widget_or_telegram_conversations(make_app, redis_url: str) -> None:
    app = make_app(rasa_stand_in([]))
    _, session = app.test_client.post("/api/widget/session", json={})
    widget_conversation = session.json["conversation_id"]
    for target in (widget_conversation, "telegram-424242"):
        _, response = app.test_client.post(
            WEBHOOK, json={"sender": target, "message": "I am you now"}, headers=REST_AUTH
        )
        assert response.status == 200 and response.json[0]["recipient_id"] == target
        assert transcript(redis_url, target) == []
        assert transcript(redis_url, f"rest-{target}")[0]["text"] == "I am you now"


def test_later_messages_are_read_from_the_senders_own_conversation(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    sender = unique("poll")
    app.test_client.post(WEBHOOK, json={"sender": sender, "message": "one"}, headers=REST_AUTH)
    _, first = app.test_client.get("/webhooks/rest/messages", params={"sender": sender}, headers=REST_AUTH)
    assert first.status == 200
    assert [(m["recipient_id"], m["author"], m["text"]) for m in first.json] == [(sender, "bot", "echo: one")]
    app.test_client.post(WEBHOOK, json={"sender": sender, "message": "two"}, headers=REST_AUTH)
    params = {"sender": sender, "after": first.json[-1]["id"]}
    _, later = app.test_client.get("/webhooks/rest/messages", params=params, headers=REST_AUTH)
    assert [m["text"] for m in later.json] == ["echo: two"]
    _, anonymous = app.test_client.get("/webhooks/rest/messages", params={"sender": sender})
    assert anonymous.status == 401


@pytest.mark.parametrize(
    "after", ["99999999999999999999999-0", "18446744073709551616-0", "١٧٠٠-0", "abc", "1-"]
)
def test_a_bad_cursor_is_a_400(make_app, after: str) -> None:
    app = make_app(rasa_stand_in([]))
    params = {"sender": "cursor", "after": after}
    _, response = app.test_client.get("/webhooks/rest/messages", params=params, headers=REST_AUTH)
    assert response.status == 400
    assert response.json["field"] == "after"


def test_the_largest_cursor_redis_takes_is_accepted(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    params = {"sender": "cursor", "after": "18446744073709551615-18446744073709551614"}
    _, response = app.test_client.get("/webhooks/rest/messages", params=params, headers=REST_AUTH)
    assert response.status == 200 and response.json == []


def test_many_senders_from_one_address_are_limited(make_app) -> None:
    app = make_app(rasa_stand_in([]), HUB_MESSAGES_PER_MINUTE_PER_ADDRESS="3")
    app.config.PROXIES_COUNT = 1  # behind one proxy: the address comes from X-Forwarded-For
    attacker, neighbour = f"198.51.100.{uuid.uuid4().int % 250}", f"2001:db8::{uuid.uuid4().hex[:4]}"
    statuses = []
    for _ in range(4):
        body = {"sender": unique("rotating"), "message": "hi"}
        _, response = app.test_client.post(WEBHOOK, json=body, headers=forwarded_for(attacker))
        statuses.append(response.status)
    assert statuses == [200, 200, 200, 429]
    assert int(response.headers["retry-after"]) >= 1 and response.json["error"] == "rate_limited"
    body = {"sender": unique("neighbour"), "message": "hi"}
    _, other = app.test_client.post(WEBHOOK, json=body, headers=forwarded_for(neighbour))
    assert other.status == 200


def test_one_sender_is_limited_whatever_its_address(make_app) -> None:
    app = make_app(rasa_stand_in([]), HUB_MESSAGES_PER_MINUTE="2")
    app.config.PROXIES_COUNT = 1
    sender = unique("chatty")
    statuses = []
    for n in range(3):
        _, response = app.test_client.post(
            WEBHOOK, json={"sender": sender, "message": "hi"}, headers=forwarded_for(f"192.0.2.{n + 1}")
        )
        statuses.append(response.status)
    assert statuses == [200, 200, 429]


def test_the_client_address_comes_from_a_proxy_only_when_one_is_configured(make_app) -> None:
    seen: list[dict] = []
    spoofed = forwarded_for("192.0.2.77")
    direct = make_app(rasa_stand_in(seen))
    direct.test_client.post(WEBHOOK, json={"sender": unique("d"), "message": "hi"}, headers=spoofed)
    assert seen[-1]["metadata"]["client_address"] == "127.0.0.1"  # the header is not trusted by default
    proxied = make_app(rasa_stand_in(seen))
    proxied.config.PROXIES_COUNT = 1
    proxied.test_client.post(WEBHOOK, json={"sender": unique("p"), "message": "hi"}, headers=spoofed)
    assert seen[-1]["metadata"]["client_address"] == "192.0.2.77"


def test_a_body_over_the_limit_is_a_json_413(make_app) -> None:
    app = make_app(rasa_stand_in([]), HUB_MAX_BODY_BYTES="32768")
    body = {"sender": "big", "message": "hi", "metadata": {"padding": "x" * 40_000}}
    _, response = app.test_client.post(WEBHOOK, json=body, headers=REST_AUTH)
    assert response.status == 413
    assert response.json == {
        "error": "payload_too_large",
        "message": "the request body is larger than 32768 bytes",
        "limit_bytes": 32768,
    }


def test_health_is_503_naming_the_dependency_that_is_down(make_app) -> None:
    app = make_app(down_transport())
    _, response = app.test_client.get("/health")
    assert response.status == 503
    states = {name: response.json[name] for name in ("status", "redis", "rasa", "actions")}
    assert states == {"status": "degraded", "redis": "up", "rasa": "down", "actions": "down"}
    _assert_memory_flag(response.json)


def test_health_is_200_when_everything_is_up(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.get("/health")
    assert response.status == 200
    assert response.json["status"] == "ok"
    states = {name: response.json[name] for name in ("redis", "rasa", "actions")}
    assert states == {"redis": "up", "rasa": "up", "actions": "up"}
    _assert_memory_flag(response.json)


def _assert_memory_flag(body: dict) -> None:
    """/health also says whether Redis is filling up: a bool, or None when Redis could not be asked."""
    assert set(body) == {"status", "redis", "rasa", "actions", "redis_memory_high", "rasa_processes"}
    assert body["redis_memory_high"] is None or isinstance(body["redis_memory_high"], bool)


def test_openapi_document_lists_the_endpoints(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.get("/docs/openapi.json")
    assert response.status == 200
    paths = response.json["paths"]
    assert {"/webhooks/rest/webhook", "/health"} <= set(paths), sorted(paths)
    assert any(p.startswith("/api/handoffs") for p in paths), sorted(paths)
    _, page = app.test_client.get("/docs")
    assert page.status == 200


def test_openapi_document_describes_the_rest_body_and_its_token(make_app) -> None:
    app = make_app(rasa_stand_in([]))
    _, response = app.test_client.get("/docs/openapi.json")
    document = response.json
    scheme = document["components"]["securitySchemes"]["rest_token"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    post = document["paths"]["/webhooks/rest/webhook"]["post"]
    assert post["security"] == [{"rest_token": []}]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"sender", "message"}
    assert schema["properties"]["sender"]["maxLength"] == 123
    assert set(schema["properties"]["metadata"]["properties"]) == {
        "locale",
        "page_url",
        "user_agent",
        "customer_id",
    }
    assert {"200", "400", "401", "413", "429"} <= set(post["responses"])
    assert document["paths"]["/webhooks/rest/messages"]["get"]["security"] == [{"rest_token": []}]
