"""Form answers as people give them: reasons by meaning, read-backs, corrections, and no endless loops."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.order_forms import (
    confirmation,
    corrects_order_number,
    is_correction,
    read_back_answer,
    read_back_value,
    stuck_events,
)
from actions.order_status import ActionOrderStatus
from actions.orders.model import Order, OrderItem, OrderStatus
from actions.returns.actions import ActionAskConfirmReturn, ActionCheckReturn, ValidateReturnForm
from actions.returns.reasons import ReasonCatalogue, ReasonClassifier
from tests.unit.fakes import FakeAttemptLimiter, FakeOrderStore, make_tracker

TODAY = date(2026, 3, 10)
REASONS_FILE = Path(__file__).resolve().parents[2] / "data" / "policy" / "return_reasons.yml"
JACKET = OrderItem("JKT-B-M", "Rain jacket (blue, M)", "防雨夹克（蓝色，M）", "clothing", 89.0, 1, "unopened")
ORDER = Order(
    "SO-10000001", "cust-1", OrderStatus.DELIVERED, "USD", TODAY - timedelta(days=5), (JACKET,),
    delivered_on=TODAY - timedelta(days=2), payment_method="paypal",
)  # fmt: skip
PROVEN = {"order_id": ORDER.id, "verified_orders": [ORDER.id]}
CATALOGUE = ReasonCatalogue.from_dict(
    {
        "thresholds": {"en": 0.6, "zh": 0.6},
        "cues": {"damaged": {"en": ["broken"]}},
        "categories": {
            "wrong_size": {"en": ["too small"], "zh": ["太小"]},
            "changed_mind": {"en": ["changed my mind"], "zh": ["不想要"]},
            "damaged": {"en": ["arrived broken"], "zh": ["坏了"]},
        },
    }
)


async def embed_by_word(texts: Sequence[str], language: str) -> np.ndarray:
    """A stand-in encoder: one axis per telling word, so similarity is predictable."""
    axes = ["small", "tight", "mind", "want", "broken"]
    rows = [[1.0 if w in t or (w == "small" and "tight" in t) else 0.0 for w in axes] + [0.01] for t in texts]
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def reasons() -> ReasonClassifier:
    return ReasonClassifier(CATALOGUE, embed_by_word)


@pytest.mark.parametrize(
    ("said", "expected"),
    [("yes", "yes"), ("ok do it", "yes"), ("是的", "yes"), ("no", "no"), ("算了", "no"), ("wait", None),
     ("errr... let me think a sec", None), ("呃 我想想啊", None), ("hold on, let me check", None),
     ("wait, not yet", "no"), ("hmm wait, no leave it", "no"), ("ok 退吧", "yes"),
     ("what does the refund cover exactly and how long will it take", None), ("maybe", None), ("yes", "yes"),
     ("嗯对 退吧", "yes"), ("ok的 确认", "yes"), ("好的好的", "yes"), ("no problem", "yes"),
     ("没问题", "yes"), ("嗯 不用了", None), ("好 但是运费谁出", None), ("ok 那运费谁出?", None),
     ("yes, but only the shoes", None), ("yes cancel it pls", "yes"), ("可以吗", None), ("是不是", None),
     ("okinawa", None), ("等等，我再想想……先不退了", "no"), ("稍等", None),
     ("等一下 退款是原路退回吗？多久到账", None), ("对了 退款的话多久能到账啊 我是微信付的", None),
     ("ok when do i get the money", None), ("对了", "yes"), ("好的 就这样", "yes")],
)  # fmt: skip
def test_read_back_answers(said: str, expected: str | None) -> None:
    assert confirmation(said) == expected


async def test_free_text_reasons_map_to_the_policys_categories_and_keep_the_words() -> None:
    form = ValidateReturnForm(FakeOrderStore(ORDER), FakeAttemptLimiter(), reasons(), today=TODAY)

    async def answer(said: str) -> dict:
        tracker = make_tracker({**PROVEN, "requested_slot": "return_reason"}, text=said)
        return await form.validate_return_reason(said, CollectingDispatcher(), tracker, {})

    said = "they're way too tight"
    assert await answer(said) == {"return_reason": "wrong_size", "return_reason_text": said}
    other = await answer("the parcel smelled odd")
    assert other == {"return_reason": "other", "return_reason_text": "the parcel smelled odd"}
    cued = await answer("it came broken, I don't want it")
    assert cued["return_reason"] == "damaged"  # damage outranks "don't want it"
    button = await answer("changed_mind")
    assert button == {"return_reason": "changed_mind"}


async def test_a_reason_tagged_before_the_question_counts_only_when_it_means_a_known_reason() -> None:
    form = ValidateReturnForm(FakeOrderStore(ORDER), FakeAttemptLimiter(), reasons(), today=TODAY)
    said = "I want to return order SO-10000001, it's too small"
    tracker = make_tracker({**PROVEN, "requested_slot": "order_id"}, text=said)
    known = await form.validate_return_reason("too small", CollectingDispatcher(), tracker, {})
    assert known == {"return_reason": "wrong_size", "return_reason_text": "too small"}
    # A stray tag ("return" itself) must not skip the question and decide the policy check alone.
    stray = await form.validate_return_reason("return", CollectingDispatcher(), tracker, {})
    assert stray == {"return_reason": None}
    # Words only just nearest a reason (an item cut from "…我想退一件夹克") are no reason yet; asked, they
    # are.
    near = await form.validate_return_reason("never mind, the small one", CollectingDispatcher(), tracker, {})
    assert near == {"return_reason": None}
    asked = make_tracker({**PROVEN, "requested_slot": "return_reason"}, text="never mind, the small one")
    answered = await form.validate_return_reason(
        "never mind, the small one", CollectingDispatcher(), asked, {}
    )
    assert answered["return_reason"] == "wrong_size"


async def test_an_eligible_return_is_read_back_before_it_is_created() -> None:
    store = FakeOrderStore(ORDER)
    form = ValidateReturnForm(store, FakeAttemptLimiter(), reasons(), today=TODAY)
    slots = ["order_id", "order_check", "item", "return_reason", "confirm_return"]
    tracker = make_tracker({**PROVEN, "item": JACKET.sku, "return_reason": "wrong_size"})
    assert await form.required_slots(slots, CollectingDispatcher(), tracker, {}) == [
        "order_id", "item", "return_reason", "confirm_return",
    ]  # fmt: skip
    dispatcher = CollectingDispatcher()
    await ActionAskConfirmReturn(store).run(dispatcher, tracker, {})
    (question,) = dispatcher.messages
    assert (question["response"], question["amount"], question["reason"]) == (
        "utter_confirm_return", "$89.00", "wrong size",
    )  # fmt: skip
    late = Order(**{**ORDER.__dict__, "delivered_on": TODAY - timedelta(days=40)})
    form = ValidateReturnForm(FakeOrderStore(late), FakeAttemptLimiter(), reasons(), today=TODAY)
    assert "confirm_return" not in await form.required_slots(slots, CollectingDispatcher(), tracker, {})


def test_a_new_order_number_is_a_correction_not_an_answer() -> None:
    entities = [{"entity": "order_id", "value": "SO-10000002"}]
    tracker = make_tracker({"requested_slot": "item"})
    tracker.latest_message["entities"] = entities
    assert is_correction(tracker)
    asking_for_it = make_tracker({"requested_slot": "order_id"})
    asking_for_it.latest_message["entities"] = entities
    assert not is_correction(asking_for_it)
    opening = make_tracker({"requested_slot": None})  # "return the power bank from SO-…": nothing asked yet
    opening.latest_message["entities"] = entities
    assert not is_correction(opening)


async def test_the_item_named_with_the_order_number_in_the_opening_message_is_kept() -> None:
    form = ValidateReturnForm(FakeOrderStore(ORDER), FakeAttemptLimiter(), reasons(), today=TODAY)
    said = f"I'd like to return the rain jacket from {ORDER.id}"
    tracker = make_tracker({**PROVEN, "requested_slot": None, "item": "rain jacket"}, text=said)
    tracker.latest_message["entities"] = [{"entity": "order_id", "value": ORDER.id}]
    assert await form.validate_item("rain jacket", CollectingDispatcher(), tracker, {}) == {
        "item": JACKET.sku
    }


async def test_an_item_entity_that_is_a_fragment_is_read_with_the_whole_answer() -> None:
    black_l = OrderItem(
        "JKT-K-L", "Rain jacket (black, L)", "防雨夹克（黑色，L）", "clothing", 89.0, 1, "unopened"
    )
    black_m = OrderItem(
        "JKT-K-M", "Rain jacket (black, M)", "防雨夹克（黑色，M）", "clothing", 89.0, 1, "unopened"
    )
    order = Order(**{**ORDER.__dict__, "items": (JACKET, black_m, black_l)})
    form = ValidateReturnForm(FakeOrderStore(order), FakeAttemptLimiter(), reasons(), today=TODAY)
    said = "the black one in size L"
    tracker = make_tracker({**PROVEN, "requested_slot": "item"}, text=said)
    assert await form.validate_item("L", CollectingDispatcher(), tracker, {}) == {"item": black_l.sku}


def test_two_unclear_answers_to_one_question_end_the_form() -> None:
    rejected = [SlotSet("item", None)]
    first = stuck_events(make_tracker({"requested_slot": "item"}), rejected)
    assert first == [SlotSet("form_failures", 1)]
    second = stuck_events(make_tracker({"requested_slot": "item", "form_failures": 1}), rejected)
    assert SlotSet("form_stuck", "item") in second and second[-1] == SlotSet("requested_slot", None)
    answered = stuck_events(
        make_tracker({"requested_slot": "item", "form_failures": 1}), [SlotSet("item", "X")]
    )
    assert answered == [SlotSet("form_failures", None)]
    # Nothing extracted at all ("get me a person"): no event, so that the form rejects and a rule answers.
    assert stuck_events(make_tracker({"requested_slot": "item", "form_failures": 1}), []) == []
    # The order check has its own limit (attempts per conversation and address).
    assert stuck_events(make_tracker({"requested_slot": "order_check"}), [SlotSet("order_check", None)]) == []


async def test_a_stuck_form_offers_a_person_with_the_question_it_stuck_on() -> None:
    for action in (
        ActionOrderStatus(FakeOrderStore(ORDER)),
        ActionCheckReturn(FakeOrderStore(ORDER), today=TODAY),
    ):
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, make_tracker({**PROVEN, "form_stuck": "item"}), {})
        assert dispatcher.messages[0]["response"] == "utter_form_stuck"
        assert SlotSet("handoff_reason", "repeated_failure") in events
        assert SlotSet("stuck_on", "item") in events and SlotSet("form_stuck", None) in events
        assert FollowupAction("utter_offer_agent") in events


def test_a_reasons_file_with_an_unknown_cue_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown categories"):
        ReasonCatalogue.from_dict(
            {
                "thresholds": {"en": 0.5},
                "cues": {"lost": {"en": ["x"]}},
                "categories": {"damaged": {"en": ["x"]}},
            }
        )


async def test_the_second_unclear_answer_in_a_row_offers_a_person() -> None:
    from rasa_sdk.events import ActiveLoop, UserUtteranceReverted

    from actions.fallback import ActionDefaultFallback

    def action(name: str) -> dict:
        return {"event": "action", "name": name}

    def said(text: str) -> dict:
        return {"event": "user", "text": text, "parse_data": {}}

    asking = [action("order_status_form"), action("action_listen"), said("uhh i don't have it")]
    once = make_tracker({"requested_slot": "order_id"}, events=asking)
    dispatcher = CollectingDispatcher()
    assert await ActionDefaultFallback().run(dispatcher, once, {}) == [
        UserUtteranceReverted(), SlotSet("language", "en"),
    ]  # fmt: skip
    assert dispatcher.messages[0]["response"] == "utter_default"

    again = [*asking, action("action_default_fallback"), action("order_status_form"), action("action_listen"),
             said("no idea")]  # fmt: skip
    twice = make_tracker({"requested_slot": "order_id"}, events=again)
    twice.active_loop = {"name": "order_status_form"}
    dispatcher = CollectingDispatcher()
    events = await ActionDefaultFallback().run(dispatcher, twice, {})
    assert dispatcher.messages[0]["response"] == "utter_form_stuck"
    assert ActiveLoop(None) in events and SlotSet("stuck_on", "order_id") in events
    assert SlotSet("handoff_reason", "repeated_failure") in events
    assert FollowupAction("utter_offer_agent") in events

    # A fallback long ago, with other work in between, does not count.
    later = [*again, action("action_order_status"), action("action_listen"), said("hmm")]
    dispatcher = CollectingDispatcher()
    events = await ActionDefaultFallback().run(dispatcher, make_tracker({"language": "zh"}, events=later), {})
    assert events == [UserUtteranceReverted(), SlotSet("language", "zh")]  # the revert must not undo it


async def test_no_order_number_ends_the_form_and_offers_a_person_who_knows_what_is_missing() -> None:
    from rasa_sdk.events import ActiveLoop

    from actions.order_forms import ActionNoOrderNumber

    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {"requested_slot": "order_id"}, intent="no_order_number", active_loop="return_form"
    )
    events = await ActionNoOrderNumber().run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_no_order_number"]
    assert ActiveLoop(None) in events and SlotSet("stuck_on", "order_id") in events
    assert not any(e.get("name") == "handoff_reason" for e in events)
    outside = await ActionNoOrderNumber().run(CollectingDispatcher(), make_tracker(), {})
    assert ActiveLoop(None) not in outside


@pytest.mark.parametrize(
    ("said", "language", "expected"),
    [
        ("my fault, I ordered the wrong one", "en", "changed_mind"),  # the customer's mistake
        ("you sent me a navy one, I ordered grey", "en", "wrong_item"),  # the store's
        ("the left earbud has no sound", "en", "damaged"),
        ("I ordered the wrong size", "en", None),  # no cue: left to similarity (wrong_size)
        ("左边耳机没声音", "zh", "damaged"),
        ("买重复了，家里已经有一个了", "zh", "changed_mind"),
        ("收到的是黑色，我买的是白色", "zh", "wrong_item"),
        ("I bought a couple of colours to compare and this one doesn't suit me", "en", "changed_mind"),
        ("买了几个颜色对比一下，这件不适合我", "zh", "changed_mind"),
        ("the face cream is the wrong one, I got some totally different cream", "en", "wrong_item"),
        ("it looks totally different from the photo", "en", None),  # not as described: similarity decides
        ("朋友送了我一本一样的", "zh", "changed_mind"),
        ("my sister gave me the same one for my birthday", "en", "changed_mind"),
    ],
)
def test_the_reason_files_cues_tell_whose_mistake_it_was(said: str, language: str, expected: str) -> None:
    from pathlib import Path

    catalogue = ReasonCatalogue.from_file(
        Path(__file__).resolve().parents[2] / "data" / "policy" / "return_reasons.yml"
    )
    assert catalogue.cue(said, language) == expected


async def test_an_undelivered_order_skips_the_item_and_reason_and_offers_a_cancellation() -> None:
    paid = Order(**{**ORDER.__dict__, "status": OrderStatus.PAID, "delivered_on": None})
    store = FakeOrderStore(paid)
    form = ValidateReturnForm(store, FakeAttemptLimiter(), reasons(), today=TODAY)
    slots = ["order_id", "order_check", "item", "return_reason", "confirm_return"]
    tracker = make_tracker(PROVEN)
    assert await form.required_slots(slots, CollectingDispatcher(), tracker, {}) == ["order_id"]
    dispatcher = CollectingDispatcher()
    events = await ActionCheckReturn(store, today=TODAY).run(dispatcher, tracker, {})
    (answer,) = dispatcher.messages
    assert answer["response"] == "utter_return_not_delivered"
    assert answer["buttons"] == [
        {"title": f"Cancel order {ORDER.id}", "payload": f'/cancel_order{{"order_id":"{ORDER.id}"}}'}
    ]
    assert SlotSet("return_outcome", "not_returnable_yet") in events


async def test_a_request_told_as_a_story_starts_its_form_not_an_apology() -> None:
    from actions.fallback import ActionDefaultFallback

    def told(text: str, ranking: dict[str, float], *entities: str) -> Tracker:
        tracker = make_tracker(text=text)
        tracker.latest_message["intent"] = {"name": "inform", "confidence": max(ranking.values())}
        tracker.latest_message["intent_ranking"] = [{"name": n, "confidence": c} for n, c in ranking.items()]
        tracker.latest_message["entities"] = [{"entity": e, "value": "x"} for e in entities]
        return tracker

    async def run(tracker: Tracker) -> list[Any]:
        dispatcher = CollectingDispatcher()
        events = await ActionDefaultFallback().run(dispatcher, tracker, {})
        assert dispatcher.messages == [] or events[0] == UserUtteranceReverted()
        return events

    problem = told(
        "订单SO-10009207，面霜发错了！！", {"inform": 0.63, "request_return": 0.16}, "return_reason"
    )
    assert await run(problem) == [FollowupAction("return_form")]
    cancel = told(
        "I need to cancel SO-10009117 - ordered it by mistake",
        {"inform": 0.32, "cancel_order": 0.30, "request_return": 0.05},
        "order_id",
        "return_reason",
    )
    assert await run(cancel) == [FollowupAction("cancel_order_form")]
    unasked = told("SO-10009205 the kettle is broken", {"inform": 0.9, "complain": 0.05}, "return_reason")
    assert await run(unasked) == [FollowupAction("return_form")]
    # The order number pulls towards its status; the problem told beside it is the request.
    wrong_book = told(
        "SO-10009211 你们书发错了吧", {"inform": 0.54, "order_status": 0.2}, "order_id", "return_reason"
    )
    assert await run(wrong_book) == [FollowupAction("return_form")]
    status = told("SO-10009211 到哪了", {"inform": 0.54, "order_status": 0.3}, "order_id")
    assert await run(status) == [FollowupAction("order_status_form")]

    # Words of request beside an order number and a detail are heard lower ("take the shoes off …").
    text = "10009218 牛仔裤不要了 T恤跟鞋还要 邮编450008"
    beside = told(text, {"inform": 0.7, "cancel_order": 0.09, "request_return": 0.04})
    beside.latest_message["entities"] = [{"entity": "order_id", "value": "SO-10009218", "start": 0, "end": 8}]
    assert await run(beside) == [FollowupAction("cancel_order_form")]
    beside.latest_message["entities"] = []  # without the order number, 0.09 is not heard
    assert FollowupAction("cancel_order_form") not in await run(beside)

    # A bare answer with nothing else heard, or anything inside a form, is unclear as before.
    bare = told("SO-10009207", {"inform": 0.95, "order_status": 0.12}, "order_id")
    assert FollowupAction("order_status_form") not in await run(bare)
    problem.active_loop = {"name": "cancel_order_form"}
    assert FollowupAction("return_form") not in await run(problem)


@pytest.mark.parametrize(
    ("opening", "expected"),
    [
        ("hi! I'd like to return the blue rain jacket from {order}. keeping the other two", "JKT-B-M"),
        ("{order} 我想退掉黑色L码那件夹克，另外两件留着～", "JKT-K-L"),
        ("return the rain jacket from {order}", None),  # three fit: the form asks which
    ],
)
async def test_an_item_named_before_the_proof_is_read_again_in_its_whole_message(
    opening: str, expected: str | None
) -> None:
    items = tuple(
        OrderItem(sku, f"Rain jacket ({name})", f"防雨夹克（{zh}）", "clothing", 89.0, 1, "unopened")
        for sku, name, zh in (
            ("JKT-B-M", "blue, M", "蓝色，M码"),
            ("JKT-K-M", "black, M", "黑色，M码"),
            ("JKT-K-L", "black, L", "黑色，L码"),
        )
    )
    order = Order(**{**ORDER.__dict__, "items": items})
    form = ValidateReturnForm(FakeOrderStore(order), FakeAttemptLimiter(), reasons(), today=TODAY)
    said = opening.format(order=order.id)
    events = [
        {"event": "user", "text": said, "parse_data": {}},
        {"event": "action", "name": "return_form"},
        {"event": "user", "text": "kate.murphy@example.com", "parse_data": {}},
    ]
    tracker = make_tracker({"item": "rain jacket"}, events=events)
    assert await form.on_verified(order, tracker) == {"item": expected}


async def test_an_opening_message_names_the_item_by_colour_and_size_when_its_entity_fits_several() -> None:
    black_l = OrderItem(
        "JKT-K-L", "Rain jacket (black, L)", "防雨夹克（黑色，L码）", "clothing", 89.0, 1, "new"
    )
    black_m = OrderItem(
        "JKT-K-M", "Rain jacket (black, M)", "防雨夹克（黑色，M码）", "clothing", 89.0, 1, "new"
    )
    order = Order(**{**ORDER.__dict__, "items": (JACKET, black_m, black_l)})
    form = ValidateReturnForm(FakeOrderStore(order), FakeAttemptLimiter(), reasons(), today=TODAY)
    said = f"{order.id} 我想退掉黑色L码那件夹克，另外两件留着～"
    tracker = make_tracker({**PROVEN, "requested_slot": None}, text=said)
    assert await form.validate_item("夹克", CollectingDispatcher(), tracker, {}) == {"item": black_l.sku}


def test_a_plain_answer_to_a_read_back_counts_whatever_topic_the_understanding_saw() -> None:
    asked = {**PROVEN, "requested_slot": "confirm_return"}
    # "嗯对 退吧" read as a refund question: the slot's mapping skipped it, the form takes it.
    yes = make_tracker(asked, intent="request_refund", text="嗯对 退吧")
    assert read_back_answer(yes, "confirm_return") == {"confirm_return": "yes"}
    # A question, a request for a person, or another question asked: not an answer.
    question = make_tracker(asked, intent="ask_policy", text="ok 那运费谁出?")
    assert read_back_answer(question, "confirm_return") == {}
    person = make_tracker(asked, intent="request_human", text="ok get me a person")
    assert read_back_answer(person, "confirm_return") == {}
    other_question = make_tracker({**asked, "requested_slot": "item"}, text="yes")
    assert read_back_answer(other_question, "confirm_return") == {}

    # A hesitation the understanding took for a complaint, unsure and calm: a no. A sure or angry one is not.
    hesitation = make_tracker(asked, intent="complain", text="等等，我再想想……先不退了")
    hesitation.latest_message["intent"]["confidence"] = 0.21
    assert read_back_answer(hesitation, "confirm_return") == {"confirm_return": "no"}
    angry = make_tracker(
        asked, intent="complain", text="等等，我再想想……先不退了", affect={"frustration": "angry"}
    )
    angry.latest_message["intent"]["confidence"] = 0.21
    assert read_back_answer(angry, "confirm_return") == {}
    sure = make_tracker(asked, intent="complain", text="算了 你们太差劲了")
    assert read_back_answer(sure, "confirm_return") == {}


async def test_a_reason_retold_at_the_read_back_keeps_the_one_given() -> None:
    form = ValidateReturnForm(FakeOrderStore(ORDER), FakeAttemptLimiter(), reasons(), today=TODAY)
    said = "the kids played with it for two days and stopped"
    events = [
        {"event": "slot", "name": "return_reason", "value": "changed_mind"},
        {"event": "user", "text": said, "parse_data": {"text": said}},
    ]
    tracker = make_tracker(
        {**PROVEN, "requested_slot": "confirm_return", "return_reason": "other"}, text=said, events=events
    )
    kept = await form.validate_return_reason("stopped", CollectingDispatcher(), tracker, {})
    assert kept == {"return_reason": "changed_mind"}


async def test_a_reason_told_before_the_proof_is_not_asked_again() -> None:
    form = ValidateReturnForm(FakeOrderStore(ORDER), FakeAttemptLimiter(), reasons(), today=TODAY)
    told = f"{ORDER.id} the jacket arrived broken"
    events = [
        {"event": "user", "text": "my old kettle is broken too"},  # before this return: not its reason
        {"event": "active_loop", "name": "return_form"},
        {"event": "active_loop", "name": None},
        {"event": "user", "text": told},
        {"event": "active_loop", "name": "return_form"},
        {"event": "user", "text": "alice@example.com"},
    ]
    tracker = make_tracker({"order_id": ORDER.id}, text="alice@example.com", events=events)
    assert await form.on_verified(ORDER, tracker) == {
        "item": JACKET.sku,
        "return_reason": "damaged",
        "return_reason_text": told,
    }
    # No cue word since the return began: the question is asked (the sentence vectors are for answers).
    events[3] = {"event": "user", "text": f"{ORDER.id} i want to return the jacket"}
    tracker = make_tracker({"order_id": ORDER.id}, text="alice@example.com", events=events)
    assert await form.on_verified(ORDER, tracker) == {"item": JACKET.sku}


async def test_words_that_name_the_item_are_not_a_reason_when_the_item_was_asked() -> None:
    # "small" also reads as a size problem to the sentence vectors; here it names which bag.
    small = OrderItem("BAG-S", "Small tote bag", "小号托特包", "bags", 39.0, 1, "unopened")
    large = OrderItem("BAG-L", "Large tote bag", "大号托特包", "bags", 49.0, 1, "unopened")
    bags = replace(ORDER, items=(small, large))
    form = ValidateReturnForm(FakeOrderStore(bags), FakeAttemptLimiter(), reasons(), today=TODAY)
    tracker = make_tracker({**PROVEN, "requested_slot": "item"}, text="the small tote")
    assert await form.validate_return_reason("small tote", CollectingDispatcher(), tracker, {}) == {
        "return_reason": None
    }
    asked = make_tracker({**PROVEN, "requested_slot": "return_reason"}, text="it is too small")
    told = await form.validate_return_reason("too small", CollectingDispatcher(), asked, {})
    assert told["return_reason"] == "wrong_size"


@pytest.mark.parametrize(
    ("text", "intent", "confidence", "expected"),
    [
        ("hmm", "affirm", 0.48, None),  # heard as a yes, but not said: asked again
        ("呃", "affirm", 0.65, None),
        ("sounds good", "affirm", 0.95, "yes"),  # the understanding is sure
        ("yes", "affirm", 0.5, "yes"),  # the words say it
        ("/affirm", "affirm", 1.0, "yes"),  # the button
    ],
)
def test_a_read_back_changes_nothing_on_a_yes_nobody_said(
    text: str, intent: str, confidence: float, expected: str | None
) -> None:
    tracker = make_tracker({**PROVEN, "requested_slot": "confirm_cancel"}, intent=intent, text=text)
    tracker.latest_message["intent"]["confidence"] = confidence
    assert read_back_value("yes", tracker) == expected
    assert read_back_value("no", tracker) == "no"


@pytest.mark.parametrize(
    ("requested", "value"), [("order_check", "手机"), ("order_check", "jacket"), ("order_id", "手机")]
)
async def test_proof_read_as_an_item_leaves_the_item_to_the_order_check(requested: str, value: str) -> None:
    # "手机尾号4006": whatever the order check fills in the same turn (on_verified) must stand.
    form = ValidateReturnForm(FakeOrderStore(ORDER), FakeAttemptLimiter(), reasons(), today=TODAY)
    tracker = make_tracker({"order_id": ORDER.id, "requested_slot": requested}, text=f"{value}尾号4006")
    assert await form.validate_item(value, CollectingDispatcher(), tracker, {}) == {}


async def test_a_contact_word_given_when_the_item_is_asked_is_read_as_an_answer() -> None:
    form = ValidateReturnForm(FakeOrderStore(ORDER), FakeAttemptLimiter(), reasons(), today=TODAY)
    tracker = make_tracker({**PROVEN, "requested_slot": "item"}, text="手机")
    dispatcher = CollectingDispatcher()
    assert await form.validate_item("手机", dispatcher, tracker, {}) == {"item": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_item_not_in_order"]


async def test_an_item_named_when_the_reason_is_asked_is_not_a_reason() -> None:
    form = ValidateReturnForm(FakeOrderStore(ORDER), FakeAttemptLimiter(), reasons(), today=TODAY)
    tracker = make_tracker({**PROVEN, "requested_slot": "return_reason"}, text="the rain jacket")
    assert await form.validate_return_reason("the rain jacket", CollectingDispatcher(), tracker, {}) == {
        "return_reason": None
    }


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("we don't really need it after all, changed my mind", {"return_reason": "changed_mind"}),
        ("不想要了", {"return_reason": "changed_mind"}),
        ("no, I don't want to return it anymore", {}),  # a no to the return: the form stops
        ("算了 不想要了 不退了", {}),
        ("no", {}),
    ],
)
async def test_a_reason_read_as_a_no_is_a_reason_when_its_words_say_so(said: str, expected: dict) -> None:
    catalogue = ReasonCatalogue.from_file(REASONS_FILE)
    form = ValidateReturnForm(
        FakeOrderStore(ORDER), FakeAttemptLimiter(), ReasonClassifier(catalogue, embed_by_word), today=TODAY
    )
    language = "zh" if any("\u4e00" <= c <= "\u9fff" for c in said) else "en"
    tracker = make_tracker(
        {**PROVEN, "requested_slot": "return_reason", "language": language}, intent="deny", text=said
    )
    extracted = await form.extract_return_reason(CollectingDispatcher(), tracker, {})
    assert {k: v for k, v in extracted.items() if k == "return_reason"} == expected


async def test_an_item_named_to_leave_it_out_is_not_the_one_chosen() -> None:
    shoes = OrderItem("SHOE-RUN-42", "Running shoes", "跑步鞋", "shoes", 89.0, 1, "opened")
    boots = OrderItem("BOOT-LTH-42", "Leather boots", "皮靴", "shoes", 149.0, 1, "used")
    order = Order(**{**ORDER.__dict__, "items": (shoes, boots)})
    form = ValidateReturnForm(FakeOrderStore(order), FakeAttemptLimiter(), reasons(), today=TODAY)
    said = "the running ones, not the boots"
    tracker = make_tracker({**PROVEN, "requested_slot": "item"}, text=said)
    assert await form.validate_item("boots", CollectingDispatcher(), tracker, {}) == {"item": shoes.sku}
    plain = make_tracker({**PROVEN, "requested_slot": "item"}, text="the boots please")
    assert await form.validate_item("boots", CollectingDispatcher(), plain, {}) == {"item": boots.sku}


@pytest.mark.parametrize(
    ("said", "slip"),
    [
        ("不对不对 发错了 是SO-10002254", True),
        ("订单号打错了，应该是 10002254", True),
        ("oops wrong one, its SO-10002254", True),
        ("sorry i meant #10002254", True),
        ("SO-10002254 面霜发错了", False),  # the wrong item came
        ("the wrong item came, its SO-10002254", False),
    ],
)
def test_a_slip_in_the_order_number_is_told_apart_from_a_wrong_item(said: str, slip: bool) -> None:
    assert corrects_order_number(said) is slip


async def test_a_reason_word_that_takes_back_the_order_number_is_not_a_return_reason() -> None:
    form = ValidateReturnForm(FakeOrderStore(ORDER), FakeAttemptLimiter(), reasons(), today=TODAY)
    said = f"不对不对 发错了 是{ORDER.id}"
    tracker = make_tracker({"order_id": ORDER.id, "requested_slot": "order_check"}, text=said)
    assert await form.validate_return_reason("wrong_item", CollectingDispatcher(), tracker, {}) == {
        "return_reason": None
    }
    told = make_tracker(
        {"order_id": ORDER.id, "requested_slot": "order_check"}, text=f"{ORDER.id} 面霜发错了"
    )
    assert await form.validate_return_reason("wrong_item", CollectingDispatcher(), told, {}) == {
        "return_reason": "wrong_item"
    }


@pytest.mark.parametrize(
    ("text", "confidence", "expected"),
    [
        ("errr... let me think a sec", 0.63, None),  # hesitating is no answer: asked again
        ("呃 我想想啊", 0.51, None),
        ("等等，我再想想……先不退了", 0.88, "no"),
        ("ok 退吧", 0.21, "yes"),  # plainly a yes, the understanding unsure of its no
        ("ok 退吧", 0.9, "no"),  # a sure no is not overruled
        ("no", 0.95, "no"),
        ("yes but hold on a sec", 0.8, None),  # a yes with a but is neither: asked again
        ("好 但是运费谁出", 0.7, None),
        ("yes but don't change it yet", 0.8, "no"),  # the but declines: the no stands
        ("等下 我问下我老公他还看不看", 0.8, None),  # 看不看 asks, it does not refuse
        ("等下 先不退了", 0.8, "no"),
    ],
)
def test_a_no_the_understanding_heard_in_words_that_do_not_say_no(
    text: str, confidence: float, expected: str | None
) -> None:
    tracker = make_tracker({**PROVEN, "requested_slot": "confirm_cancel"}, intent="deny", text=text)
    tracker.latest_message["intent"]["confidence"] = confidence
    assert read_back_value("no", tracker) == expected


@pytest.mark.parametrize(
    ("said", "language", "expected"),
    [
        ("口红颜色太显黑了", "zh", "changed_mind"),  # a shade that does not suit: not a wrong item
        ("这个色号显老", "zh", "changed_mind"),
        ("the colour totally washes me out", "en", "changed_mind"),
        ("颜色发错了", "zh", "wrong_item"),
    ],
)
def test_a_shade_that_does_not_suit_is_a_change_of_mind_by_its_cue(
    said: str, language: str, expected: str
) -> None:
    catalogue = ReasonCatalogue.from_file(REASONS_FILE)
    assert ReasonClassifier(catalogue, embed_by_word).cued(said, language) == expected


async def test_an_item_the_opening_message_keeps_is_not_the_one_returned() -> None:
    cream = OrderItem("CRM-HYD-50", "Hydrating face cream", "保湿面霜", "beauty", 39.0, 1, "unopened")
    lipstick = OrderItem("LIP-MATTE-RD", "Matte lipstick", "哑光口红", "beauty", 19.0, 1, "opened")
    order = Order(**{**ORDER.__dict__, "items": (cream, lipstick)})
    form = ValidateReturnForm(FakeOrderStore(order), FakeAttemptLimiter(), reasons(), today=TODAY)
    said = f"{order.id} want to send back the face cream, its still sealed. the lipstick im keeping"
    opening = make_tracker({**PROVEN, "requested_slot": None}, text=said)
    assert await form.validate_item("lipstick", CollectingDispatcher(), opening, {}) == {"item": cream.sku}
    unproven = make_tracker({"order_id": order.id, "item": "lipstick"}, text=said, intent="request_return")
    assert (await form.on_verified(order, unproven))["item"] == cream.sku
