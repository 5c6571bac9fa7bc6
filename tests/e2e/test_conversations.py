"""Routine cases resolved by the assistant, and handoffs, through the running stack (real Rasa)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis

from tests.e2e.conftest import Stack, rest_auth, rest_conversation

pytestmark = pytest.mark.e2e


def replies(stack: Stack, sender: str, text: str, metadata: dict | None = None) -> list[dict[str, Any]]:
    body = {"sender": sender, "message": text, "metadata": metadata or {}}
    response = httpx.post(
        f"{stack.hub_url}/webhooks/rest/webhook", json=body, headers=rest_auth(stack), timeout=30
    )
    assert response.status_code == 200, response.text
    answer: list[dict[str, Any]] = response.json()
    return answer


def say(stack: Stack, sender: str, text: str, metadata: dict | None = None) -> str:
    return "\n".join(r.get("text", "") for r in replies(stack, sender, text, metadata))


def button(answer: list[dict[str, Any]], payload: str) -> str:
    """The payload of a button the assistant offered, as a customer's click sends it."""
    offered = [b["payload"] for r in answer for b in r.get("buttons") or []]
    assert payload in offered, answer
    return payload


def redis_client(stack: Stack) -> redis.Redis:
    return redis.Redis.from_url(stack.redis_url, decode_responses=True)


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_english_return_is_authorised_by_the_assistant(stack: Stack) -> None:
    asked = say(stack, "ret-en", "I want to return something I bought")
    assert "SO-12345678" in asked  # asks for the order number
    say(stack, "ret-en", "SO-10002665")
    reason_question = say(stack, "ret-en", "chloe.n@example.com")  # a single-item order: no item question
    assert not has_chinese(reason_question)
    read_back = say(stack, "ret-en", '/inform{"return_reason":"changed_mind"}')
    assert "RA-" not in read_back and "Please confirm" in read_back
    authorised = say(stack, "ret-en", "yes")
    assert "RA-" in authorised
    assert "$39.00" in authorised  # the item's price, from the order store


def test_chinese_return_is_authorised_in_chinese(stack: Stack) -> None:
    say(stack, "ret-zh", "我想退货")
    say(stack, "ret-zh", "订单号10006912")
    item_question = say(stack, "ret-zh", "手机尾号6004")
    assert has_chinese(item_question)
    say(stack, "ret-zh", '/inform{"item":"JEAN-SLIM-32"}')
    say(stack, "ret-zh", '/inform{"return_reason":"wrong_size"}')
    authorised = say(stack, "ret-zh", "/affirm")
    assert "RA-" in authorised
    assert has_chinese(authorised)


def test_insisting_on_a_return_outside_the_window_reaches_a_person_with_context(stack: Stack) -> None:
    say(stack, "ret-late", "我要退货，订单SO-10004446")
    question = replies(stack, "ret-late", "wangfang@example.cn")  # proven: the single item's reason
    assert has_chinese(question[0]["text"]), question
    refusal = say(stack, "ret-late", button(question, '/inform{"return_reason":"changed_mind"}'))
    assert has_chinese(refusal), refusal
    handed = say(stack, "ret-late", "/affirm")
    assert "正在为您转接" in handed, handed  # not the "could not reach the team" apology
    client = redis_client(stack)
    try:
        assert client.hget(f"hub:conv:{rest_conversation('ret-late')}", "owner") == "queued"
        packet = json.loads(client.get(f"hub:handoff:{rest_conversation('ret-late')}") or "{}")
    finally:
        client.close()
    assert packet["reason"] == "outside_window"
    assert packet["language"] == "zh"
    assert packet["order"]["id"] == "SO-10004446"
    assert [line["author"] for line in packet["transcript"]][:1] == ["customer"]
    # While a person owns the conversation the assistant stays silent; the hub acknowledges the message.
    assert say(stack, "ret-late", "hello? anyone?") == "Your message has been passed to the team."


def test_asking_for_a_person_queues_the_conversation(stack: Stack) -> None:
    reply = say(stack, "human-en", "let me talk to a human please", {"customer_id": "cust-1001"})
    assert reply  # the assistant tells the customer they are being connected
    client = redis_client(stack)
    try:
        packet = json.loads(client.get(f"hub:handoff:{rest_conversation('human-en')}") or "{}")
    finally:
        client.close()
    assert packet["reason"] == "customer_request"
    assert packet["customer_id"] == "cust-1001"
    assert packet["intent_history"][-1]["intent"] == "request_human"
