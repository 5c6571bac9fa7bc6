"""Writing to a conversation outside a live chat: follow-ups reopen a closed conversation, the customer's
one conversation is found (or made) for a proactive message, and the customer's answer tells the assistant
what the message was about, once and only while it is recent."""

from __future__ import annotations

from handoff.bot_client import BotReply
from handoff.conversations import Owner
from handoff.hub import PROACTIVE_CONTEXT_SECONDS
from handoff.transcript import InMemoryTranscriptStore, Message
from tests.unit.fakes import Conversations
from tests.unit.test_hub import Clock, RecordingBot, make_hub


async def test_a_follow_up_reopens_a_closed_conversation_with_its_history() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    hub = make_hub(store, RecordingBot(store, []), conversations)
    await store.append("c1", Message(author="customer", text="my blender broke", channel="web"))
    conversations.fields["c1"] = {"channel": "web"}
    conversations.owners["c1"] = Owner.CLOSED
    sent = await hub.follow_up(
        "c1", Message(author="agent", text="A new one is on its way.", channel="", agent_id="a1")
    )
    assert sent.id and sent.channel == "web"  # the conversation's own channel
    history = await store.read("c1")
    assert [(m.author, m.text, m.internal) for m in history] == [
        ("customer", "my blender broke", False),
        ("system", "reopened as a follow-up", True),
        ("agent", "A new one is on its way.", False),
    ]
    assert conversations.owners["c1"] is Owner.BOT  # the assistant answers what the customer says next


async def test_a_follow_up_to_an_open_conversation_is_just_written() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    hub = make_hub(store, RecordingBot(store, []), conversations)
    conversations.owners["c2"] = Owner.AGENT
    await hub.follow_up("c2", Message(author="agent", text="Any news?", channel="web"))
    assert [m.text for m in await store.read("c2")] == ["Any news?"]
    assert conversations.owners["c2"] is Owner.AGENT


async def test_the_customers_one_conversation_is_found_or_made() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    hub = make_hub(store, RecordingBot(store, []), conversations)
    made = await hub.customer_conversation("cust-1", "zh")
    assert made.startswith("web-")
    assert conversations.fields[made] == {
        "channel": "web",
        "address": made,
        "customer_id": "cust-1",
        "language": "zh",
    }
    assert await hub.customer_conversation("cust-1", "en") == made  # linked: the widget opens the same one
    assert conversations.fields[made]["language"] == "zh"  # an existing conversation keeps what it knows


async def test_the_answer_to_a_proactive_message_carries_its_order_once() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="It is on its way.")])
    clock = Clock()
    hub = make_hub(store, bot, conversations, clock)
    conversations.fields["c3"] = {"channel": "web"}
    told = await hub.proactive_message("c3", "Sorry, SO-1 is late.", "SO-1", "late_shipment", "en")
    assert told.author == "bot" and told.text == "Sorry, SO-1 is late."
    await hub.customer_message("c3", "where is it?", "web")
    assert bot.metadata["proactive"] == {"order_id": "SO-1", "trigger": "late_shipment"}
    await hub.customer_message("c3", "and the other thing", "web")
    assert "proactive" not in bot.metadata


async def test_an_old_proactive_message_is_not_what_the_customer_answers() -> None:
    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="Hello!")])
    clock = Clock()
    hub = make_hub(store, bot, conversations, clock)
    await hub.proactive_message("c4", "Your refund is on its way.", "SO-2", "refund_processed", "en")
    clock.now += PROACTIVE_CONTEXT_SECONDS + 1
    await hub.customer_message("c4", "hi", "web")
    assert "proactive" not in bot.metadata
