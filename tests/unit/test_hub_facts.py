"""The facts the hub leaves for the analytical store: which events ride along with which transcript writes,
what they carry, and that nothing is left when analytics is off."""

from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from handoff.analytics.feed import AnalyticsFeed
from handoff.bot_client import BotReplies, BotReply
from handoff.hub import AlreadyStored, Hub
from handoff.transcript import InMemoryTranscriptStore
from tests.unit.fakes import Conversations
from tests.unit.test_hub import Clock, RecordingBot


class StubFeed(AnalyticsFeed):
    def __init__(self) -> None:
        self.emitted: list[dict[str, Any]] = []

    async def emit(self, *events: Any) -> None:
        self.emitted.extend(events)


class StubExperiments:
    """The running experiment of one kind (`kind`; None: every kind) and the variant it gives."""

    def __init__(self, answer: Any, kind: str | None = None) -> None:
        self.answer = answer
        self.kind = kind
        self.asked: list[tuple[str, str]] = []

    async def params_for(self, conversation_id: str, kind: str) -> Any:
        self.asked.append((conversation_id, kind))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer if self.kind in (None, kind) else None


class RoutingConversations(Conversations):
    def __init__(self) -> None:
        super().__init__()
        self.packets: list[dict[str, Any]] = []

    async def enqueue(self, conversation_id: str, packet: Any) -> Any:
        self.packets.append(dict(packet))
        return await super().enqueue(conversation_id, packet)


def understood_replies(texts: list[str], understood: dict[str, Any]) -> BotReplies:
    replies = BotReplies(BotReply(text=t) for t in texts)
    replies.understood = understood
    return replies


def hub_with_facts(
    bot_replies: list[BotReply], conversations: Conversations | None = None
) -> tuple[Hub, InMemoryTranscriptStore, RecordingBot]:
    store = InMemoryTranscriptStore()
    bot = RecordingBot(store, bot_replies)
    conversations = conversations or Conversations()
    hub = Hub(store, conversations, bot, conversations, clock=Clock())
    hub.use_analytics(StubFeed())
    return hub, store, bot


async def test_a_customer_turn_leaves_a_message_and_a_bot_turn_fact() -> None:
    understood = {"intent": "order_status", "confidence": 0.91, "affect": {"frustration": "annoyed"}}
    hub, store, _ = hub_with_facts(understood_replies(["Which order?", "Or an email?"], understood))
    await hub.customer_message("c1", "where is my parcel", "widget")
    kinds = [e["type"] for e in store.events]
    assert kinds == ["customer_message", "bot_turn"]
    message, turn = store.events
    assert message == {
        "type": "customer_message", "conversation_id": "c1", "ts": message["ts"], "channel": "widget",
        "language": "en",
    }  # fmt: skip
    assert turn["intent"] == "order_status" and turn["confidence"] == 0.91
    assert turn["affect"] == "annoyed" and turn["fallback"] is False and turn["kb_miss"] is False
    assert "text" not in turn  # understood messages are not copied into the facts
    # both replies were stored in the write that carried the turn's fact
    assert [m.text for m in await store.read("c1")] == ["where is my parcel", "Which order?", "Or an email?"]


async def test_a_fallback_keeps_the_customers_words_masked_and_short() -> None:
    understood = {"intent": "nlu_fallback", "confidence": 0.2}
    hub, store, _ = hub_with_facts(understood_replies(["Sorry?"], understood))
    text = "my card 4111 1111 1111 1111 was charged twice, mail me at ann@example.com " + "x" * 300
    await hub.customer_message("c2", text, "rest")
    turn = store.events[-1]
    assert turn["fallback"] is True
    assert "4111 1111 1111 1111" not in turn["text"] and "ann@example.com" not in turn["text"]
    assert len(turn["text"]) == 200


async def test_a_knowledge_base_answer_names_its_article() -> None:
    understood = {"intent": "ask_shipping", "confidence": 0.8, "kb_article": "shipping-times"}
    hub, store, _ = hub_with_facts(understood_replies(["3-5 days"], understood))
    await hub.customer_message("c3", "how long is shipping", "widget")
    assert store.events[-1]["kb_article"] == "shipping-times"


async def test_a_re_sent_message_leaves_its_fact_once() -> None:
    hub, store, _ = hub_with_facts([BotReply(text="hi")])
    await hub.customer_message("c4", "hello", "widget", client_id="k1")
    with pytest.raises(AlreadyStored):
        await hub.customer_message("c4", "hello", "widget", client_id="k1")
    assert [e["type"] for e in store.events].count("customer_message") == 1


async def test_nothing_is_left_when_analytics_is_off() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, understood_replies(["hi"], {"intent": "greet", "confidence": 0.99}))
    hub = Hub(store, conversations, bot, conversations, clock=Clock())
    await hub.customer_message("c5", "hello", "widget")
    await hub.handoff("c5", {"reason": "customer_request", "language": "en", "channel": "widget"})
    await hub.agent_message("c5", "ann", "Hi, Ann here")
    await hub.resolve("c5", "ann")
    assert store.events == []


async def test_handoff_agent_reply_resolve_survey_and_close_are_facts() -> None:
    conversations = RoutingConversations()
    hub, store, _ = hub_with_facts([BotReply(text="ok")], conversations)
    packet = {
        "reason": "kb_miss", "language": "en", "channel": "widget", "intent": "ask_policy",
        "order": {"id": "A1001", "total": 20},
        "transcript": [{"author": "customer", "text": "can I return a gift, my phone is 13800138000?"}],
    }  # fmt: skip
    await hub.handoff("c6", packet)
    await hub.agent_message("c6", "ann", "Yes you can")
    await hub.resolve("c6", "ann")
    await hub.customer_message("c6", "5", "widget")  # the survey's answer
    await hub.close("c6", "ann")
    kinds = [e["type"] for e in store.events]
    assert kinds == ["handoff", "kb_miss", "agent_message", "resolved", "customer_message", "csat", "closed"]
    handoff, miss, reply, resolved, _, csat, closed = store.events
    assert handoff["reason"] == "kb_miss" and handoff["queue"] == "general" and handoff["order_id"] == "A1001"
    assert handoff["intent"] == "ask_policy" and handoff["experiments"] == {}
    assert miss["text"].startswith("can I return a gift") and "13800138000" not in miss["text"]
    assert reply["agent_id"] == "ann" and resolved["agent_id"] == "ann"
    assert csat == {**csat, "agent_id": "ann", "stars": 5}
    assert closed["actor"] == "ann"


async def test_a_handoff_in_a_routing_experiment_carries_the_variant_and_its_weights() -> None:
    conversations = RoutingConversations()
    hub, store, _ = hub_with_facts([BotReply(text="ok")], conversations)
    weights = {"skill": 0.1, "load": 0.8, "rating": 0.1}
    experiments = StubExperiments(("exp-1", "load_first", weights), "routing_weights")
    hub.use_experiments(experiments)
    await hub.handoff("c7", {"reason": "customer_request", "language": "zh", "channel": "widget"})
    assert experiments.asked == [("c7", "routing_weights")]
    assert conversations.packets[0]["routing_weights"] == weights
    assert conversations.packets[0]["experiments"] == {"exp-1": "load_first"}
    assert store.events[0]["experiments"] == {"exp-1": "load_first"}


async def test_an_unreachable_experiment_store_leaves_the_handoff_out_of_the_experiment() -> None:
    conversations = RoutingConversations()
    hub, store, _ = hub_with_facts([BotReply(text="ok")], conversations)
    hub.use_experiments(StubExperiments(RedisConnectionError("down")))
    status = await hub.handoff("c8", {"reason": "customer_request", "language": "en", "channel": "widget"})
    assert status.owner == "queued"
    assert "routing_weights" not in conversations.packets[0]
    assert store.events[0]["experiments"] == {}


async def test_a_threshold_experiment_reaches_the_assistant_and_its_answers_name_the_variant() -> None:
    understood = {"intent": "ask_shipping", "confidence": 0.8, "kb_article": "shipping-times"}
    hub, store, bot = hub_with_facts(understood_replies(["3-5 days"], understood))
    hub.use_experiments(StubExperiments(("exp-2", "strict", {"threshold": 0.7}), "kb_threshold"))
    await hub.customer_message("c9", "how long is shipping", "widget", {"experiments": {"forged": 1}})
    assert bot.metadata["experiments"] == {
        "kb_threshold": {"id": "exp-2", "variant": "strict", "threshold": 0.7}
    }
    assert store.events[-1]["experiments"] == {"exp-2": "strict"}
    # a turn the knowledge base did not answer is not exposed to the experiment
    bot.replies = understood_replies(["Hi"], {"intent": "greet", "confidence": 0.9})
    await hub.customer_message("c9", "hello", "widget")
    assert store.events[-1]["experiments"] == {}


async def test_a_reply_variant_reaches_the_assistant_and_every_turn_names_it() -> None:
    hub, store, bot = hub_with_facts(understood_replies(["Hi!"], {"intent": "greet", "confidence": 0.9}))
    hub.use_experiments(StubExperiments(("exp-3", "b", {"variant": "shortcuts"}), "reply_variant"))
    await hub.customer_message("c10", "hello", "widget")
    assert bot.metadata["experiments"] == {"reply_variant": {"id": "exp-3", "variant": "shortcuts"}}
    assert store.events[-1]["experiments"] == {"exp-3": "b"}
