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


def handoff_packet(stack: Stack, sender: str) -> dict | None:
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        raw = client.get(f"hub:handoff:{rest_conversation(sender)}")
    finally:
        client.close()
    return None if raw is None else json.loads(raw)


def test_a_question_the_knowledge_base_cannot_answer_goes_to_a_person(stack: Stack) -> None:
    say(stack, "kb-miss", "what's the policy for adopting a puppy from your warehouse")
    packet = handoff_packet(stack, "kb-miss")
    if packet is None:
        pytest.fail("expected a handoff for an unanswerable policy question")
    assert packet["reason"] == "kb_miss"
    assert packet["kb_hits"]  # the articles the assistant tried, with their scores


NEAR_MISS = "can I pay with goats"  # close to the payment-methods article, not close enough to answer


def test_a_near_miss_offers_articles_to_pick_and_answers_the_pick(stack: Stack) -> None:
    replies = say(stack, "kb-near", NEAR_MISS)
    buttons = [b for r in replies for b in r.get("buttons") or []]
    assert handoff_packet(stack, "kb-near") is None
    assert len(buttons) == 3 and "person" in buttons[-1]["title"]
    first = buttons[0]["payload"]
    assert first.startswith('/ask_policy{"kb_article":"en-')
    chosen = json.loads(first[len("/ask_policy") :])["kb_article"]
    answered = say(stack, "kb-near", first)
    assert text_of(answered).strip()
    answer = tracker_slot(stack, "kb-near", "kb_answer")
    assert isinstance(answer, dict) and answer["article_id"] == chosen
    assert handoff_packet(stack, "kb-near") is None


# A story around the question: the message as a whole is far from every article, its question sentence
# is not (kb_index/retriever.py, sentence offers).
STORY_THEN_QUESTION = "孩子下周过生日 他特别喜欢恐龙 我姐说玩具已经够多了 你们发货到新疆要几天"


def test_a_question_inside_a_story_is_offered_its_article_not_sent_to_a_person(stack: Stack) -> None:
    replies = say(stack, "kb-story", STORY_THEN_QUESTION)
    buttons = [b for r in replies for b in r.get("buttons") or []]
    assert handoff_packet(stack, "kb-story") is None
    assert [json.loads(b["payload"][len("/ask_policy") :])["kb_article"] for b in buttons] == [
        "zh-shipping-remote",
        "none",
    ]
    assert buttons[-1]["title"] == "都不是，转人工"


def test_none_of_the_suggested_articles_goes_to_a_person_with_what_was_tried(stack: Stack) -> None:
    replies = say(stack, "kb-none", NEAR_MISS)
    person = [b for r in replies for b in r.get("buttons") or []][-1]
    say(stack, "kb-none", person["payload"])
    packet = handoff_packet(stack, "kb-none")
    assert packet is not None and packet["reason"] == "kb_miss"
    assert [h["article_id"] for h in packet["kb_hits"]][:2] == [
        json.loads(b["payload"][len("/ask_policy") :])["kb_article"]
        for b in [b for r in replies for b in r.get("buttons") or []][:2]
    ]
