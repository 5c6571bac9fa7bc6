"""Which item the customer means, from their words."""

from datetime import date

import pytest

from actions.orders.model import Order, OrderItem, OrderStatus
from actions.returns.items import match_item, matching_items, named_in, only_names_an_item

ITEMS = (
    OrderItem("JKT-B-M", "Rain jacket (blue, M)", "防雨夹克（蓝色，M）", "clothing", 89.0, 1, "new"),
    OrderItem("JKT-K-M", "Rain jacket (black, M)", "防雨夹克（黑色，M）", "clothing", 89.0, 1, "new"),
    OrderItem("JKT-K-L", "Rain jacket (black, L)", "防雨夹克（黑色，L）", "clothing", 89.0, 1, "new"),
    OrderItem("SHOE-RUN-42", "Running shoes", "跑步鞋", "shoes", 119.0, 1, "new"),
    OrderItem("TEA-B", "Black tea 100g", "红茶 100克", "food", 9.0, 1, "new"),
)
ORDER = Order("SO-1", "c", OrderStatus.DELIVERED, "USD", date(2026, 1, 1), ITEMS)


@pytest.mark.parametrize(
    ("said", "sku"),
    [
        ("JKT-K-L", "JKT-K-L"),
        ("Rain jacket (black, M)", "JKT-K-M"),
        ("the blue one", "JKT-B-M"),
        ("blue rain jacket", "JKT-B-M"),
        ("the black L one", "JKT-K-L"),
        ("the black medium", "JKT-K-M"),
        ("size L", "JKT-K-L"),
        ("黑色L码", "JKT-K-L"),
        ("蓝色那件", "JKT-B-M"),
        ("the second one", "JKT-K-M"),
        ("第二件", "JKT-K-M"),
        ("最后一个", "TEA-B"),
        ("那双42码的跑步鞋", "SHOE-RUN-42"),
        ("runing shoes", "SHOE-RUN-42"),
        ("the black tea", "TEA-B"),
        ("红茶", "TEA-B"),
        ("the blue rain jacket, its too small", "JKT-B-M"),  # how it fits is not its size
        ("the black jacket in large, it runs a bit big", "JKT-K-L"),
    ],
)
def test_the_item_meant_is_found(said: str, sku: str) -> None:
    item = match_item(ORDER, said)
    assert item is not None and item.sku == sku


def test_an_answer_that_fits_several_items_names_them_all() -> None:
    assert [i.sku for i in matching_items(ORDER, "the black jacket")] == ["JKT-K-M", "JKT-K-L"]
    assert match_item(ORDER, "jacket") is None


def test_a_size_named_as_a_size_still_tells_items_apart() -> None:
    jackets = Order("SO-2", "c", OrderStatus.DELIVERED, "USD", date(2026, 1, 1), ITEMS[:3])
    assert match_item(jackets, "the black one, size small") is None  # no black S
    assert [i.sku for i in matching_items(ORDER, "black jacket, too small")] == ["JKT-K-M", "JKT-K-L"]


def test_nothing_fits_an_item_that_is_not_in_the_order() -> None:
    assert matching_items(ORDER, "headphones") == []
    assert match_item(ORDER, "") is None


def test_items_named_inside_a_whole_message() -> None:
    serum = OrderItem("SERUM-VC-30", "Vitamin C serum", "维C精华液", "beauty", 199.0, 1, "new")
    cream = OrderItem(
        "CRM-HYD-50", "Hydrating face cream 50 ml", "保湿面霜 50毫升", "beauty", 159.0, 1, "new"
    )
    order = Order("SO-2", "c", OrderStatus.PAID, "CNY", date(2026, 1, 1), (serum, cream))
    assert named_in(order, "不好意思订单号打错了，是SO-10009219，取消里面的维C精华") == [serum]
    assert named_in(order, "please cancel the face cream, thanks") == [cream]
    assert named_in(order, "cancel my whole order") == []


def test_an_english_name_is_found_by_its_last_word_as_a_whole_word() -> None:
    from datetime import date

    from actions.orders.model import Order, OrderItem, OrderStatus
    from actions.returns.items import named_in

    def line(sku: str, name: str, name_zh: str) -> OrderItem:
        return OrderItem(sku, name, name_zh, category="clothing", price=10.0, quantity=1, condition="new")

    order = Order(
        id="SO-10009118", customer_id="cust-1", status=OrderStatus.PAID, currency="USD",
        placed_on=date(2026, 12, 1),
        items=(line("TEE", "Cotton T-shirt", "纯棉T恤"), line("JEAN", "Slim jeans", "修身牛仔裤"),
               line("SHOE", "Running shoes", "跑步鞋")),
    )  # fmt: skip
    said = "please cancel the jeans from order SO-10009118, I don't need them"
    assert [i.sku for i in named_in(order, said)] == ["JEAN"]
    assert [i.sku for i in named_in(order, "the t-shirt and the shoes")] == ["TEE", "SHOE"]
    assert named_in(order, "I collect horseshoes") == []  # whole words only
    assert [i.sku for i in named_in(order, "取消修身牛仔裤")] == ["JEAN"]


@pytest.mark.parametrize(
    ("said", "sku"),
    [
        ("牛仔裤还要的", "JEAN"),  # 修身牛仔裤 without its modifier
        ("T恤不要了", "TEE"),  # 纯棉T恤
        ("耳机帮我取消", "HDP"),  # 降噪耳机
        ("充电宝不要了", "PWR"),  # 20000毫安充电宝: the amount is not a name
        ("remove the tee", "TEE"),
        ("cancel the tshirt", "TEE"),
    ],
)
def test_a_name_is_found_by_its_head_noun_or_a_common_spelling(said: str, sku: str) -> None:
    def line(sku: str, name: str, name_zh: str) -> OrderItem:
        return OrderItem(sku, name, name_zh, category="clothing", price=10.0, quantity=1, condition="new")

    order = Order(
        "SO-3", "c", OrderStatus.PAID, "CNY", date(2026, 1, 1),
        (line("TEE", "Cotton T-shirt", "纯棉T恤"), line("JEAN", "Slim jeans", "修身牛仔裤"),
         line("HDP", "Noise-cancelling headphones", "降噪耳机"),
         line("PWR", "Power bank 20000 mAh", "20000毫安充电宝")),
    )  # fmt: skip
    assert [i.sku for i in named_in(order, said)] == [sku]


def test_an_amount_alone_names_no_item() -> None:
    cream = OrderItem("CRM", "Hydrating face cream 50 ml", "保湿面霜 50毫升", "beauty", 159.0, 1, "new")
    tea = OrderItem("TEA", "Green tea 250 g", "西湖龙井 250克", "food", 88.0, 1, "new")
    order = Order("SO-4", "c", OrderStatus.PAID, "CNY", date(2026, 1, 1), (cream, tea))
    assert named_in(order, "要50毫升的那个") == []
    assert named_in(order, "龙井不要了") == [tea]
    assert named_in(order, "面霜取消") == [cream]


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("跑步鞋", True),
        ("那双跑步鞋", True),
        ("the running shoes.", True),
        ("跑步鞋太小了", False),  # the item and why
        ("码数偏小 穿着挤脚", False),
        ("too small", False),
    ],
)
def test_an_answer_that_only_names_an_item(said: str, expected: bool) -> None:
    assert only_names_an_item(ORDER, said) is expected


def test_an_item_named_by_its_kind_when_its_name_does_not_say_it() -> None:
    novel = OrderItem(
        "BOOK-N", "The Lighthouse Keeper (paperback)", "守灯人（平装本）", "books", 15.0, 1, "new"
    )
    blocks = OrderItem("TOY-B", "Building blocks (500 pcs)", "积木套装（500粒）", "toys", 29.0, 1, "new")
    order = Order("SO-3", "c", OrderStatus.DELIVERED, "USD", date(2026, 1, 1), (novel, blocks))
    assert match_item(order, "那本书") == novel
    assert match_item(order, "the book") == novel
    assert match_item(order, "孩子的玩具") == blocks
    assert match_item(order, "积木") == blocks  # its own name still wins
    assert matching_items(ORDER, "the book") == []  # no book in the order: nothing fits
    boots = OrderItem("BOOT-A", "Ankle boots", "短靴", "shoes", 99.0, 1, "new")
    shoes = Order("SO-4", "c", OrderStatus.DELIVERED, "USD", date(2026, 1, 1), (ITEMS[3], boots))
    assert match_item(shoes, "the boots") == boots  # a name that fits beats a kind
