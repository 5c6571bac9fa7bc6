"""Proving an order before the assistant reads or changes it: rules, forms, read-backs and the audit trail."""

from datetime import date

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.order_changes import (
    ActionAskConfirmAddress,
    ActionAskConfirmCancel,
    ActionCancelOrder,
    ActionChangeAddress,
)
from actions.order_forms import (
    ActionAskOrderCheck,
    ValidateCancelOrderForm,
    ValidateChangeAddressForm,
    ValidateOrderStatusForm,
)
from actions.order_status import ActionOrderStatus
from actions.orders.addresses import extract_address
from actions.orders.model import Order, OrderItem, OrderStatus
from actions.orders.verification import channel_identity, detail_matches, offers_detail, postcode_of
from tests.unit.fakes import FakeAttemptLimiter, FakeOrderStore, make_tracker

ITEMS = (
    OrderItem("SHOE-RUN-42", "Running shoes", "跑步鞋", "shoes", 119.0, 1, "new"),
    OrderItem("PAN-NS-28", "Non-stick pan", "不粘锅", "home", 35.0, 2, "new"),
)
ORDER = Order(
    id="SO-10001021",
    customer_id="cust-1001",
    status=OrderStatus.PAID,
    currency="USD",
    placed_on=date(2026, 3, 1),
    items=ITEMS,
    shipping_address="100 Market St, San Francisco, CA 94105",
    email="Alice.Carter@example.com",
    phone="+1 415 555 0101",
    postcode="94105",
)
OTHER = Order(
    id="SO-10001158", customer_id="cust-2002", status=OrderStatus.PAID, currency="CNY",
    placed_on=date(2026, 3, 1), items=ITEMS, email="liming@example.cn", phone="13900139002",
)  # fmt: skip
FORM = ["order_id", "order_check", "confirm_cancel"]


@pytest.mark.parametrize(
    "answer",
    [
        "alice.carter@EXAMPLE.com",
        "my email is alice.carter@example.com thanks",
        "94105",
        "the postcode is 94105",
        "415-555-0101",
        "+1 (415) 555 0101",
        "尾号0101",
        "SO-10001021, 0101",
        "SO-10001021尾号0101",
        "订单SO-10001021手机尾号0101",
    ],
)
def test_the_owners_details_prove_the_order(answer: str) -> None:
    assert detail_matches(ORDER, answer)


@pytest.mark.parametrize(
    "answer",
    [
        "bob@example.com",
        "94106",
        "415-555-0199",
        "0102",
        "10001021",
        "SO-10001021",
        "",
        "alice.carter",
        "example.com",
    ],
)
def test_other_details_do_not(answer: str) -> None:
    assert not detail_matches(ORDER, answer)


@pytest.mark.parametrize("answer", ["订单号10001021", "我的单SO-10001021查一下", "#10001021"])
def test_the_order_number_flush_against_chinese_is_not_taken_for_the_phone(answer: str) -> None:
    # The phone ends in the order number's digits: only the number itself was given.
    same_tail = Order(
        id="SO-10001021", customer_id="c", status=OrderStatus.PAID, currency="CNY",
        placed_on=date(2026, 1, 1), phone="13910001021",
    )  # fmt: skip
    assert not detail_matches(same_tail, answer)


def test_an_order_without_a_detail_is_never_proven_by_an_empty_answer() -> None:
    bare = Order(
        id="SO-1", customer_id="c", status=OrderStatus.PAID, currency="USD", placed_on=date(2026, 1, 1)
    )
    assert not detail_matches(bare, "") and not detail_matches(bare, "0000")


def test_postcodes_come_out_of_addresses() -> None:
    assert postcode_of("100 Market St, San Francisco, CA 94105") == "94105"
    assert postcode_of("12 Baker Street, London NW1 6XE") == "NW16XE"
    assert postcode_of("上海市浦东新区世纪大道100号 200120") == "200120"
    assert postcode_of("上海市浦东新区世纪大道100号") == ""


def test_only_identities_the_hub_vouched_for_count() -> None:
    assert channel_identity({"customer_id": "cust-1"}) == (None, None, None)
    assert channel_identity({"customer_id": "cust-1", "verified_by": "me"}) == (None, None, None)
    assert channel_identity({"customer_id": "cust-1", "verified_by": "storefront"}) == (
        "cust-1",
        None,
        "storefront",
    )


@pytest.mark.parametrize(
    ("sentence", "address"),
    [
        ("the new address is 200 Pine St, Seattle, WA 98101", "200 Pine St, Seattle, WA 98101"),
        ("Please change it to 12 Baker Street, London NW1 6XE, thanks", "12 Baker Street, London NW1 6XE"),
        ("改成北京市朝阳区建国路88号，收件人不变", "北京市朝阳区建国路88号"),
        ("新地址：上海市静安区南京西路1000号", "上海市静安区南京西路1000号"),
        ("200 Pine St, Seattle, WA 98101", "200 Pine St, Seattle, WA 98101"),
        (
            "So the new address is Flat 4, 27 Oxford Road, Manchester M1 5QA. Oh and it is still my name",
            "Flat 4, 27 Oxford Road, Manchester M1 5QA",
        ),
        (
            "我搬家了，麻烦改成杭州市西湖区文三路259号3单元502室，收件人电话都不变哈，谢谢",
            "杭州市西湖区文三路259号3单元502室",
        ),
        ("100 Grand Ave. St. Louis MO 63101", "100 Grand Ave. St. Louis MO 63101"),
    ],
)
def test_addresses_lose_their_lead_ins(sentence: str, address: str) -> None:
    assert extract_address(sentence) == address


def form(store: FakeOrderStore, limiter: FakeAttemptLimiter | None = None) -> ValidateCancelOrderForm:
    return ValidateCancelOrderForm(store, limiter or FakeAttemptLimiter())


async def test_an_anonymous_customer_is_asked_for_a_detail_and_told_nothing_yet() -> None:
    store = FakeOrderStore(ORDER)
    for number in ("SO-10001021", "SO-99999999"):  # known and unknown look the same
        dispatcher = CollectingDispatcher()
        result = await form(store).validate_order_id(number, dispatcher, make_tracker(), {})
        assert result == {"order_id": number, "order_check": None}
        assert dispatcher.messages == []
    tracker = make_tracker({"order_id": "SO-10001021"})
    assert await form(store).required_slots(FORM, CollectingDispatcher(), tracker, {}) == FORM


async def test_a_signed_in_owner_skips_the_check_and_others_do_not() -> None:
    store = FakeOrderStore(ORDER)
    owner = make_tracker(
        {"order_id": "SO-10001021"}, {"customer_id": "cust-1001", "verified_by": "storefront"}
    )
    assert await form(store).required_slots(FORM, CollectingDispatcher(), owner, {}) == [
        "order_id",
        "confirm_cancel",
    ]
    other = make_tracker({"order_id": "SO-10001021"}, {"customer_id": "cust-9", "verified_by": "storefront"})
    assert "order_check" in await form(store).required_slots(FORM, CollectingDispatcher(), other, {})


async def test_a_telegram_verified_phone_proves_the_orders_with_that_phone() -> None:
    store = FakeOrderStore(ORDER)
    meta = {"verified_by": "telegram_contact", "verified_phone": "+14155550101", "channel": "telegram"}
    tracker = make_tracker({"order_id": "SO-10001021"}, meta)
    assert "order_check" not in await form(store).required_slots(FORM, CollectingDispatcher(), tracker, {})
    meta_other = {**meta, "verified_phone": "+14155550199"}
    tracker = make_tracker({"order_id": "SO-10001021"}, meta_other)
    assert "order_check" in await form(store).required_slots(FORM, CollectingDispatcher(), tracker, {})


async def test_the_right_detail_proves_the_order_and_is_audited() -> None:
    store = FakeOrderStore(ORDER)
    tracker = make_tracker({"order_id": "SO-10001021"}, {"channel": "web", "client_address": "203.0.113.9"})
    result = await form(store).validate_order_check("94105", CollectingDispatcher(), tracker, {})
    assert result == {"order_check": "passed", "verified_orders": ["SO-10001021"]}
    assert [e.event for e in store.audit] == ["check_passed"]
    proven = make_tracker({"order_id": "SO-10001021", **result})
    assert await form(store).required_slots(FORM, CollectingDispatcher(), proven, {}) == [
        "order_id",
        "confirm_cancel",
    ]


async def test_a_wrong_number_and_a_wrong_detail_get_the_same_answer() -> None:
    store = FakeOrderStore(ORDER, OTHER)
    answers = []
    for number, detail in (("SO-10001021", "94999"), ("SO-99999999", "94105"), ("SO-10001158", "94105")):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker({"order_id": number})
        result = await form(store).validate_order_check(detail, dispatcher, tracker, {})
        answers.append((result, dispatcher.messages))
    assert all(answer == answers[0] for answer in answers)
    assert answers[0][0] == {"order_check": None, "order_id": None}
    assert [m["response"] for m in answers[0][1]] == ["utter_order_check_failed"]
    assert [e.event for e in store.audit] == ["check_failed"] * 3


async def test_three_wrong_answers_lock_the_conversation_even_for_the_right_detail() -> None:
    store = FakeOrderStore(ORDER)
    limiter = FakeAttemptLimiter(limit=3)
    tracker = make_tracker({"order_id": "SO-10001021"}, {"client_address": "203.0.113.9"})
    results = [
        await form(store, limiter).validate_order_check(guess, CollectingDispatcher(), tracker, {})
        for guess in ("1", "2", "3", "94105")
    ]
    assert results[2] == {"order_check": "locked"}
    assert results[3] == {"order_check": "locked"}
    locked = make_tracker({"order_id": "SO-10001021", "order_check": "locked"})
    assert await form(store, limiter).required_slots(FORM, CollectingDispatcher(), locked, {}) == []
    # The same client address is locked in a new conversation too.
    assert await limiter.locked("another-conversation", "203.0.113.9")
    dispatcher = CollectingDispatcher()
    events = await ActionOrderStatus(store).run(dispatcher, locked, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_order_check_locked"]
    assert SlotSet("order_id", None) in events


async def test_nothing_is_read_or_changed_without_proof() -> None:
    store = FakeOrderStore(ORDER)
    slots = {"order_id": "SO-10001021", "confirm_cancel": "yes", "verified_orders": ["SO-1"]}
    dispatcher = CollectingDispatcher()
    await ActionCancelOrder(store).run(dispatcher, make_tracker(slots, {"customer_id": "cust-1001"}), {})
    assert dispatcher.messages[0]["response"] == "utter_order_not_found"
    assert store.orders["SO-10001021"].status is OrderStatus.PAID and store.audit == []


async def test_a_cancellation_is_read_back_and_done_only_on_yes() -> None:
    store = FakeOrderStore(ORDER)
    proven = {"order_id": "SO-10001021", "verified_orders": ["SO-10001021"], "language": "en"}
    dispatcher = CollectingDispatcher()
    await ActionAskConfirmCancel(store).run(dispatcher, make_tracker(proven), {})
    (question,) = dispatcher.messages
    assert question["response"] == "utter_confirm_cancel"
    assert question["items"] == "Running shoes ×1, Non-stick pan ×2"
    assert question["amount"] == "$189.00"
    assert [b["payload"] for b in question["buttons"]] == ["/affirm", "/deny"]

    dispatcher = CollectingDispatcher()
    await ActionCancelOrder(store).run(dispatcher, make_tracker({**proven, "confirm_cancel": "no"}), {})
    assert dispatcher.messages[0]["response"] == "utter_change_not_made"
    assert store.orders["SO-10001021"].status is OrderStatus.PAID

    dispatcher = CollectingDispatcher()
    meta = {"channel": "web"}
    events = await ActionCancelOrder(store).run(
        dispatcher, make_tracker({**proven, "confirm_cancel": "yes"}, meta), {}
    )
    assert dispatcher.messages[0]["response"] == "utter_order_cancelled"
    assert SlotSet("confirm_cancel", None) in events
    (entry,) = store.audit
    assert (entry.event, entry.verified_by, entry.channel, entry.conversation_id) == (
        "cancelled", "order_check", "web", "conv-1",
    )  # fmt: skip


async def test_an_address_change_is_read_back_with_both_addresses() -> None:
    store = FakeOrderStore(ORDER)
    validated = await ValidateChangeAddressForm(store, FakeAttemptLimiter()).validate_new_address(
        "the new address is 200 Pine St, Seattle, WA 98101", CollectingDispatcher(), make_tracker(), {}
    )
    proven = {"order_id": "SO-10001021", "verified_orders": ["SO-10001021"], **validated}
    dispatcher = CollectingDispatcher()
    await ActionAskConfirmAddress(store).run(dispatcher, make_tracker(proven), {})
    assert dispatcher.messages[0]["new_address"] == "200 Pine St, Seattle, WA 98101"
    assert dispatcher.messages[0]["old_address"] == ORDER.shipping_address
    await ActionChangeAddress(store).run(
        CollectingDispatcher(), make_tracker({**proven, "confirm_address": "yes"}), {}
    )
    assert store.orders["SO-10001021"].shipping_address == "200 Pine St, Seattle, WA 98101"
    assert store.audit[0].event == "address_changed"


async def test_a_shipped_order_skips_the_questions_that_no_longer_apply() -> None:
    shipped = Order(**{**ORDER.__dict__, "status": OrderStatus.SHIPPED})
    store = FakeOrderStore(shipped)
    tracker = make_tracker({"order_id": "SO-10001021", "verified_orders": ["SO-10001021"]})
    slots = ["order_id", "order_check", "new_address", "confirm_address"]
    address_form = ValidateChangeAddressForm(store, FakeAttemptLimiter())
    assert await address_form.required_slots(slots, CollectingDispatcher(), tracker, {}) == ["order_id"]


async def test_telegram_customers_are_offered_to_share_their_phone() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"order_id": "SO-10001021", "language": "zh"}, {"channel": "telegram"})
    await ActionAskOrderCheck().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["buttons"] == [{"title": "分享我的手机号", "payload": "/share_contact"}]
    web = CollectingDispatcher()
    await ActionAskOrderCheck().run(web, make_tracker({"order_id": "SO-10001021"}, {"channel": "web"}), {})
    assert web.messages[0]["buttons"] == []


async def test_status_form_validation_is_shared() -> None:
    store = FakeOrderStore(ORDER)
    status_form = ValidateOrderStatusForm(store, FakeAttemptLimiter())
    tracker = make_tracker({"order_id": "SO-10001021"})
    slots = ["order_id", "order_check"]
    assert await status_form.required_slots(slots, CollectingDispatcher(), tracker, {}) == slots


async def test_without_the_attempt_counters_no_answer_is_accepted() -> None:
    class DownLimiter(FakeAttemptLimiter):
        async def locked(self, conversation_id: str, address: str | None) -> bool:
            raise ConnectionError("redis down")

    store = FakeOrderStore(ORDER)
    tracker = make_tracker({"order_id": "SO-10001021"})
    result = await form(store, DownLimiter()).validate_order_check(
        "94105", CollectingDispatcher(), tracker, {}
    )
    assert result == {"order_check": "locked"}


def test_uk_details_typed_the_usual_way_prove_the_order() -> None:
    uk = Order(
        id="SO-3", customer_id="c", status=OrderStatus.PAID, currency="USD", placed_on=date(2026, 1, 1),
        phone="+44 161 496 0108", postcode="M32BW",
    )  # fmt: skip
    assert detail_matches(uk, "M3 2BW")
    assert detail_matches(uk, "my number is 0161 496 0108")
    assert not detail_matches(uk, "M3 2BX")


async def test_one_item_of_several_is_cancelled_after_its_own_read_back() -> None:
    three = Order(
        **{
            **ORDER.__dict__,
            "items": (*ITEMS, OrderItem("HAT-1", "Sun hat", "遮阳帽", "clothing", 20.0, 1, "new")),
        }
    )
    store = FakeOrderStore(three)
    slots = {"order_id": three.id, "verified_orders": [three.id], "item": "the pan"}
    dispatcher = CollectingDispatcher()
    await ActionAskConfirmCancel(store).run(dispatcher, make_tracker(slots), {})
    assert dispatcher.messages[0]["response"] == "utter_confirm_cancel_items"
    assert (dispatcher.messages[0]["items"], dispatcher.messages[0]["amount"]) == (
        "Non-stick pan ×2",
        "$70.00",
    )
    dispatcher = CollectingDispatcher()
    events = await ActionCancelOrder(store).run(
        dispatcher, make_tracker({**slots, "confirm_cancel": "yes"}), {}
    )
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_items_cancelled",
        "utter_cancel_refund_note",
    ]
    remaining = store.orders[three.id]
    assert [i.sku for i in remaining.items] == [
        "SHOE-RUN-42",
        "HAT-1",
    ] and remaining.status is OrderStatus.PAID
    assert SlotSet("item", None) in events
    assert store.audit[-1].event == "items_cancelled"


def naming_the_order(number: str, text: str, **slots: object) -> Tracker:
    tracker = make_tracker({"order_id": number, **slots}, text=text)
    tracker.latest_message["entities"] = [{"entity": "order_id", "value": number}]
    return tracker


@pytest.mark.parametrize(
    ("text", "offered"),
    [
        ("SO-10001021 alice.carter@example.com", True),
        ("SO-10001021 postcode 94105", True),
        ("SO-10001021 尾号0101", True),
        ("SO-10001021 415 555 0101", True),
        ("订单 10001021 一直没到", False),
        ("你好，我SO-10001021这单想退货", False),  # no word boundary between Chinese and the number
        ("我SO-10001021这单 尾号0101", True),
        ("order 10001021 placed in 2025", False),  # four digits that are not said to end a phone
        ("SO-10001021 was $349", False),
    ],
)
def test_a_detail_offered_beside_the_order_number(text: str, offered: bool) -> None:
    assert offers_detail(text) is offered


async def test_the_detail_given_with_the_order_number_proves_it_at_once() -> None:
    store = FakeOrderStore(ORDER)
    tracker = naming_the_order("SO-10001021", "SO-10001021 alice.carter@example.com")
    result = await form(store).validate_order_id("SO-10001021", CollectingDispatcher(), tracker, {})
    assert result == {"order_check": "passed", "verified_orders": ["SO-10001021"]}
    assert [e.event for e in store.audit] == ["check_passed"]


async def test_a_wrong_detail_with_the_order_number_is_a_failed_attempt() -> None:
    store = FakeOrderStore(ORDER)
    limiter = FakeAttemptLimiter(limit=3)
    dispatcher = CollectingDispatcher()
    tracker = naming_the_order("SO-10001021", "SO-10001021 bob@example.com", requested_slot="order_id")
    result = await form(store, limiter).validate_order_id("SO-10001021", dispatcher, tracker, {})
    assert result == {"order_check": None, "order_id": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_order_check_failed"]
    assert [e.event for e in store.audit] == ["check_failed"]
    # Without a detail in the message, the number alone asks for one and counts nothing.
    plain = naming_the_order("SO-10001021", "SO-10001021 please")
    assert await form(store, limiter).validate_order_id("SO-10001021", CollectingDispatcher(), plain, {}) == {
        "order_id": "SO-10001021",
        "order_check": None,
    }
    assert len(store.audit) == 1
