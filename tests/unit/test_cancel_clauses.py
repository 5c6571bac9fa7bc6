"""Which line of an order a customer cancels when the same message names items to keep."""

from datetime import date
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.order_changes import ActionAskConfirmCancel, ActionCancelOrder, lines_to_cancel
from actions.orders.model import Order, OrderItem, OrderStatus
from actions.returns.items import clauses, is_cancel_clause, is_keep_clause, named_to_cancel, named_to_keep
from tests.unit.fakes import FakeOrderStore, make_tracker

# SO-10009118 / SO-10009218 in docs/demo-orders.md: paid, not shipped, three items.
TEE = OrderItem("TEE-BASIC-L", "Cotton T-shirt", "纯棉T恤", "clothing", 99.0, 1, "new")
JEANS = OrderItem("JEAN-SLIM-32", "Slim jeans", "修身牛仔裤", "clothing", 299.0, 1, "new")
SHOES = OrderItem("SHOE-RUN-42", "Running shoes", "跑步鞋", "shoes", 699.0, 1, "new")
ORDER = Order(
    id="SO-10009218", customer_id="cust-2008", status=OrderStatus.PAID, currency="CNY",
    placed_on=date(2026, 3, 1), items=(TEE, JEANS, SHOES), payment_method="alipay",
)  # fmt: skip
PROVEN = {"order_id": ORDER.id, "verified_orders": [ORDER.id]}
ZH_REQUEST = "订单SO-10009218里的跑步鞋帮我取消，T恤和牛仔裤还要的"
EN_REQUEST = (
    "could you take the slim jeans off order SO-10009118? still want the t-shirt and the running shoes"
)


def skus(items: tuple[OrderItem, ...] | list[OrderItem]) -> list[str]:
    return [i.sku for i in items]


def user(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text}


def bot(text: str) -> dict[str, Any]:
    return {"event": "bot", "text": text}


def form(name: str | None) -> dict[str, Any]:
    return {"event": "active_loop", "name": name}


def cancelled_by(text: str, entity: str | None = None) -> list[str]:
    return skus(lines_to_cancel(ORDER, make_tracker({**PROVEN, "item": entity}, text=text)))


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (ZH_REQUEST, ["订单so-10009218里的跑步鞋帮我取消", "t恤和牛仔裤还要的"]),
        ("cancel the shoes but keep the jeans", ["cancel the shoes", "but keep the jeans"]),
        ("cancel the shoes and keep the jeans", ["cancel the shoes", "and keep the jeans"]),
        ("remove the tee, the rest is fine", ["remove the tee", "the rest is fine"]),
        ("cancel everything except the jeans", ["cancel everything", "except the jeans"]),
        ("跑步鞋不要了，其他的照常发货", ["跑步鞋不要了", "其他的照常发货"]),
        ("跑步鞋取消但是T恤、牛仔裤保留", ["跑步鞋取消", "但是t恤、牛仔裤保留"]),
        ("take the jeans off. I still want the rest", ["take the jeans off", "i", "still want the rest"]),
        ("cancel the 1.5 m cable", ["cancel the 1.5 m cable"]),
        (
            "SO-10009218 牛仔裤不要了 T恤和鞋子还要",
            ["so-10009218 牛仔裤不要了", "t恤和鞋子还要"],
        ),  # before Latin
        ("帮我取消 T恤", ["帮我取消 t恤"]),  # no clause ends there
    ],
)
def test_a_message_is_cut_where_its_stance_may_change(text: str, parts: list[str]) -> None:
    assert clauses(text) == parts


@pytest.mark.parametrize(
    "clause",
    [
        "cancel the shoes",
        "could you take the slim jeans off order so-10009118",
        "please drop the tee",
        "i don't want the jeans any more",
        "get rid of the shoes",
        "跑步鞋帮我取消",
        "跑步鞋不要了",
        "把t恤删掉",
        "牛仔裤去掉吧",
        "我还要取消跑步鞋",  # "also want to cancel", not "still want"
        "i still want to cancel the shoes",
    ],
)
def test_clauses_that_ask_to_cancel(clause: str) -> None:
    assert is_cancel_clause(clause)
    assert not is_keep_clause(clause)


@pytest.mark.parametrize(
    "clause",
    [
        "still want the t-shirt and the running shoes",
        "but keep the jeans",
        "please don't cancel the jeans",
        "i don't want to cancel the jeans",
        "the jeans can stay",
        "the rest is fine",
        "except the jeans",
        "t恤和牛仔裤还要的",
        "不要取消t恤",
        "牛仔裤保留",
        "除了牛仔裤都取消",
        "其他不变",
    ],
)
def test_clauses_that_ask_to_keep_are_never_cancel_clauses(clause: str) -> None:
    assert is_keep_clause(clause)
    assert not is_cancel_clause(clause)


def test_neither_cue_is_neither_stance() -> None:
    for clause in ("the t-shirt and the jeans", "手机尾号2008", "so-10009218"):
        assert not is_cancel_clause(clause) and not is_keep_clause(clause)


@pytest.mark.parametrize(
    ("text", "cancel", "keep"),
    [
        (ZH_REQUEST, ["SHOE-RUN-42"], ["TEE-BASIC-L", "JEAN-SLIM-32"]),
        (EN_REQUEST, ["JEAN-SLIM-32"], ["TEE-BASIC-L", "SHOE-RUN-42"]),
        ("cancel the shoes but keep the jeans", ["SHOE-RUN-42"], ["JEAN-SLIM-32"]),
        ("remove the tee, the rest is fine", ["TEE-BASIC-L"], []),
        ("Please don’t cancel the jeans; drop the shoes", ["SHOE-RUN-42"], ["JEAN-SLIM-32"]),
        ("不要取消T恤，把修身牛仔裤删掉", ["JEAN-SLIM-32"], ["TEE-BASIC-L"]),
        ("cancel the jeans and the shoes", ["JEAN-SLIM-32", "SHOE-RUN-42"], []),
        ("I ordered the jeans last week", [], []),
        (
            "SO-10009218 牛仔裤不要了 T恤和鞋子还要",
            ["JEAN-SLIM-32"],
            ["TEE-BASIC-L", "SHOE-RUN-42"],
        ),  # 鞋子: shoes
        ("裤子不要了", ["JEAN-SLIM-32"], []),
    ],
)
def test_items_named_to_cancel_and_to_keep(text: str, cancel: list[str], keep: list[str]) -> None:
    assert skus(named_to_cancel(ORDER, text)) == cancel
    assert skus(named_to_keep(ORDER, text)) == keep


@pytest.mark.parametrize(
    ("text", "entity", "sku"),
    [
        (ZH_REQUEST, "牛仔裤", "SHOE-RUN-42"),  # the entity tagged a kept item
        (ZH_REQUEST, None, "SHOE-RUN-42"),
        (EN_REQUEST, "running shoes", "JEAN-SLIM-32"),
        ("cancel the shoes but keep the jeans", "jeans", "SHOE-RUN-42"),
        ("remove the tee, the rest is fine", None, "TEE-BASIC-L"),
        ("T恤不要了，其他照常发货", "T恤", "TEE-BASIC-L"),
    ],
)
def test_the_one_item_named_to_cancel_wins_over_the_entity(text: str, entity: str | None, sku: str) -> None:
    assert cancelled_by(text, entity) == [sku]


def test_an_item_named_only_to_keep_is_never_the_line_cancelled() -> None:
    others = ["TEE-BASIC-L", "SHOE-RUN-42"]  # what they keep stays; the read-back lists the rest
    assert cancelled_by("cancel part of it, I still want the jeans", "jeans") == others
    assert cancelled_by("牛仔裤还要的，其他的帮我取消", "牛仔裤") == others
    # ...but the one other item the message names still is.
    assert cancelled_by("keep the jeans, the shoes I don't need", "jeans") == ["SHOE-RUN-42"]


def test_without_a_clear_cancel_clause_the_entity_then_a_single_mention_decide() -> None:
    assert cancelled_by("cancel the jeans and the shoes", "shoes") == ["SHOE-RUN-42"]
    assert cancelled_by("the second one please", "the second one") == ["JEAN-SLIM-32"]
    assert cancelled_by("the running shoes in SO-10009218") == ["SHOE-RUN-42"]
    assert cancelled_by("cancel SO-10009218") == skus(ORDER.items)
    assert cancelled_by("cancel the jeans and the shoes") == skus(ORDER.items)


def test_the_newest_message_naming_a_line_to_cancel_wins() -> None:
    events = [
        user("cancel the shoes in SO-10009218"),
        bot("…"),
        user("sorry, cancel the jeans, not the shoes"),
    ]
    tracker = make_tracker({**PROVEN, "item": "shoes"}, events=events)
    assert skus(lines_to_cancel(ORDER, tracker)) == ["JEAN-SLIM-32"]


def test_the_request_that_started_the_form_still_counts_after_the_yes() -> None:
    """Order number, proof and "yes" push the request out of the last three messages; the read-back and the
    cancellation must still both mean the shoes, not the kept jeans the entity tagged."""
    opening = [user("hi"), user(ZH_REQUEST.replace("订单SO-10009218里的", "")), form("cancel_order_form")]
    asked = [*opening, user("SO-10009218"), user("手机尾号2008")]
    answered = [*asked, user("是的"), form(None)]
    slots = {**PROVEN, "item": "牛仔裤", "language": "zh"}
    for events in (asked, answered):
        assert skus(lines_to_cancel(ORDER, make_tracker(slots, events=events))) == ["SHOE-RUN-42"]


def test_messages_from_before_a_recent_form_do_not_count() -> None:
    events = [
        user("cancel the shoes in SO-10009218"),
        form("cancel_order_form"),
        form(None),
        *(user(f"question {n}") for n in range(3)),
        user("I want to cancel something in SO-10009218"),
        form("cancel_order_form"),
        user("the jeans"),
    ]
    tracker = make_tracker({**PROVEN, "item": None}, events=events)
    assert skus(lines_to_cancel(ORDER, tracker)) == ["JEAN-SLIM-32"]


async def test_the_read_back_and_the_cancellation_name_the_same_line() -> None:
    store = FakeOrderStore(ORDER)
    events = [user(ZH_REQUEST), form("cancel_order_form"), user("手机尾号2008")]
    slots = {**PROVEN, "item": "牛仔裤", "language": "zh"}
    dispatcher = CollectingDispatcher()
    await ActionAskConfirmCancel(store).run(dispatcher, make_tracker(slots, events=events), {})
    read_back = dispatcher.messages[0]
    assert (read_back["response"], read_back["items"], read_back["amount"]) == (
        "utter_confirm_cancel_items",
        "跑步鞋 ×1",
        "¥699.00",
    )
    dispatcher = CollectingDispatcher()
    yes = make_tracker({**slots, "confirm_cancel": "yes"}, events=[*events, user("是的")])
    await ActionCancelOrder(store).run(dispatcher, yes, {})
    assert dispatcher.messages[0]["response"] == "utter_items_cancelled"
    assert skus(store.orders[ORDER.id].items) == ["TEE-BASIC-L", "JEAN-SLIM-32"]


CREAM = OrderItem("CRM-HYD-50", "Hydrating face cream 50 ml", "保湿面霜 50毫升", "beauty", 219.0, 1, "new")
SERUM = OrderItem("SERUM-VC-30", "Vitamin C serum", "维C精华液", "beauty", 259.0, 1, "new")
LIPSTICK = OrderItem("LIP-RED-01", "Matte lipstick", "哑光口红", "beauty", 159.0, 1, "new")
BEAUTY = Order(
    id="SO-10009219", customer_id="cust-2008", status=OrderStatus.PAID, currency="CNY",
    placed_on=date(2026, 3, 1), items=(CREAM, SERUM, LIPSTICK), payment_method="wechat_pay",
)  # fmt: skip


@pytest.mark.parametrize("entity", [None, "精华", "口红"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SO-10009219 里的口红不要了 面霜和精华还要", ["LIP-RED-01"]),  # clauses parted by a space
        ("面霜和精华还要 口红取消", ["LIP-RED-01"]),
        ("精华不要了", ["SERUM-VC-30"]),  # "精华" names 维C精华液
    ],
)
def test_chinese_clauses_parted_by_spaces_and_short_names(
    text: str, expected: list[str], entity: str | None
) -> None:
    slots = {"order_id": BEAUTY.id, "verified_orders": [BEAUTY.id], "item": entity}
    tracker = make_tracker(slots, text=text)
    assert skus(lines_to_cancel(BEAUTY, tracker)) == expected


def test_an_item_entity_the_customer_said_to_keep_is_never_cancelled() -> None:
    # Nothing is named to cancel; the entity "精华" stands in the clause that keeps it.
    tracker = make_tracker(
        {"order_id": BEAUTY.id, "verified_orders": [BEAUTY.id], "item": "精华"}, text="精华还要的"
    )
    assert skus(lines_to_cancel(BEAUTY, tracker)) != ["SERUM-VC-30"]


@pytest.mark.parametrize(
    "text",
    [
        "10009218 跑鞋那双帮我去掉 T恤和裤子照常发",  # "跑鞋": 跑步鞋 without its middle character
        "那双帮我去掉 T恤和裤子照常发",  # nothing matched where it cancels: what it keeps still stays
    ],
)
def test_what_the_customer_keeps_is_never_cancelled(text: str) -> None:
    assert cancelled_by(text) == ["SHOE-RUN-42"]
