from rasa_sdk.events import ActiveLoop, ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import (
    ActionHandoff,
    ActionLowConfidence,
    ActionOfferPerson,
    build_packet,
    consecutive_fallbacks,
)
from tests.unit.fakes import FakeHub, FakeOrderStore, make_tracker


def user(text: str, intent: str, confidence: float = 0.9) -> dict:
    parse = {"intent": {"name": intent, "confidence": confidence}, "entities": []}
    return {"event": "user", "text": text, "parse_data": parse, "timestamp": 1.0}


def bot(text: str) -> dict:
    return {"event": "bot", "text": text, "timestamp": 2.0}


async def test_asking_for_a_person_posts_the_full_packet_and_pauses_the_bot() -> None:
    hub = FakeHub()
    events = [user("hi", "greet"), bot("Hello!"), user("let me talk to a human", "request_human", 0.97)]
    tracker = make_tracker(
        {"language": "zh", "order_id": "SO-1"},
        {"channel": "widget", "customer_id": "cust-9", "verified_by": "storefront"},
        intent="request_human",
        events=events,
    )
    dispatcher = CollectingDispatcher()
    result = await ActionHandoff(hub, FakeOrderStore()).run(dispatcher, tracker, {})
    (packet,) = hub.packets
    assert packet["reason"] == "customer_request"
    assert packet["language"] == "zh"
    assert packet["channel"] == "widget"
    assert packet["customer_id"] == "cust-9"
    assert packet["identity"] == {
        "customer_id": "cust-9",
        "verified_by": "storefront",
        "verified_phone": None,
    }
    assert [h["intent"] for h in packet["intent_history"]] == ["greet", "request_human"]
    assert packet["intent_history"][1]["confidence"] == 0.97
    assert [t["author"] for t in packet["transcript"]] == ["customer", "bot", "customer"]
    assert packet["slots"]["order_id"] == "SO-1"
    assert dispatcher.messages[0]["response"] == "utter_handoff_queued"
    assert ConversationPaused() in result


async def test_a_complaint_is_handed_off_with_its_reason() -> None:
    hub = FakeHub()
    tracker = make_tracker(intent="complain")
    await ActionHandoff(hub, FakeOrderStore()).run(CollectingDispatcher(), tracker, {})
    assert hub.packets[0]["reason"] == "complaint"


async def test_the_reason_slot_wins_over_the_intent() -> None:
    hub = FakeHub()
    tracker = make_tracker({"handoff_reason": "outside_window"}, intent="affirm")
    await ActionHandoff(hub, FakeOrderStore()).run(CollectingDispatcher(), tracker, {})
    assert hub.packets[0]["reason"] == "outside_window"


async def test_when_the_hub_is_down_the_customer_is_told_and_the_bot_stays() -> None:
    dispatcher = CollectingDispatcher()
    result = await ActionHandoff(FakeHub(fail=True), FakeOrderStore()).run(dispatcher, make_tracker(), {})
    assert dispatcher.messages[0]["response"] == "utter_handoff_failed"
    assert ConversationPaused() not in result


async def test_first_unclear_turn_asks_to_rephrase_the_second_hands_off() -> None:
    hub = FakeHub()
    action = ActionLowConfidence(ActionHandoff(hub, FakeOrderStore()))
    once = make_tracker(
        intent="nlu_fallback", events=[user("hi", "greet"), user("blorp", "nlu_fallback", 0.2)]
    )
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, once, {})
    assert dispatcher.messages[0]["response"] == "utter_default"
    assert hub.packets == []

    twice = make_tracker(
        intent="nlu_fallback",
        events=[user("blorp", "nlu_fallback", 0.2), bot("?"), user("zzz", "nlu_fallback", 0.1)],
    )
    await action.run(CollectingDispatcher(), twice, {})
    assert hub.packets[0]["reason"] == "low_confidence"


def test_fallback_count_stops_at_the_first_understood_turn() -> None:
    tracker = make_tracker(events=[user("a", "nlu_fallback"), user("b", "greet"), user("c", "nlu_fallback")])
    assert consecutive_fallbacks(tracker) == 1


def test_kb_hits_travel_in_their_own_field() -> None:
    packet = build_packet(make_tracker({"kb_hits": [{"article_id": "x"}]}), "kb_miss", None)
    assert "kb_hits" not in packet["slots"]
    assert packet["kb_hits"] == [{"article_id": "x"}]


async def test_harm_in_the_customers_words_makes_the_reason_precise_and_asks_for_a_photo() -> None:
    hub = FakeHub()
    said = [user("the kettle gave me an electric shock, I want to complain", "complain", 0.8)]
    tracker = make_tracker(intent="complain", events=said)
    dispatcher = CollectingDispatcher()
    await ActionHandoff(hub, FakeOrderStore()).run(dispatcher, tracker, {})
    assert hub.packets[0]["reason"] == "injury"
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_handoff_queued",
        "utter_handoff_send_photo",
    ]

    hub = FakeHub()
    said = [user("收到的杯子碎了，我要投诉", "complain", 0.8)]
    await ActionHandoff(hub, FakeOrderStore()).run(
        CollectingDispatcher(), make_tracker(intent="complain", events=said), {}
    )
    assert hub.packets[0]["reason"] == "damaged_goods"


async def test_a_waiting_customer_is_asked_once_for_the_order_number_if_it_is_unknown() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="request_human", events=[user("a person please", "request_human", 0.9)])
    await ActionHandoff(FakeHub(), FakeOrderStore()).run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_handoff_queued",
        "utter_handoff_send_order_number",
    ]
    # Not when the customer has just said they cannot find it (action_no_order_number).
    dispatcher = CollectingDispatcher()
    said = [user("yes", "affirm", 0.9)]
    tracker = make_tracker({"stuck_on": "order_id"}, "affirm", events=said)
    hub = FakeHub()
    await ActionHandoff(hub, FakeOrderStore()).run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_queued"]
    assert hub.packets[0]["reason"] == "customer_request"


def user_feeling(text: str, intent: str, frustration: str = "calm", risk: list[str] | None = None) -> dict:
    event = user(text, intent)
    event["parse_data"]["affect"] = {"frustration": frustration, "risk": risk or []}
    return event


async def test_a_risk_flag_decides_the_reason_ends_the_form_and_reaches_the_card() -> None:
    hub = FakeHub()
    said = [
        user_feeling("where is my order", "order_status", "annoyed"),
        user_feeling("someone placed orders on my account, I'll dispute it with my bank", "inform", "angry",
                     ["legal", "fraud"]),
    ]  # fmt: skip
    tracker = make_tracker(
        {"handoff_reason": "outside_window"},
        intent="inform",
        events=said,
        affect=said[-1]["parse_data"]["affect"],
        active_loop="return_form",
    )
    events = await ActionHandoff(hub, FakeOrderStore()).run(CollectingDispatcher(), tracker, {})
    packet = hub.packets[0]
    assert packet["reason"] == "fraud"  # the most serious flag, over the slot and the intent
    assert packet["affect"] == {
        "risk": ["fraud", "legal"],
        "frustration": "angry",
        "peak_frustration": "angry",
    }
    assert ActiveLoop(None) in events and SlotSet("requested_slot", None) in events


async def test_a_frustrated_customer_who_accepts_the_offer_is_handed_off_as_frustrated() -> None:
    hub = FakeHub()
    history = [
        user_feeling("this is ridiculous", "complain", "angry"),
        {"event": "action", "name": "action_offer_person", "timestamp": 2.0},
        {"event": "action", "name": "action_listen", "timestamp": 2.1},
        user("/affirm", "affirm"),
    ]
    tracker = make_tracker(intent="affirm", events=history)
    await ActionHandoff(hub, FakeOrderStore()).run(CollectingDispatcher(), tracker, {})
    assert hub.packets[0]["reason"] == "frustrated"
    assert hub.packets[0]["affect"]["peak_frustration"] == "angry"


async def test_offering_a_person_ends_a_form_so_yes_answers_the_offer() -> None:
    dispatcher = CollectingDispatcher()
    in_form = make_tracker(active_loop="return_form")
    events = await ActionOfferPerson().run(dispatcher, in_form, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_offer_person_frustrated"]
    assert ActiveLoop(None) in events
    assert await ActionOfferPerson().run(CollectingDispatcher(), make_tracker(), {}) == []


async def test_the_email_of_a_proven_order_goes_on_the_card_for_tickets_by_email() -> None:
    from datetime import date

    from actions.orders.model import Order, OrderStatus

    order = Order(
        id="SO-12345678", customer_id="cust-9", status=OrderStatus.SHIPPED, currency="USD",
        placed_on=date(2026, 11, 30), email="ann@example.com",
    )  # fmt: skip
    mine = make_tracker(
        {"order_id": "SO-12345678"},
        {"channel": "widget", "customer_id": "cust-9", "verified_by": "storefront"},
        intent="request_human",
    )
    hub = FakeHub()
    await ActionHandoff(hub, FakeOrderStore(order)).run(CollectingDispatcher(), mine, {})
    assert hub.packets[0]["identity"]["email"] == "ann@example.com"
    # Someone else's order, not proven: its address stays off the card.
    theirs = make_tracker(
        {"order_id": "SO-12345678"},
        {"channel": "widget", "customer_id": "cust-1", "verified_by": "storefront"},
        intent="request_human",
    )
    await ActionHandoff(hub, FakeOrderStore(order)).run(CollectingDispatcher(), theirs, {})
    assert "email" not in hub.packets[1]["identity"]
