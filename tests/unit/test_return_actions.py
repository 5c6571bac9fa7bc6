from datetime import date, timedelta
from pathlib import Path

from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandoff
from actions.orders.model import Order, OrderItem, OrderStatus
from actions.returns.actions import ActionAskItem, ActionCheckReturn, ValidateReturnForm, match_item
from actions.returns.policy import ReturnPolicy
from tests.unit.fakes import FakeHub, FakeOrderStore, make_tracker

POLICY = ReturnPolicy.from_file(Path(__file__).resolve().parents[2] / "data" / "policy" / "returns.yml")
TODAY = date(2026, 6, 30)
JACKET = OrderItem("JKT-RAIN-M", "Blue rain jacket", "蓝色防雨夹克", "clothing", 89.0, 1, "unopened")
TEA = OrderItem("TEA-GREEN-250", "Green tea 250 g", "西湖龙井 250克", "food", 24.0, 1, "unopened")


def delivered(days_ago: int, *items: OrderItem, customer: str = "cust-1") -> Order:
    return Order(
        id="SO-10000001",
        customer_id=customer,
        status=OrderStatus.DELIVERED,
        currency="USD",
        placed_on=TODAY - timedelta(days=days_ago + 3),
        delivered_on=TODAY - timedelta(days=days_ago),
        items=items,
        carrier="UPS",
        payment_method="paypal",
    )


async def check(order: Order, reason: str, language: str = "en", hub: FakeHub | None = None, confirm="yes"):
    store = FakeOrderStore(order)
    hub = hub or FakeHub()
    action = ActionCheckReturn(store, POLICY, ActionHandoff(hub, store), today=TODAY)
    dispatcher = CollectingDispatcher()
    slots = {"order_id": order.id, "item": order.items[0].sku, "return_reason": reason, "language": language}
    proven = {**slots, "verified_orders": [order.id], "confirm_return": confirm}
    events = await action.run(dispatcher, make_tracker(proven), {})
    return dispatcher.messages, events, store, hub


async def test_eligible_return_gets_an_authorisation_and_the_refund_timeline() -> None:
    messages, events, store, _ = await check(delivered(3, JACKET), "wrong_size")
    (message,) = messages
    assert message["response"] == "utter_return_authorised"
    assert message["return_number"] == store.returns[0].number
    assert message["amount"] == "$89.00"
    assert message["arrival_days"] == "1-3"  # PayPal
    assert message["days_left"] == 27
    assert SlotSet("return_outcome", "authorised") in events
    assert SlotSet("item", None) in events


async def test_outside_the_window_explains_and_prepares_the_offer_of_a_person() -> None:
    messages, events, store, hub = await check(delivered(31, JACKET), "changed_mind", language="zh")
    assert messages[0]["response"] == "utter_return_outside_window"
    assert messages[0]["item"] == "蓝色防雨夹克"
    assert messages[0]["window_days"] == 30
    assert SlotSet("return_outcome", "offer_agent") in events
    assert SlotSet("handoff_reason", "outside_window") in events
    assert store.returns == [] and hub.packets == []


async def test_non_returnable_item() -> None:
    messages, events, _, _ = await check(delivered(1, TEA), "changed_mind")
    assert messages[0]["response"] == "utter_return_non_returnable"
    assert SlotSet("handoff_reason", "policy_exception") in events


async def test_damaged_item_is_handed_to_a_person_by_the_next_rule() -> None:
    messages, events, _, _ = await check(delivered(2, JACKET), "damaged")
    assert messages[0]["response"] == "utter_return_needs_agent"
    assert SlotSet("return_outcome", "needs_agent") in events
    assert SlotSet("handoff_reason", "damaged_goods") in events


async def test_unknown_order_reads_as_not_found() -> None:
    store = FakeOrderStore()
    dispatcher = CollectingDispatcher()
    slots = {"order_id": "SO-99999999", "item": "X", "return_reason": "changed_mind"}
    events = await ActionCheckReturn(store, POLICY, today=TODAY).run(dispatcher, make_tracker(slots), {})
    assert dispatcher.messages[0]["response"] == "utter_order_not_found"
    assert SlotSet("order_id", None) in events


async def test_someone_elses_order_cannot_be_returned() -> None:
    order = delivered(2, JACKET, customer="cust-2")
    store = FakeOrderStore(order)
    dispatcher = CollectingDispatcher()
    slots = {"order_id": order.id, "item": JACKET.sku, "return_reason": "changed_mind"}
    tracker = make_tracker(slots, metadata={"customer_id": "cust-1", "verified_by": "storefront"})
    await ActionCheckReturn(store, POLICY, today=TODAY).run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["response"] == "utter_order_not_found"
    assert store.returns == []


async def test_a_failing_backend_hands_off() -> None:
    class BrokenStore(FakeOrderStore):
        async def get(self, order_id: str) -> Order | None:
            raise OSError("database is locked")

    hub = FakeHub()
    dispatcher = CollectingDispatcher()
    action = ActionCheckReturn(BrokenStore(), POLICY, ActionHandoff(hub, FakeOrderStore()), today=TODAY)
    slots = {"order_id": "SO-10000001", "item": "X", "return_reason": "changed_mind"}
    events = await action.run(dispatcher, make_tracker(slots), {})
    assert hub.packets[0]["reason"] == "backend_error"
    assert ConversationPaused() in events


def test_items_match_by_sku_or_either_language_name() -> None:
    order = delivered(1, JACKET, TEA)
    assert match_item(order, "jkt-rain-m") is JACKET
    assert match_item(order, "the rain jacket") is JACKET
    assert match_item(order, "龙井") is TEA
    assert match_item(order, "headphones") is None


async def test_single_item_orders_fill_the_item_without_asking() -> None:
    order = delivered(1, JACKET)
    form = ValidateReturnForm(FakeOrderStore(order))
    owner = {"customer_id": order.customer_id, "verified_by": "storefront"}
    result = await form.validate_order_id(
        "so 10000001", CollectingDispatcher(), make_tracker(metadata=owner), {}
    )
    assert result == {"order_id": "SO-10000001", "item": "JKT-RAIN-M"}


async def test_an_item_not_in_the_order_is_refused() -> None:
    order = delivered(1, JACKET, TEA)
    form = ValidateReturnForm(FakeOrderStore(order))
    dispatcher = CollectingDispatcher()
    slots = {"order_id": order.id, "verified_orders": [order.id], "requested_slot": "item"}
    result = await form.validate_item("headphones", dispatcher, make_tracker(slots), {})
    assert result == {"item": None}
    assert dispatcher.messages[0]["response"] == "utter_item_not_in_order"


async def test_items_are_offered_as_buttons_in_the_customers_language() -> None:
    order = delivered(1, JACKET, TEA)
    dispatcher = CollectingDispatcher()
    await ActionAskItem(FakeOrderStore(order)).run(
        dispatcher, make_tracker({"order_id": order.id, "language": "zh", "verified_orders": [order.id]}), {}
    )
    buttons = dispatcher.messages[0]["buttons"]
    assert [b["title"] for b in buttons] == ["蓝色防雨夹克", "西湖龙井 250克"]
    assert buttons[0]["payload"] == '/inform{"item":"JKT-RAIN-M"}'


async def test_a_return_the_customer_does_not_confirm_is_not_created() -> None:
    messages, events, store, _ = await check(delivered(3, JACKET), "wrong_size", confirm="no")
    assert messages[0]["response"] == "utter_change_not_made"
    assert store.returns == []
    assert SlotSet("return_outcome", "declined") in events


async def test_a_refusal_keeps_the_policy_decision_for_the_agent() -> None:
    _, events, _, _ = await check(delivered(31, JACKET), "changed_mind")
    (decision,) = [e for e in events if e.get("name") == "policy_decision"]
    assert decision["value"]["outcome"] == "outside_window"
    assert decision["value"]["window_days"] == 30 and decision["value"]["days_left"] < 0


async def test_an_item_like_word_in_another_answer_keeps_the_item() -> None:
    order = delivered(1, JACKET, TEA)
    form = ValidateReturnForm(FakeOrderStore(order))
    slot_set = {"event": "slot", "name": "item", "value": JACKET.sku}
    said = {"event": "user", "text": "it leaks", "parse_data": {}}
    tracker = make_tracker(
        {"order_id": order.id, "verified_orders": [order.id], "requested_slot": "return_reason"},
        events=[slot_set, said],
    )
    dispatcher = CollectingDispatcher()
    assert await form.validate_item("leaks", dispatcher, tracker, {}) == {"item": JACKET.sku}
    assert dispatcher.messages == []


def returned(received_days_ago: int | None, refunded: bool = False) -> Order:
    from dataclasses import replace

    received = TODAY - timedelta(days=received_days_ago) if received_days_ago is not None else None
    return replace(
        delivered(20, JACKET),
        status=OrderStatus.RETURNED,
        return_number="RA-100001",
        return_received_on=received,
        refund_issued_on=TODAY - timedelta(days=1) if refunded else None,
    )


async def test_a_return_of_a_returned_order_answers_where_the_refund_is() -> None:
    messages, events, store, hub = await check(returned(received_days_ago=1), "")
    assert [m["response"] for m in messages] == ["utter_return_already_returned", "utter_refund_processing"]
    assert messages[0]["return_number"] == "RA-100001"
    assert SlotSet("return_outcome", "not_returnable_yet") in events
    assert store.returns == [] and hub.packets == []
    messages, _, _, _ = await check(returned(received_days_ago=None), "")
    assert messages[1]["response"] == "utter_refund_awaiting_return"
    messages, _, _, _ = await check(returned(received_days_ago=20, refunded=True), "")
    assert messages[1]["response"] == "utter_refund_issued"


async def test_an_overdue_refund_asked_as_a_return_goes_to_a_person() -> None:
    messages, events, _, _ = await check(returned(received_days_ago=30), "", language="zh")
    assert messages[1]["response"] == "utter_refund_overdue"
    assert SlotSet("return_outcome", "needs_agent") in events  # the next rule runs action_handoff
    assert SlotSet("handoff_reason", "refund_overdue") in events
