"""The same ask about another order, in a few words, right after a status answer."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.follow_up import ActionWelcome, same_ask_again
from actions.handoff import ActionLowConfidence
from tests.unit.fakes import make_tracker


def user(text: str, intent: str = "inform") -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}}


def loop(name: str | None) -> dict[str, Any]:
    return {"event": "active_loop", "name": name}


def follow_up(events: list[dict[str, Any]], text: str, intent: str = "nlu_fallback", named: bool = True):
    tracker = make_tracker(intent=intent, text=text, events=[*events, user(text, intent)])
    if named:
        tracker.latest_message["entities"] = [{"entity": "order_id", "value": "SO-10009125"}]
    return tracker


STATUS_ANSWERED = [
    user("refund status for SO-10009124 pls, postcode CF11 9HA", "refund_status"),
    loop("refund_status_form"),
    loop(None),
    {"event": "bot", "text": "The refund … was issued on Dec 2."},
]


async def test_a_new_order_right_after_a_status_answer_asks_the_same() -> None:
    text = "ok and SO-10009125? postcode BS1 6AY. returned it over a week ago"
    tracker = follow_up(STATUS_ANSWERED, text)
    assert same_ask_again(tracker) == "refund_status_form"
    events = await ActionLowConfidence().run(CollectingDispatcher(), tracker, {})
    assert events == [FollowupAction("refund_status_form")]


def test_only_right_after_the_answer_and_only_with_an_order_number() -> None:
    later = [*STATUS_ANSWERED, user("thanks", "thank"), {"event": "bot", "text": "You're welcome!"}]
    assert same_ask_again(follow_up(later, "and SO-10009125?")) is None
    assert same_ask_again(follow_up(STATUS_ANSWERED, "and the other one?", named=False)) is None
    cancelled = [user("cancel SO-10009117", "cancel_order"), loop("cancel_order_form"), loop(None)]
    assert same_ask_again(follow_up(cancelled, "and SO-10009125?")) is None  # a change is never repeated
    running = follow_up(STATUS_ANSWERED, "and SO-10009125?")
    running.active_loop = {"name": "return_form"}
    assert same_ask_again(running) is None


async def test_thanks_with_another_order_asks_the_same_and_plain_thanks_is_answered() -> None:
    tracker = follow_up(STATUS_ANSWERED, "ok great thanks. and SO-10009125?", intent="thank")
    dispatcher = CollectingDispatcher()
    assert await ActionWelcome().run(dispatcher, tracker, {}) == [FollowupAction("refund_status_form")]
    assert dispatcher.messages == []

    plain = follow_up(STATUS_ANSWERED, "great, thanks!", intent="thank", named=False)
    dispatcher = CollectingDispatcher()
    assert await ActionWelcome().run(dispatcher, plain, {}) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_welcome"]


async def test_a_status_form_that_took_several_turns_counts_too() -> None:
    spread = [
        user("hi, have you processed my refund yet?", "refund_status"),
        loop("refund_status_form"),
        {"event": "bot", "text": "What's your order number?"},
        user("SO-10009123"),
        {"event": "bot", "text": "Please tell me the email address, postcode or phone number."},
        user("EH2 2AN"),
        loop(None),
        {"event": "bot", "text": "The refund … will be issued by Dec 9."},
    ]
    tracker = follow_up(spread, "ok great thanks. and SO-10009125?", intent="thank")
    assert await ActionWelcome().run(CollectingDispatcher(), tracker, {}) == [
        FollowupAction("refund_status_form")
    ]
    later = [*spread, user("cool"), {"event": "bot", "text": "Anything else?"}]
    assert same_ask_again(follow_up(later, "and SO-10009125?")) is None  # not right after the answer
