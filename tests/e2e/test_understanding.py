"""Understanding real customers through the running stack: risk reaches a person first, with priority and the
flag on the agent's card; lasting anger is offered a person; other shops' orders get the scope answer;
product recommendations name real catalogue products within the budget."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import yaml

from tests.e2e.conftest import ROOT, Stack, rest_conversation
from tests.e2e.test_conversation_flows import handoff_packet
from tests.e2e.test_order_security import say
from tests.e2e.test_photos import card

pytestmark = pytest.mark.e2e


def conversation_hash(stack: Stack, sender: str) -> dict[str, str]:
    url = f"redis://:{stack.env['REDIS_PASSWORD']}@127.0.0.1:{stack.env['REDIS_PORT']}/0"
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return dict(client.hgetall(f"hub:conv:{rest_conversation(sender)}"))
    finally:
        client.close()


@pytest.mark.parametrize(
    ("sender", "text", "connecting"),
    [
        (
            "risk-en",
            "the kettle I bought from you gave me an electric shock when I switched it on",
            "connecting",
        ),
        ("risk-zh", "你们家的电热水壶漏电，我刚才被电了一下，手到现在还是麻的", "转接"),
    ],
)
def test_an_injury_reaches_the_queue_first_with_the_risk_on_the_card(
    stack: Stack, sender: str, text: str, connecting: str
) -> None:
    reply = say(stack, sender, text)
    assert connecting in reply, reply
    packet = handoff_packet(stack, sender)
    assert packet["reason"] == "injury"
    assert "injury" in packet["affect"]["risk"]
    conversation = conversation_hash(stack, sender)
    assert conversation["owner"] == "queued"
    # Queued as if it had waited two minutes already (handoff/routing.yml, queue.reason_seconds.injury).
    assert float(conversation["queued_at"]) - float(conversation["qscore"]) >= 120
    shown = card(stack, rest_conversation(sender))
    assert shown["packet"]["affect"]["risk"] == ["injury"]


def test_a_risk_in_the_middle_of_a_form_ends_it_and_reaches_a_person(stack: Stack) -> None:
    say(stack, "risk-form", "I want to return the kettle I bought")
    asked = say(stack, "risk-form", "it sparked and started smoking, I got burned on my hand")
    assert "connecting you" in asked, asked  # not the order question again
    packet = handoff_packet(stack, "risk-form")
    assert packet["reason"] == "injury"


@pytest.mark.parametrize(
    ("sender", "first", "second", "offer", "connecting"),
    [
        ("angry-en", "WHERE IS MY ORDER?? I've been waiting for ages!!!",
         "this is ridiculous, where is my parcel?!", "bring in a member of our team", "connecting you"),
        ("angry-zh", "我的快递到底到哪了？？？气死我了！！！", "你们这是什么破物流，我的包裹呢？？？",
         "转接人工", "正在为您转接"),
    ],
)  # fmt: skip
def test_a_customer_angry_for_two_turns_is_offered_a_person(
    stack: Stack, sender: str, first: str, second: str, offer: str, connecting: str
) -> None:
    helped = say(stack, sender, first)
    assert connecting not in helped and offer not in helped, helped  # one angry turn: the assistant helps
    offered = say(stack, sender, second)
    assert offer in offered, offered
    handed = say(stack, sender, "/affirm")
    assert connecting in handed, handed
    packet = handoff_packet(stack, sender)
    assert packet["reason"] == "frustrated" and packet["affect"]["peak_frustration"] == "angry"


@pytest.mark.parametrize(
    ("sender", "text", "scope"),
    [
        ("other-en", "hi, my amazon order still hasn't arrived, can you check where it is?", "another shop"),
        ("other-zh", "我在淘宝上买的东西一直没到，你帮我查一下物流", "其他平台"),
    ],
)
def test_another_shops_order_gets_the_scope_answer(stack: Stack, sender: str, text: str, scope: str) -> None:
    reply = say(stack, sender, text)
    assert scope in reply, reply
    assert "SO-12345678" not in reply and "订单号" not in reply  # never asks for one of our order numbers


def _catalogue() -> list[dict[str, Any]]:
    return list(
        yaml.safe_load((ROOT / "data" / "catalog" / "products.yml").read_text(encoding="utf-8"))["products"]
    )


def test_a_budget_recommendation_names_real_products_within_the_budget(stack: Stack) -> None:
    reply = say(stack, "reco-en", "can you recommend some headphones for running? my budget is under $100")
    named = [p for p in _catalogue() if p["name"]["en"] in reply]
    assert named, reply
    assert all(p["price"]["USD"] <= 100 for p in named), [(p["id"], p["price"]) for p in named]
    reply_zh = say(stack, "reco-zh", "300元以内有什么适合跑步戴的耳机推荐吗")
    named_zh = [p for p in _catalogue() if p["name"]["zh"] in reply_zh]
    assert named_zh and all(p["price"]["CNY"] <= 300 for p in named_zh), reply_zh
