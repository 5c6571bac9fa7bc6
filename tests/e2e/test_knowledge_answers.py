"""Policy and shipping questions answered from the knowledge base, in the customer's language."""

from __future__ import annotations

import json

import httpx
import pytest
import redis

from tests.e2e.conftest import Stack, rest_auth, rest_conversation

pytestmark = pytest.mark.e2e


def text_of(replies: list[dict]) -> str:
    # Rasa sends each paragraph of an answer as its own message.
    return "\n".join(r.get("text", "") for r in replies)


def say(stack: Stack, sender: str, text: str) -> list[dict]:
    response = httpx.post(
        f"{stack.hub_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        headers=rest_auth(stack),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def tracker_slot(stack: Stack, sender: str, slot: str) -> object:
    response = httpx.get(
        f"{stack.rasa_url}/conversations/{rest_conversation(sender)}/tracker",
        params={"token": stack.env["RASA_AUTH_TOKEN"]},
        timeout=10,
    )
    assert response.status_code == 200
    return response.json()["slots"].get(slot)


def test_english_shipping_question_is_answered_from_its_article(stack: Stack) -> None:
    replies = say(stack, "kb-en", "how much does shipping cost?")
    assert "$5.99" in text_of(replies) and "$14.99" in text_of(replies)  # en-shipping-fees
    answer = tracker_slot(stack, "kb-en", "kb_answer")
    assert isinstance(answer, dict)
    assert answer["article_id"] == "en-shipping-fees"
    assert answer["version"]  # every answer records the index version it came from


def test_chinese_shipping_question_is_answered_in_chinese(stack: Stack) -> None:
    replies = say(stack, "kb-zh", "运费怎么收的，多少钱包邮")
    assert "99" in text_of(replies) and "包邮" in text_of(replies)
    answer = tracker_slot(stack, "kb-zh", "kb_answer")
    assert isinstance(answer, dict) and answer["article_id"].startswith("zh-")


def test_policy_answer_is_followed_by_related_articles(stack: Stack) -> None:
    replies = say(stack, "kb-related", "what warranty do electronics come with")
    assert any(r.get("buttons") for r in replies)


def test_a_question_the_knowledge_base_cannot_answer_goes_to_a_person(stack: Stack) -> None:
    say(stack, "kb-miss", "what is your policy on returning livestock and exotic reptiles")
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        raw = client.get(f"hub:handoff:{rest_conversation('kb-miss')}")
    finally:
        client.close()
    if raw is None:
        pytest.fail("expected a handoff for an unanswerable policy question")
    packet = json.loads(raw)
    assert packet["reason"] == "kb_miss"
    assert packet["kb_hits"]  # the articles the assistant tried, with their scores
