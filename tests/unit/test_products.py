"""Product questions and recommendations: budgets, the catalogue, search, attributes and the two actions.

A stand-in encoder (one axis per concept, words of both languages) keeps similarities predictable; the
fixture catalogue is tests/fixtures/catalog/products.yml. Thresholds here are the tests' own: the real
ones are calibrated for the real encoders (kb_index/products/search.py).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandoff
from actions.orders.model import Order, OrderItem, OrderStatus
from actions.products import (
    ActionAnswerProductQuestion,
    ActionRecommendProducts,
    budget_text,
    owned_products,
    price_text,
)
from kb_index.products.budget import Budget, parse_budget, without_budget
from kb_index.products.catalog import CatalogError, load_catalog, parse_catalog
from kb_index.products.search import ProductSearch, Thresholds, need_text
from tests.unit.fakes import FakeHub, FakeOrderStore, make_tracker

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "catalog" / "products.yml"
REAL_CATALOG = ROOT / "data" / "catalog" / "products.yml"
DOMAIN = ROOT / "bot" / "domain" / "products.yml"
CATALOG = load_catalog(FIXTURE)
TEST_THRESHOLDS = {
    language: Thresholds(relevant=0.2, product=0.6, product_margin=0.1, attribute=0.6, attribute_margin=0.05)
    for language in ("en", "zh")
}
AXES = {
    "run": ("running", "gym", "sport", "跑步", "健身", "运动"),
    "travel": ("travel", "flight", "commut", "plane", "出差", "通勤", "飞机", "旅行"),
    "kids": ("kid", "child", "儿童", "孩子"),
    "audio": ("headphone", "earbud", "耳机"),
    "charge": ("charg", "power bank", "battery", "充电", "电源"),
    "skin": ("serum", "skin", "cream", "精华", "护肤", "面霜"),
    "rain": ("rain", "waterproof", "jacket", "防雨", "防水", "夹克"),
    "cook": ("cook", "pan", "knife", "kitchen", "做饭", "锅", "厨"),
    "gift": ("gift", "礼物", "送礼", "礼品"),
    "box": ("in the box", "includ", "comes with", "包装", "附带"),
    "compat": (
        "work with",
        "compatib",
        "iphone",
        "android",
        "macbook",
        "laptop",
        "兼容",
        "苹果",
        "安卓",
        "电脑",
    ),
    "weight": ("weigh", "heavy", "重"),
    "price": ("price", "cost", "how much", "价格", "多少钱"),
    "warn": ("safe", "warning", "pregnan", "孕", "安全", "注意", "damage", "avoid"),
    "colour": ("colour", "color", "black", "blue", "silver", "颜色", "黑色", "蓝色"),
    "size": ("size", "chest", "尺码", "码", "胸围"),
}
TODAY = date(2026, 3, 10)


NOISE_AXES = 4099


async def embed_by_concept(texts: Sequence[str], language: str) -> np.ndarray:
    """A stand-in encoder: one axis per concept, so similarity is the share of concepts in common; a text
    with no concept lands on an axis of its own (by its hash), so two such texts do not look alike."""
    rows = []
    for text in texts:
        row = [1.0 if any(w in text.lower() for w in words) else 0.0 for words in AXES.values()]
        noise = [0.0] * NOISE_AXES
        noise[zlib.crc32(text.encode("utf-8")) % NOISE_AXES] = 0.05 if any(row) else 1.0
        rows.append(row + noise)
    matrix = np.asarray(rows, dtype=np.float32)
    return np.asarray(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), dtype=np.float32)


def search() -> ProductSearch:
    return ProductSearch(CATALOG, embed_by_concept, thresholds=TEST_THRESHOLDS)


# ---------------------------------------------------------------------------------------------- budgets
@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("$100", "en", ("USD", None, 100)),
        ("under 100 dollars", "en", ("USD", None, 100)),
        ("less than 80", "en", ("USD", None, 80)),
        ("something quiet, can't go over $150", "en", ("USD", None, 150)),  # a ceiling, not a floor
        ("which headphones are good for running under $100", "en", ("USD", None, 100)),
        ("at most 60 bucks", "en", ("USD", None, 60)),
        ("no more than 150", "en", ("USD", None, 150)),
        ("I don't want to spend more than 150", "en", ("USD", None, 150)),
        ("my budget is 80", "en", ("USD", None, 80)),
        ("100 or less", "en", ("USD", None, 100)),
        ("a hundred bucks", "en", ("USD", None, 100)),
        ("under two hundred fifty dollars", "en", ("USD", None, 250)),
        ("$1,299", "en", ("USD", None, 1299)),
        ("between $50 and $100", "en", ("USD", 50, 100)),
        ("50-100 dollars", "en", ("USD", 50, 100)),
        ("from 20 to 40", "en", ("USD", 20, 40)),
        ("over 100 dollars", "en", ("USD", 100, None)),
        ("around $60", "en", ("USD", 30, 69)),
        ("under 500 yuan", "en", ("CNY", None, 500)),
        ("100以内", "zh", ("CNY", None, 100)),
        ("500元以下", "zh", ("CNY", None, 500)),
        ("不超过300块", "zh", ("CNY", None, 300)),
        ("预算两百", "zh", ("CNY", None, 200)),
        ("预算一千五", "zh", ("CNY", None, 1500)),
        ("一千零五块", "zh", ("CNY", None, 1005)),
        ("500以内的蓝牙耳机推荐", "zh", ("CNY", None, 500)),
        ("一百块以内的礼物", "zh", ("CNY", None, 100)),
        ("千元以下", "zh", ("CNY", None, 1000)),
        ("1千以内", "zh", ("CNY", None, 1000)),
        ("2k以内", "zh", ("CNY", None, 2000)),
        ("RMB300以内", "zh", ("CNY", None, 300)),
        ("¥500", "zh", ("CNY", None, 500)),
        ("200到300元", "zh", ("CNY", 200, 300)),
        ("预算在200到400之间", "zh", ("CNY", 200, 400)),
        ("200-300的耳机", "zh", ("CNY", 200, 300)),
        ("两三百的耳机", "zh", ("CNY", 200, 300)),
        ("500块以上", "zh", ("CNY", 500, None)),
        ("300左右", "zh", ("CNY", 150, 345)),
        ("五百多", "zh", ("CNY", 500, 650)),
        ("100美元以内的耳机", "zh", ("USD", None, 100)),
        ("$50以内", "zh", ("USD", None, 50)),
    ],
)
def test_budgets_in_both_languages(text: str, language: str, expected: tuple[str, float, float]) -> None:
    budget = parse_budget(text, language)
    assert budget is not None
    assert (budget.currency, budget.low, budget.high) == expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("170cm 65kg 穿什么码", "zh"),
        ("a case for my iPhone 15", "en"),
        ("case for iphone 13-15", "en"),
        ("a gift for kids under 10", "en"),
        ("3岁以下宝宝能用吗", "zh"),
        ("尺码42-44", "zh"),
        ("65w充电器", "zh"),
        ("does it weigh 2kg", "en"),
        ("gift for my dad who likes cooking", "en"),
        ("where is my order SO-10001021", "en"),
    ],
)
def test_numbers_that_are_not_budgets(text: str, language: str) -> None:
    assert parse_budget(text, language) is None


def test_a_budget_is_named_only_when_the_message_says_a_currency() -> None:
    assert parse_budget("under 100", "zh") == Budget("CNY", None, 100.0, stated_currency=False)
    assert parse_budget("100块以内", "en") == Budget("CNY", None, 100.0, stated_currency=True)


def test_the_need_is_read_without_the_budget_or_the_word_gift() -> None:
    assert without_budget("which headphones are good for running under $100", "en") == (
        "which headphones are good for running"
    )
    assert without_budget("不超过300块的耳机", "zh") == "的耳机"
    assert need_text("a gift for my dad who likes cooking", "en") == "a for my dad who likes cooking"
    assert need_text("gift ideas under $30", "en") == "gift ideas"  # nothing else: the gift is the need


# -------------------------------------------------------------------------------------------- catalogue
def test_the_fixture_catalogue_loads_with_variants_and_both_languages() -> None:
    jacket = CATALOG.get("JKT-RAIN")
    assert jacket is not None and jacket.name.get("zh") == "防雨夹克"
    assert jacket.variants == ("JKT-RAIN-BK-M", "JKT-RAIN-BL-L")
    assert CATALOG.by_sku("jkt-rain-bl-l") is jacket
    assert CATALOG.by_sku("JKT-RAIN-GR-XL") is jacket  # an unlisted colour and size of the jacket
    assert CATALOG.by_sku("NOPE-1") is None
    assert jacket.price.amount("CNY") == 599.0
    assert "accessories" in CATALOG.categories


def catalogue_problems(product_overrides: dict[str, Any], extra: list[dict[str, Any]] | None = None) -> str:
    raw = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    raw["products"][0].update(product_overrides)
    raw["products"] += extra or []
    with pytest.raises(CatalogError) as caught:
        parse_catalog(raw, "data/catalog/products.yml")
    return str(caught.value)


def test_catalogue_errors_name_the_file_the_product_and_the_key() -> None:
    message = catalogue_problems(
        {
            "name": {"en": "Headphones"},
            "price": {"USD": "cheap", "CNY": 10},
            "fits": ["NOT-A-PRODUCT"],
            "in_box": ["headphones"],
            "uses": {"en": ["travel"], "zh": []},
            "in_stock": "yes",
        }
    )
    assert message.startswith("data/catalog/products.yml: ")
    for problem in (
        "products[0] (HDP-NC-01): name.zh: must be a non-empty text",
        "products[0] (HDP-NC-01): price.USD: must be a number",
        "products[0] (HDP-NC-01): in_box: unknown key",
        "products[0] (HDP-NC-01): uses: has items in one language only",
        "products[0] (HDP-NC-01): in_stock: must be true or false",
    ):
        assert problem in message
    duplicate = catalogue_problems(
        {}, [{**yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))["products"][1]}]
    )
    assert "EAR-SPORT-01: id is already used by EAR-SPORT-01" in duplicate
    unknown = catalogue_problems({"related": ["GONE-1"]})
    assert "HDP-NC-01: related: unknown product id 'GONE-1'" in unknown


def test_a_missing_or_broken_file_is_a_catalogue_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.yml")
    broken = tmp_path / "products.yml"
    broken.write_text("version: 2\nproducts: []\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="products: must be a non-empty list"):
        load_catalog(broken)


@pytest.mark.skipif(not REAL_CATALOG.exists(), reason="data/catalog/products.yml is not written yet")
def test_the_real_catalogue_is_valid() -> None:
    catalog = load_catalog(REAL_CATALOG)  # ids unique, fits and related known, both languages present
    ids = [p.id for p in catalog]
    assert len(ids) == len(set(ids))
    skus = [sku for p in catalog for sku in p.skus]
    assert len(skus) == len(set(skus))
    for product in catalog:
        for language in ("en", "zh"):
            assert product.name.get(language) and product.summary.get(language)
        assert all(catalog.get(other) for other in (*product.fits, *product.related))
        assert product.price.usd > 0 and product.price.cny > 0, product.id
    # Every product can be told apart by its words: no two share all of their name's words.
    finder = ProductSearch(catalog, embed_by_concept)
    for product in catalog:
        assert product in finder.named(product.name.en, "en"), product.id
        assert product in finder.named(product.name.zh, "zh"), product.id


# ------------------------------------------------------------------------------------------ recommending
async def test_recommendations_respect_the_budget_and_say_why() -> None:
    found = await search().recommend("which headphones are good for running under $100", "en")
    assert found.category == "electronics"
    assert found.currency == "USD"
    ids = [p.product.id for p in found.picks]
    assert ids[0] == "EAR-SPORT-01"
    assert "HDP-NC-01" not in ids  # $199
    need = await search().recommend("something for running under $100", "en")
    assert (need.picks[0].product.id, need.picks[0].reason_kind, need.picks[0].reason) == (
        "EAR-SPORT-01",
        "use",
        "running",
    )


async def test_chinese_budgets_are_in_yuan_unless_dollars_are_named() -> None:
    found = await search().recommend("500以内的跑步耳机推荐", "zh")
    assert found.currency == "CNY" and found.budget is not None and found.budget.high == 500
    assert found.picks[0].product.id == "EAR-SPORT-01"
    in_dollars = await search().recommend("100美元以内的跑步耳机", "zh")
    assert in_dollars.currency == "USD" and in_dollars.picks[0].product.id == "EAR-SPORT-01"


async def test_out_of_stock_products_are_not_recommended() -> None:
    found = await search().recommend("a warm jacket for winter", "en")
    assert "DOWN-JKT-01" not in [p.product.id for p in found.picks]


async def test_nothing_in_the_budget_offers_the_closest_option() -> None:
    found = await search().recommend("running headphones under $20", "en")
    assert found.picks == ()
    assert found.closest is not None and found.closest.product.id == "EAR-SPORT-01"


async def test_a_category_alone_is_a_need() -> None:
    found = await search().recommend("any clothes under $100?", "en")
    assert found.category == "clothing"
    assert [p.product.id for p in found.picks] == ["JKT-RAIN"]  # the down jacket is out of stock


async def test_an_accessory_that_fits_what_the_customer_bought_comes_first() -> None:
    found = await search().recommend("I need a charger", "en", owned=["HDP-NC-01"])
    first = found.picks[0]
    assert first.product.id == "CHG-USBC-65"
    assert (first.reason_kind, first.fits and first.fits.id) == ("owned", "HDP-NC-01")


async def test_an_accessory_for_a_named_product_fits_it() -> None:
    found = await search().recommend("a charger for my power bank", "en")
    first = found.picks[0]
    assert (first.product.id, first.reason_kind, first.reason) == ("CHG-USBC-65", "fits", "Power bank")


async def test_a_gift_for_someone_is_about_what_they_like() -> None:
    found = await search().recommend("a gift for my dad who likes cooking", "en")
    assert found.picks[0].product.id == "PAN-NS-28"
    assert "GIFT-50" not in [p.product.id for p in found.picks]


async def test_a_need_nothing_matches_is_not_understood() -> None:
    found = await search().recommend("I want to buy a boat", "en")
    assert not found.understood and found.picks == ()


async def test_products_are_embedded_once_per_language() -> None:
    calls: list[tuple[int, str]] = []

    async def counting(texts: Sequence[str], language: str) -> np.ndarray:
        calls.append((len(texts), language))
        return await embed_by_concept(texts, language)

    finder = ProductSearch(CATALOG, counting, thresholds=TEST_THRESHOLDS)
    await finder.recommend("running headphones", "en")
    await finder.recommend("headphones for travel", "en")
    await finder.recommend("跑步耳机", "zh")
    builds = [c for c in calls if c[0] > 1]
    assert [language for _, language in builds] == ["en", "zh"]


# ------------------------------------------------------------------------------------- which product
@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("do the noise-cancelling headphones work with iPhone", "en", "HDP-NC-01"),
        ("is a charger included with the power bank", "en", "PWR-BANK-20"),  # a full name over a head noun
        ("replacement ear cushions for noise-cancelling headphones", "en", "PAD-HDP-01"),
        ("这个维C精华孕妇能用吗", "zh", "SERUM-VC-30"),
        ("降噪耳机多重", "zh", "HDP-NC-01"),
        ("充电宝送充电器吗", "zh", "PWR-BANK-20"),
        ("is JKT-RAIN-BK-M available", "en", "JKT-RAIN"),
    ],
)
async def test_the_product_a_question_names(text: str, language: str, expected: str) -> None:
    found = await search().identify(text, language)
    assert found.product is not None and found.product.id == expected


async def test_an_ambiguous_name_is_resolved_only_by_the_conversation() -> None:
    finder = search()
    ambiguous = await finder.identify("do the headphones work with iPhone", "en")
    assert ambiguous.product is None and ambiguous.how == "ambiguous"
    assert {p.id for p in ambiguous.candidates} == {"HDP-NC-01", "HDP-KIDS-01"}
    kept = await finder.identify("do the headphones work with iPhone", "en", remembered="HDP-NC-01")
    assert kept.product is not None and kept.product.id == "HDP-NC-01"


async def test_follow_ups_use_the_product_spoken_about_or_offered() -> None:
    finder = search()
    follow_up = await finder.identify("is it waterproof?", "en", remembered="JKT-RAIN")
    assert follow_up.product is not None and (follow_up.product.id, follow_up.how) == (
        "JKT-RAIN",
        "remembered",
    )
    offered = ["EAR-SPORT-01", "HDP-KIDS-01"]
    second = await finder.identify("how much is the second one", "en", options=offered)
    assert second.product is not None and second.product.id == "HDP-KIDS-01"
    chinese = await finder.identify("第一个多少钱", "zh", options=offered)
    assert chinese.product is not None and chinese.product.id == "EAR-SPORT-01"
    unclear = await finder.identify("is it waterproof?", "en", options=offered)
    assert unclear.product is None and unclear.how == "ambiguous"


async def test_no_product_at_all_is_not_guessed() -> None:
    found = await search().identify("what is the warranty?", "en")
    assert found.product is None and found.how == "none"


# ----------------------------------------------------------------------------------------- attributes
async def answer(
    product_id: str, text: str, language: str = "en", currency: str = "USD"
) -> tuple[str | None, str]:
    product = CATALOG.get(product_id)
    assert product is not None
    found = await search().answer(product, text, language, currency)
    return (found.attribute.key, found.attribute.value) if found.attribute else (None, found.how)


async def test_attributes_named_by_obvious_words() -> None:
    assert await answer("PWR-BANK-20", "is a charger included with the power bank") == (
        "in_the_box",
        "power bank; USB-C cable",
    )
    assert await answer("PWR-BANK-20", "充电宝包装里有什么", "zh") == ("in_the_box", "充电宝；USB-C充电线")
    key, value = await answer("HDP-NC-01", "do the noise-cancelling headphones work with iPhone")
    assert key == "compatibility" and "iPhone" in value  # not the "noise cancelling" spec in its name
    assert await answer("JKT-RAIN", "what colours does it come in") == ("colors", "black; blue")
    assert await answer("JKT-RAIN", "有什么颜色", "zh") == ("colors", "黑色、蓝色")
    assert await answer("JKT-RAIN", "what is it made of") == ("materials", "Recycled polyester")
    assert await answer("PAN-NS-28", "can I put it in the dishwasher") == (
        "care",
        "Hand wash; not for the dishwasher.",
    )
    assert await answer("JKT-RAIN", "how much is it", "zh", "CNY") == ("price", "¥599.00")
    assert await answer("DOWN-JKT-01", "is it in stock") == ("stock", "out of stock")


async def test_sizes_from_height_and_weight() -> None:
    key, value = await answer("JKT-RAIN", "170cm 65kg 穿什么码", "zh")
    assert key == "sizes" and value.startswith("S, M, L, XL；胸围")


async def test_specs_by_name_and_by_the_shape_of_the_question() -> None:
    assert await answer("HDP-NC-01", "what's the battery life") == ("specs:battery life", "30 hours")
    assert await answer("HDP-NC-01", "how heavy are the headphones") == ("specs:weight", "250 g")
    assert await answer("HDP-NC-01", "降噪耳机多重", "zh") == ("specs:weight", "250克")
    assert await answer("HDP-NC-01", "续航多久", "zh") == ("specs:battery life", "30小时")


async def test_attributes_by_meaning() -> None:
    assert await answer("CHG-USBC-65", "what about my MacBook?") == (
        "compatibility",
        "iPhone 15 and 16; MacBook Air",
    )


async def test_questions_about_pregnancy_children_or_allergies_need_a_warning_about_them() -> None:
    assert await answer("SERUM-VC-30", "can I use the serum while pregnant") == (
        "warnings",
        "Ask your doctor before use if you are pregnant or breastfeeding",
    )
    assert await answer("SERUM-VC-30", "这个精华孕妇能用吗", "zh") == ("warnings", "孕期或哺乳期请先咨询医生")
    assert await answer("CRM-HYD-50", "is the cream safe during pregnancy") == (None, "topic")
    assert await answer("CRM-HYD-50", "孕妇能用吗", "zh") == (None, "topic")


async def test_compatibility_answers_only_what_the_list_names() -> None:
    assert await answer("CHG-USBC-65", "does the charger work with my PS5") == (None, "unlisted")
    assert await answer("CHG-USBC-65", "充电器兼容switch吗", "zh") == (None, "unlisted")
    assert await answer("CHG-USBC-65", "what is it compatible with") == (
        "compatibility",
        "iPhone 15 and 16; MacBook Air",
    )


async def test_what_the_catalogue_does_not_say_is_not_answered() -> None:
    assert await answer("PWR-BANK-20", "what sizes does it come in") == (None, "missing")
    assert await answer("PAN-NS-28", "what's the return policy") == (None, "unsure")
    assert await answer("HDP-KIDS-01", "is it safe for a 2 year old") == (None, "missing")


# -------------------------------------------------------------------------------------------- actions
def order(
    customer: str, sku: str, status: OrderStatus = OrderStatus.DELIVERED, number: str = "SO-10000001"
) -> Order:
    item = OrderItem(sku, "item", "商品", "electronics", 199.0, 1, "new")
    return Order(number, customer, status, "USD", TODAY, (item,), delivered_on=TODAY)


SIGNED_IN = {"customer_id": "cust-1", "verified_by": "storefront"}


def recommend_action(
    store: FakeOrderStore | None = None, hub: FakeHub | None = None
) -> ActionRecommendProducts:
    store = store or FakeOrderStore()
    return ActionRecommendProducts(search(), store, ActionHandoff(hub or FakeHub(), store))


def question_action(hub: FakeHub | None = None) -> ActionAnswerProductQuestion:
    return ActionAnswerProductQuestion(
        search(), FakeOrderStore(), ActionHandoff(hub or FakeHub(), FakeOrderStore())
    )


async def test_the_recommendation_action_lists_picks_with_prices_and_reasons() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="product_recommendation", text="something for running under $100")
    events = await recommend_action().run(dispatcher, tracker, {})
    first, second = dispatcher.messages[0], dispatcher.messages[1]
    assert (first["response"], first["budget"]) == ("utter_product_picks_budget", "under $100")
    assert second["response"] == "utter_product_pick_use"
    assert (second["rank"], second["product"], second["price"], second["reason"]) == (
        1,
        "Sport earbuds",
        "$59",
        "running",
    )
    options = next(e for e in events if e["name"] == "product_options")["value"]
    assert options[0] == "EAR-SPORT-01"
    assert SlotSet("product_id", None if len(options) > 1 else options[0]) in events


async def test_the_recommendation_action_speaks_chinese_prices_in_yuan() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"language": "zh"}, intent="product_recommendation", text="500以内的跑步耳机推荐")
    await recommend_action().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["budget"] == "¥500以内"
    assert (dispatcher.messages[1]["product"], dispatcher.messages[1]["price"]) == ("运动耳机", "¥399")


async def test_nothing_in_the_budget_is_said_with_the_closest_option() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="product_recommendation", text="running headphones under $20")
    events = await recommend_action().run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_product_none_in_budget",
        "utter_product_closest",
    ]
    assert dispatcher.messages[1]["product"] == "Sport earbuds"
    assert SlotSet("product_id", "EAR-SPORT-01") in events


async def test_a_signed_in_customer_gets_the_accessory_that_fits_what_they_bought() -> None:
    store = FakeOrderStore(
        order("cust-1", "HDP-NC-01"), order("cust-1", "PWR-BANK-20", OrderStatus.CANCELLED, "SO-10000002")
    )
    assert await owned_products(store, make_tracker(metadata=SIGNED_IN), CATALOG) == ["HDP-NC-01"]
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(metadata=SIGNED_IN, intent="product_recommendation", text="do you have a charger?")
    await recommend_action(store).run(dispatcher, tracker, {})
    pick = dispatcher.messages[1]
    assert (pick["response"], pick["product"], pick["reason"]) == (
        "utter_product_pick_owned",
        "USB-C charger",
        "Noise-cancelling headphones",
    )


async def test_orders_proved_in_the_conversation_count_and_others_do_not() -> None:
    store = FakeOrderStore(
        order("cust-9", "JKT-RAIN-BK-M"), order("cust-8", "HDP-NC-01", number="SO-10000003")
    )
    proven = make_tracker({"verified_orders": ["SO-10000001"]})
    assert await owned_products(store, proven, CATALOG) == ["JKT-RAIN"]
    assert await owned_products(store, make_tracker(), CATALOG) == []


async def test_a_need_the_catalogue_cannot_meet_goes_to_presales() -> None:
    hub = FakeHub()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="product_recommendation", text="I want to buy a boat")
    await recommend_action(hub=hub).run(dispatcher, tracker, {})
    assert hub.packets[0]["reason"] == "presales_question"
    assert dispatcher.messages[0]["response"] == "utter_product_ask_colleague"


async def test_the_question_action_answers_and_remembers_the_product() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="product_question", text="is a charger included with the power bank")
    events = await question_action().run(dispatcher, tracker, {})
    assert dispatcher.messages[0] == {
        **dispatcher.messages[0],
        "response": "utter_product_in_the_box",
        "product": "Power bank",
        "value": "power bank; USB-C cable",
    }
    assert events == [SlotSet("product_id", "PWR-BANK-20")]
    follow_up = CollectingDispatcher()
    tracker = make_tracker({"product_id": "PWR-BANK-20"}, intent="product_question", text="is it in stock?")
    await question_action().run(follow_up, tracker, {})
    assert follow_up.messages[0]["response"] == "utter_product_in_stock"


async def test_the_question_action_answers_specs_and_prices_in_chinese() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"language": "zh"}, intent="product_question", text="降噪耳机多重")
    await question_action().run(dispatcher, tracker, {})
    assert dispatcher.messages[0] == {
        **dispatcher.messages[0],
        "response": "utter_product_spec",
        "product": "降噪耳机",
        "attribute": "重量",
        "value": "250克",
    }
    prices = CollectingDispatcher()
    tracker = make_tracker(
        {"language": "zh", "product_id": "HDP-NC-01"}, intent="product_question", text="多少钱"
    )
    await question_action().run(prices, tracker, {})
    assert (prices.messages[0]["response"], prices.messages[0]["value"]) == ("utter_product_price", "¥1,299")


async def test_an_unclear_product_goes_to_presales_with_the_candidates() -> None:
    hub = FakeHub()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="product_question", text="do the headphones work with iPhone")
    events = await question_action(hub).run(dispatcher, tracker, {})
    packet = hub.packets[0]
    assert packet["reason"] == "presales_question"
    assert set(packet["slots"]["product_options"]) == {"HDP-NC-01", "HDP-KIDS-01"}
    assert dispatcher.messages[0]["response"] == "utter_product_ask_colleague"
    assert all(m.get("response") not in ("utter_product_compatibility",) for m in dispatcher.messages)
    assert SlotSet("product_id", None) in events


async def test_an_unanswerable_attribute_goes_to_presales_with_the_product() -> None:
    hub = FakeHub()
    tracker = make_tracker(intent="product_question", text="is the face cream safe during pregnancy")
    await question_action(hub).run(CollectingDispatcher(), tracker, {})
    assert hub.packets[0]["reason"] == "presales_question"
    assert hub.packets[0]["slots"]["product_id"] == "CRM-HYD-50"


async def test_a_broken_catalogue_is_a_backend_error() -> None:
    class Broken:
        catalog = CATALOG

        async def identify(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("encoder missing")

    hub = FakeHub()
    action = ActionAnswerProductQuestion(Broken(), FakeOrderStore(), ActionHandoff(hub, FakeOrderStore()))  # type: ignore[arg-type]
    await action.run(CollectingDispatcher(), make_tracker(intent="product_question", text="how much?"), {})
    assert hub.packets[0]["reason"] == "backend_error"


def test_prices_and_budgets_are_written_as_shops_write_them() -> None:
    assert price_text(199.0, "USD") == "$199"
    assert price_text(1299.5, "CNY") == "¥1,299.50"
    assert budget_text(Budget("USD", 50, 100), "en") == "between $50 and $100"
    assert budget_text(Budget("CNY", None, 500), "zh") == "¥500以内"
    assert budget_text(Budget("CNY", 500, None), "zh") == "¥500以上"


def test_every_response_the_actions_send_has_both_languages() -> None:
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    source = (ROOT / "actions" / "products.py").read_text(encoding="utf-8")
    sent = set(re.findall(r'"(utter_product_[a-z_]+)"', source))
    assert sent == set(domain["responses"])  # none missing, none unused
    for name, variations in domain["responses"].items():
        languages = [v["condition"][0]["value"] for v in variations]
        assert sorted(languages) == ["en", "zh"], name
    assert {"product_id", "product_options"} <= set(domain["slots"])
    assert {"action_recommend_products", "action_answer_product_question"} <= set(domain["actions"])


async def test_a_short_follow_up_to_a_policy_answer_is_read_by_the_knowledge_base_not_presales() -> None:
    hub = FakeHub()
    said = "what about boots, same 30 days?"
    answered = [
        {"event": "user", "text": "how long do i have to return a jacket", "parse_data": {}},
        {"event": "slot", "name": "kb_answer", "value": {"article_id": "en-returns-window"}},
        {"event": "user", "text": said, "parse_data": {}},
    ]
    tracker = make_tracker(intent="product_question", text=said, events=answered)
    assert await question_action(hub).run(CollectingDispatcher(), tracker, {}) == [
        FollowupAction("action_answer_from_kb")
    ]
    assert hub.packets == []
    fresh = make_tracker(intent="product_question", text=said)  # nothing answered before: pre-sales
    await question_action(hub).run(CollectingDispatcher(), fresh, {})
    assert hub.packets[0]["reason"] == "presales_question"
