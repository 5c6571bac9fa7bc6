from typing import Any

from handoff.bot_client import BotReply, BotUnavailable
from handoff.conversations import InMemoryConversationStore, Owner
from handoff.hub import Hub
from handoff.notices import notice
from handoff.transcript import InMemoryTranscriptStore


class RecordingBot:
    """Checks that the customer's message is already stored when the bot is asked."""

    def __init__(self, store: InMemoryTranscriptStore, replies: list[BotReply]) -> None:
        self.store = store
        self.replies = replies
        self.seen_before_send: list[str] = []
        self.metadata: dict[str, Any] = {}

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        self.seen_before_send = [m.text for m in await self.store.read(sender)]
        self.metadata = metadata
        return self.replies


class DownBot:
    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        raise BotUnavailable("connection refused")


async def test_message_is_stored_before_the_bot_sees_it() -> None:
    store = InMemoryTranscriptStore()
    bot = RecordingBot(store, [BotReply(text="hello", buttons=[{"title": "Yes", "payload": "/affirm"}])])
    replies = await Hub(store, InMemoryConversationStore(), bot).customer_message(
        "c1", "hi there", "rest", {"customer_id": "cust-1"}
    )
    assert bot.seen_before_send == ["hi there"]
    assert bot.metadata == {"customer_id": "cust-1", "channel": "rest"}
    assert [r.text for r in replies] == ["hello"]
    history = await store.read("c1")
    assert [(m.author, m.text) for m in history] == [("customer", "hi there"), ("bot", "hello")]
    assert history[1].buttons == [{"title": "Yes", "payload": "/affirm"}]


async def test_bot_down_apologises_in_the_customers_language_and_keeps_the_message() -> None:
    store = InMemoryTranscriptStore()
    replies = await Hub(store, InMemoryConversationStore(), DownBot()).customer_message(
        "c2", "我的快递到哪了", "rest"
    )
    assert [r.text for r in replies] == [notice("bot_unavailable", "zh")]
    history = await store.read("c2")
    assert [m.author for m in history] == ["customer", "system"]


async def test_history_resumes_after_a_cursor() -> None:
    store = InMemoryTranscriptStore()
    hub = Hub(
        store, InMemoryConversationStore(), RecordingBot(store, [BotReply(text="a"), BotReply(text="b")])
    )
    await hub.customer_message("c3", "one", "rest")
    first = await hub.history("c3")
    later = await hub.history("c3", after=first[1].id)
    assert [m.text for m in later] == ["b"]


async def test_after_a_handoff_the_bot_never_answers() -> None:
    store = InMemoryTranscriptStore()
    conversations = InMemoryConversationStore()
    bot = RecordingBot(store, [BotReply(text="bot reply")])
    hub = Hub(store, conversations, bot)
    queued = await hub.handoff("c4", {"reason": "customer_request", "channel": "rest"})
    assert queued.position == 1
    assert await conversations.owner("c4") is Owner.QUEUED
    replies = await hub.customer_message("c4", "are you there?", "rest")
    assert replies == []
    assert bot.seen_before_send == []  # never forwarded
    history = await store.read("c4")
    assert [(m.author, m.text) for m in history][-1] == ("customer", "are you there?")
