"""The vertical slice: REST channel → hub → Rasa (hub channel) → action server → reply."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.conftest import Stack, rest_auth, rest_conversation

pytestmark = pytest.mark.e2e

SEED = yaml.safe_load((Path(__file__).resolve().parents[2] / "data/orders/orders.yml").read_text("utf-8"))


def shipped_order(currency: str) -> dict:
    return next(o for o in SEED["orders"] if o["status"] == "shipped" and o["currency"] == currency)


def email_of(order: dict) -> str:
    """The detail an anonymous customer proves the order with."""
    return str(next(c["email"] for c in SEED["customers"] if c["id"] == order["customer"]))


def texts_of(replies: list[dict]) -> str:
    return " ".join(r.get("text", "") for r in replies)


def say(stack: Stack, sender: str, text: str) -> list[dict]:
    response = httpx.post(
        f"{stack.hub_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        headers=rest_auth(stack),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_health_reports_every_dependency_up(stack: Stack) -> None:
    body = httpx.get(f"{stack.hub_url}/health", timeout=5).json()
    assert {k: body[k] for k in ("status", "redis", "rasa", "actions")} == {
        "status": "ok", "redis": "up", "rasa": "up", "actions": "up",
    }  # fmt: skip
    assert body["redis_memory_high"] is False


def test_english_order_status_comes_from_the_custom_action(stack: Stack) -> None:
    order = shipped_order("USD")
    asked = say(stack, "e2e-en-1", f"hi, where is my order {order['id']}?")
    assert order["tracking_number"] not in texts_of(asked)  # nothing before the order is proven
    replies = say(stack, "e2e-en-1", email_of(order))
    assert all(r["recipient_id"] == "e2e-en-1" for r in replies)
    # The tracking number exists only in the order store: the action server produced this reply.
    assert order["tracking_number"] in texts_of(replies)


def test_chinese_order_status_is_answered_in_chinese(stack: Stack) -> None:
    order = shipped_order("CNY")
    say(stack, "e2e-zh-1", f"我的订单{order['id'].removeprefix('SO-')}到哪了")
    texts = texts_of(say(stack, "e2e-zh-1", f"邮箱是{email_of(order)}"))
    assert order["tracking_number"] in texts
    assert "运单号" in texts or any("\u4e00" <= ch <= "\u9fff" for ch in texts)


def test_form_asks_for_the_order_number_then_answers(stack: Stack) -> None:
    order = shipped_order("USD")
    first = say(stack, "e2e-en-2", "track my package please")
    assert "SO-12345678" in " ".join(r.get("text", "") for r in first)  # the example in the question
    say(stack, "e2e-en-2", order["id"])
    third = say(stack, "e2e-en-2", f"it's under {email_of(order)}")
    assert order["tracking_number"] in texts_of(third)


def test_bad_input_gets_a_400_naming_the_field(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.hub_url}/webhooks/rest/webhook", json={"sender": "x"}, headers=rest_auth(stack), timeout=5
    )
    assert response.status_code == 400
    assert response.json()["field"] == "message"


def test_rasa_is_not_reachable_without_tokens(stack: Stack) -> None:
    # The HTTP API needs the auth token.
    assert httpx.get(f"{stack.rasa_url}/status", timeout=5).status_code in (401, 403)
    # The hub channel needs the channel token.
    response = httpx.post(
        f"{stack.rasa_url}/webhooks/hub/webhook", json={"sender": "a", "message": "hi"}, timeout=5
    )
    assert response.status_code == 401
    # Rasa's open REST channel is not enabled.
    response = httpx.post(
        f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": "a", "message": "hi"}, timeout=5
    )
    assert response.status_code == 404


def test_action_server_refuses_calls_without_the_token(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.actions_url}/webhook", json={"next_action": "action_order_status"}, timeout=5
    )
    assert response.status_code == 401
    assert httpx.get(f"{stack.actions_url}/health", timeout=5).status_code == 200


def test_transcript_is_stored_in_redis(stack: Stack) -> None:
    import redis

    say(stack, "e2e-transcript", "hello")
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    entries = client.xrange(f"hub:conv:{rest_conversation('e2e-transcript')}:transcript")
    client.close()
    assert len(entries) >= 2
    assert '"author": "customer"' in entries[0][1]["data"]
