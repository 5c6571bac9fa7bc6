from typing import Any

import pytest

from handoff.bot_client import BotReply, BotUnavailable
from handoff.conversations import Owner
from handoff.hub import AlreadyStored, Hub, parse_rating
from handoff.notices import notice
from handoff.transcript import Events, InMemoryTranscriptStore, Message
from tests.unit.fakes import Conversations


class RecordingBot:
    """Checks that the customer's message is already stored when the bot is asked."""

    def __init__(self, store: InMemoryTranscriptStore, replies: list[BotReply]) -> None:
        self.store = store
        self.replies = replies
        self.seen_before_send: list[str] = []
        self.metadata: dict[str, Any] = {}
        self.texts: list[str] = []  # what the assistant was sent, in order
        self.resumed: tuple[str, str | None] | None = None
        self.resume_replies = [BotReply(text="welcome back")]

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        self.seen_before_send = [m.text for m in await self.store.read(sender)]
        self.metadata = metadata
        self.texts.append(text)
        return self.replies

    async def resume(self, sender: str, intent: str | None) -> list[BotReply]:
        self.resumed = (sender, intent)
        return self.resume_replies if intent else []


class DownBot:
    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        raise BotUnavailable("connection refused")

    async def resume(self, sender: str, intent: str | None) -> list[BotReply]:
        raise BotUnavailable("connection refused")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def make_hub(
    store: InMemoryTranscriptStore,
    bot: Any,
    conversations: Conversations | None = None,
    clock: Clock | None = None,
) -> Hub:
    conversations = conversations or Conversations()
    return Hub(store, conversations, bot, conversations, clock=clock or Clock())


async def test_message_is_stored_before_the_bot_sees_it() -> None:
    store = InMemoryTranscriptStore()
    bot = RecordingBot(store, [BotReply(text="hello", buttons=[{"title": "Yes", "payload": "/affirm"}])])
    metadata = {"customer_id": "cust-1", "verified_by": "rest_token", "client_address": "203.0.113.7"}
    replies = await make_hub(store, bot).customer_message("c1", "hi there", "rest", metadata)
    assert bot.seen_before_send == ["hi there"]
    assert bot.metadata == {**metadata, "channel": "rest"}
    assert [r.text for r in replies] == ["hello"]
    history = await store.read("c1")
    assert [(m.author, m.text) for m in history] == [("customer", "hi there"), ("bot", "hello")]
    assert history[1].buttons == [{"title": "Yes", "payload": "/affirm"}]


async def test_a_re_sent_message_is_stored_and_answered_once() -> None:
    store = InMemoryTranscriptStore()
    bot = RecordingBot(store, [BotReply(text="hello")])
    hub = make_hub(store, bot)
    await hub.customer_message("c9", "hi", "widget", client_id="k1")
    bot.seen_before_send = []
    with pytest.raises(AlreadyStored):
        await hub.customer_message("c9", "hi", "widget", client_id="k1")
    assert bot.seen_before_send == []  # the assistant was not asked again
    assert [(m.author, m.text) for m in await store.read("c9")] == [("customer", "hi"), ("bot", "hello")]


async def test_bot_down_apologises_in_the_customers_language_and_hands_off() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    hub = make_hub(store, DownBot(), conversations)
    replies = await hub.customer_message("c2", "我的快递到哪了", "rest")
    assert [r.text for r in replies] == [notice("bot_unavailable", "zh")]
    history = await store.read("c2")
    authors = [(m.author, m.internal) for m in history]
    assert authors == [("customer", False), ("system", False), ("system", True)]
    assert history[2].text == "handoff requested: bot_unavailable"  # a person is on the way
    assert conversations.queue == ["c2"] and conversations.owners["c2"] is Owner.QUEUED


async def test_history_resumes_after_a_cursor() -> None:
    store = InMemoryTranscriptStore()
    hub = make_hub(store, RecordingBot(store, [BotReply(text="a"), BotReply(text="b")]))
    await hub.customer_message("c3", "one", "rest")
    first = await hub.history("c3")
    later = await hub.history("c3", after=first[1].id)
    assert [m.text for m in later] == ["b"]


async def test_after_a_handoff_the_bot_never_answers() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="bot reply")])
    hub = make_hub(store, bot, conversations)
    queued = await hub.handoff("c4", {"reason": "customer_request", "channel": "rest"})
    assert queued.position == 1
    assert await conversations.owner("c4") is Owner.QUEUED
    replies = await hub.customer_message("c4", "are you there?", "rest")
    assert [r.text for r in replies] == [notice("passed_to_team", "en")]  # the hub's, not the bot's
    assert bot.seen_before_send == []  # never forwarded
    history = await store.read("c4")
    assert [(m.author, m.text) for m in history][-1] == ("customer", "are you there?")


async def test_return_to_bot_resumes_the_assistant_into_the_chosen_flow() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="bot reply")])
    hub = make_hub(store, bot, conversations)
    await hub.handoff("c5", {"reason": "customer_request", "channel": "rest"})
    conversations.owners["c5"] = Owner.AGENT
    replies = await hub.return_to_bot("c5", "ann", "order_status")
    assert bot.resumed == ("c5", "order_status")
    assert [r.text for r in replies] == ["welcome back"]
    assert await conversations.owner("c5") is Owner.BOT
    assert [m.author for m in await store.read("c5")][-1] == "bot"


async def test_a_closed_conversation_goes_back_to_the_assistant_when_the_customer_writes() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="hi again")])
    hub = make_hub(store, bot, conversations)
    conversations.owners["c6"] = Owner.CLOSED
    replies = await hub.customer_message("c6", "one more question", "rest")
    assert bot.resumed == ("c6", None)
    assert [r.text for r in replies] == ["hi again"]
    assert await conversations.owner("c6") is Owner.BOT


async def test_resolving_asks_for_a_rating_that_feeds_the_agents_score() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="bot reply")])
    hub = make_hub(store, bot, conversations)
    conversations.owners["c7"] = Owner.AGENT
    await hub.resolve("c7", "ann")
    question = (await store.read("c7"))[-1]
    assert question.text == notice("survey_question", "en") and len(question.buttons or []) == 5
    replies = await hub.customer_message("c7", "4", "rest")
    assert [r.text for r in replies] == [notice("survey_thanks", "en")]
    assert conversations.ratings == [("ann", 4)] and conversations.surveys == [("c7", "ann", 4)]
    assert bot.seen_before_send == []  # the answer is not sent to the assistant
    await hub.customer_message("c7", "5", "rest")  # asked once: a later "5" goes to the assistant
    assert conversations.ratings == [("ann", 4)]


async def test_another_message_instead_of_a_rating_skips_the_survey() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="sure")])
    hub = make_hub(store, bot, conversations)
    conversations.owners["c8"] = Owner.AGENT
    await hub.resolve("c8", "ann")
    replies = await hub.customer_message("c8", "where is my order?", "rest")
    assert [r.text for r in replies] == ["sure"] and conversations.ratings == []


@pytest.mark.parametrize(
    ("text", "stars"),
    [("5", 5), (" 3 ", 3), ("４", 4), ("4 stars", 4), ("2星", 2), ("5分", 5), ("★★★", 3), ("1/5", 1)],
)
def test_rating_answers(text: str, stars: int) -> None:
    assert parse_rating(text) == stars


@pytest.mark.parametrize("text", ["6", "0", "45", "order 5", "five", "", "★★★★★★"])
def test_not_rating_answers(text: str) -> None:
    assert parse_rating(text) is None


# -- what reaches the assistant ------------------------------------------------------------------------

REASON_BUTTONS = [
    {"title": "Damaged", "payload": '/inform{"return_reason":"damaged"}'},
    {"title": "Changed my mind", "payload": '/inform{"return_reason":"changed_mind"}'},
]


async def test_the_assistant_gets_only_the_metadata_keys_of_its_contract() -> None:
    store = InMemoryTranscriptStore()
    bot = RecordingBot(store, [BotReply(text="ok")])
    given = {
        "verified_phone": "+447700900123",
        "verified_by": "telegram_contact",
        "client_address": "telegram:42",
        "client": {"locale": "en"},
        "channel": "web",  # the hub knows the channel; nobody else sets it
        "telegram_user_id": 42,
        "padding": "x" * 500_000,
    }
    await make_hub(store, bot).customer_message("c10", "hello", "telegram", given)
    assert bot.metadata == {
        "verified_phone": "+447700900123",
        "verified_by": "telegram_contact",
        "client_address": "telegram:42",
        "client": {"locale": "en"},
        "channel": "telegram",
    }


async def test_a_typed_intent_payload_is_understood_as_text_and_stored_as_typed() -> None:
    store = InMemoryTranscriptStore()
    bot = RecordingBot(store, [BotReply(text="which order?")])
    forged = '/order_status{"order_id":"SO-10001021"}'
    await make_hub(store, bot).customer_message("c11", forged, "rest")
    assert bot.texts == ['order_status{"order_id":"SO-10001021"}']
    assert (await store.read("c11"))[0].text == forged


async def test_a_button_the_assistant_offered_is_sent_as_its_payload() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="What's the reason?", buttons=REASON_BUTTONS)])
    hub = make_hub(store, bot, conversations)
    await hub.customer_message("c12", "I want to return my jeans", "web")
    await hub.customer_message("c12", '/inform{"return_reason":"changed_mind"}', "web")
    await hub.customer_message("c12", '/inform{"return_reason":"lost_it"}', "web")  # not a button
    assert bot.texts[1:] == ['/inform{"return_reason":"changed_mind"}', 'inform{"return_reason":"lost_it"}']
    await hub.customer_message("c13", '/inform{"return_reason":"damaged"}', "web")  # offered elsewhere
    assert bot.texts[-1] == 'inform{"return_reason":"damaged"}'


async def test_offered_buttons_expire_after_a_day() -> None:
    store = InMemoryTranscriptStore()
    clock = Clock()
    bot = RecordingBot(
        store, [BotReply(text="Shall I connect you?", buttons=[{"title": "Yes", "payload": "/affirm"}])]
    )
    hub = make_hub(store, bot, clock=clock)
    await hub.customer_message("c14", "this is broken", "web")
    bot.replies = [BotReply(text="ok")]  # later answers offer nothing new
    clock.now += 23 * 3600
    await hub.customer_message("c14", "/affirm", "web")
    clock.now += 2 * 3600
    await hub.customer_message("c14", "/affirm", "web")
    assert bot.texts[1:] == ["/affirm", "affirm"]


async def test_the_buttons_of_a_resumed_flow_are_offered_too() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="ok")])
    bot.resume_replies = [BotReply(text="Which reason?", buttons=REASON_BUTTONS)]
    hub = make_hub(store, bot, conversations)
    await hub.handoff("c15", {"reason": "customer_request", "channel": "web"})
    conversations.owners["c15"] = Owner.AGENT
    await hub.return_to_bot("c15", "ann", "request_return")
    await hub.customer_message("c15", '/inform{"return_reason":"damaged"}', "web")
    assert bot.texts == ['/inform{"return_reason":"damaged"}']


async def test_survey_buttons_are_answers_not_payloads() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="ok")])
    hub = make_hub(store, bot, conversations)
    conversations.owners["c16"] = Owner.AGENT
    await hub.resolve("c16", "ann")
    assert "offered_payloads" not in conversations.fields.get("c16", {})
    await hub.customer_message("c16", "5", "web")
    assert conversations.ratings == [("ann", 5)] and bot.texts == []


class WatchingStore(InMemoryTranscriptStore):
    """Notes, for each bot message, whether its buttons were already recorded when it became visible."""

    def __init__(self, conversations: Conversations) -> None:
        super().__init__()
        self.conversations = conversations
        self.recorded_when_visible: list[bool] = []

    async def append(self, conversation_id: str, message: Message, events: Events = ()) -> str:
        if message.author == "bot" and message.buttons:
            fields = self.conversations.fields.get(conversation_id, {})
            self.recorded_when_visible.append("offered_payloads" in fields)
        return await super().append(conversation_id, message, events)


async def test_buttons_are_recorded_before_the_customer_can_see_them() -> None:
    conversations = Conversations()
    store = WatchingStore(conversations)
    bot = RecordingBot(store, [BotReply(text="Reason?", buttons=REASON_BUTTONS)])
    await make_hub(store, bot, conversations).customer_message("c17", "return please", "web")
    assert store.recorded_when_visible == [True]


async def test_the_studio_inbox_failing_never_fails_the_customers_message() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from handoff.bot_client import BotReplies

    class BrokenInbox:
        def __init__(self) -> None:
            self.captured: list[str] = []

        async def capture_parse(self, conversation_id: str, *args: Any) -> str | None:
            self.captured.append(conversation_id)
            raise RedisConnectionError("Redis is failing over")

    store = InMemoryTranscriptStore()
    replies = BotReplies([BotReply(text="Sorry, I didn't get that.")])
    replies.understood = {"intent": "nlu_fallback", "confidence": 0.1}
    hub = make_hub(store, RecordingBot(store, replies))
    inbox = BrokenInbox()
    hub.use_studio_inbox(inbox)  # type: ignore[arg-type]
    answered = await hub.customer_message("c-studio", "zorblat glorp", "rest")
    assert [r.text for r in answered] == ["Sorry, I didn't get that."]
    assert inbox.captured == ["c-studio"]
    assert [m.author for m in await store.read("c-studio")] == ["customer", "bot"]
