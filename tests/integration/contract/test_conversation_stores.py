"""The ConversationStore contract (handoff/conversations.py): the Redis store and the hub tests' fake."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from handoff import keys
from handoff.conversations import ConversationStore, Owner, RedisConversationStore
from tests.unit.fakes import Conversations

Survey = tuple[str, str, int]  # conversation, agent, stars


@dataclass(frozen=True)
class Subject:
    store: ConversationStore
    surveys: Callable[[], Awaitable[list[Survey]]]  # what record_survey kept, oldest first


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.integration), "fake"])
def subject(request: pytest.FixtureRequest, contract_redis: Redis) -> Subject:
    if request.param == "redis":

        async def redis_surveys() -> list[Survey]:
            entries: Any = await contract_redis.xrange(keys.surveys())  # str fields (decode_responses)
            return [(f["conversation_id"], f["agent_id"], int(f["stars"])) for _, f in entries]

        return Subject(RedisConversationStore(contract_redis), redis_surveys)
    fake = Conversations()

    async def fake_surveys() -> list[Survey]:
        return list(fake.surveys)

    return Subject(fake, fake_surveys)


async def test_an_unknown_conversation_belongs_to_the_assistant_and_has_nothing_else(
    subject: Subject,
) -> None:
    store = subject.store
    assert await store.owner("new") is Owner.BOT
    assert await store.info("new") == {}
    assert await store.packet("new") is None


async def test_the_owner_set_last_is_the_owner_and_shows_in_the_info(subject: Subject) -> None:
    store = subject.store
    for owner in Owner:
        await store.set_owner("c1", owner)
        assert await store.owner("c1") is owner
        assert await store.info("c1") == {"owner": owner.value}
    assert await store.owner("c2") is Owner.BOT


async def test_fields_are_merged_and_removed_by_name(subject: Subject) -> None:
    store = subject.store
    await store.set_owner("c1", Owner.AGENT)
    await store.update("c1", {"channel": "web", "address": "c1", "language": "en"})
    await store.update("c1", {"language": "zh", "survey_agent": "ann"})
    assert await store.info("c1") == {
        "owner": "agent", "channel": "web", "address": "c1", "language": "zh", "survey_agent": "ann",
    }  # fmt: skip
    await store.remove("c1", "survey_agent", "never_set")
    await store.remove("nobody", "language")
    assert await store.info("c1") == {"owner": "agent", "channel": "web", "address": "c1", "language": "zh"}
    assert await store.info("nobody") == {}
    assert await store.owner("c1") is Owner.AGENT


async def test_named_fields_are_read_as_info_holds_them_and_absent_ones_as_none(subject: Subject) -> None:
    store = subject.store
    await store.set_owner("c1", Owner.OFFERED)
    await store.update("c1", {"channel": "web", "language": "en"})
    assert await store.read_fields("c1", "owner", "language", "agent") == {
        "owner": "offered",
        "language": "en",
        "agent": None,
    }
    assert await store.read_fields("nobody", "owner") == {"owner": None}


async def test_survey_answers_are_kept_in_order(subject: Subject) -> None:
    await subject.store.record_survey("c1", "ann", 4)
    await subject.store.record_survey("c2", "bo", 1)
    assert await subject.surveys() == [("c1", "ann", 4), ("c2", "bo", 1)]


async def test_an_address_without_a_link_stays_in_its_own_conversation(subject: Subject) -> None:
    assert await subject.store.conversation_for("telegram", "42", "tg-42") == "tg-42"


async def test_a_new_customer_keeps_the_candidate_and_each_identity_finds_it_again(
    subject: Subject,
) -> None:
    store = subject.store
    identities = {"customer": "cust-1001", "email": "alice@example.com", "phone": "+1 415 555 0101"}
    assert await store.link_identities(identities, "web-1") == "web-1"
    for kind, value in identities.items():
        assert await store.link_identities({kind: value}, "other") == "web-1"
    # Emails and customer ids match whatever their case and spaces, phones by their digits.
    assert await store.link_identities({"email": " Alice@Example.COM"}, "other") == "web-1"
    assert await store.link_identities({"phone": "14155550101"}, "other") == "web-1"
    assert await store.link_identities({}, "alone") == "alone"


async def test_the_first_linked_identity_wins_and_other_links_stay(subject: Subject) -> None:
    store = subject.store
    await store.link_identities({"email": "a@example.com"}, "conv-a")
    await store.link_identities({"phone": "13800138001"}, "conv-b")
    both = {"phone": "13800138001", "email": "a@example.com", "customer": "cust-2001"}
    assert await store.link_identities(both, "conv-c") == "conv-b"
    assert await store.link_identities({"email": "a@example.com"}, "x") == "conv-a"  # not moved
    assert await store.link_identities({"customer": "cust-2001"}, "x") == "conv-b"  # newly linked


async def test_a_channel_address_follows_the_latest_link(subject: Subject) -> None:
    store = subject.store
    assert await store.link_identities({"phone": "13800138001"}, "tg-42", "telegram", "42") == "tg-42"
    assert await store.conversation_for("telegram", "42", "tg-42") == "tg-42"
    assert await store.link_identities({"customer": "cust-9"}, "web-9", "telegram", "43") == "web-9"
    assert await store.link_identities({"customer": "cust-9"}, "tg-42", "telegram", "42") == "web-9"
    assert await store.conversation_for("telegram", "42", "tg-42") == "web-9"
    assert await store.conversation_for("telegram", "43", "tg-43") == "web-9"
    assert await store.conversation_for("widget", "42", "w-42") == "w-42"  # addresses are per channel
    await store.link_identities({"customer": "cust-8"}, "web-8", "telegram", None)
    await store.link_identities({"customer": "cust-7"}, "web-7", None, "44")
    assert await store.conversation_for("telegram", "44", "tg-44") == "tg-44"  # both or no link
