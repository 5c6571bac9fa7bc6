"""Product questions and recommendations, answered from the store's catalogue (data/catalog/products.yml).

A question is answered only from the catalogue: when the product or the attribute asked about is not
clear, or the catalogue does not hold the answer, a person from the pre-sales queue answers instead
(reason `presales_question`), never a guess. The product the assistant last spoke about is kept in the
`product_id` slot (and the products it just offered in `product_options`), so "is it waterproof?" and
"the second one" are understood.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.handoff import ActionHandoff
from actions.knowledge import follows_an_answer
from actions.orders.lookup import lookup_order
from actions.orders.model import Order, OrderStatus
from actions.orders.store import OrderStore
from actions.orders.verification import verified_orders
from actions.providers import knowledge_base, order_store
from common.formatting import format_money
from kb_index.products.budget import Budget, currency_of

if TYPE_CHECKING:
    from kb_index.products.catalog import Catalog
    from kb_index.products.search import Pick, ProductSearch

logger = logging.getLogger(__name__)

CATALOG_FILE = Path(__file__).resolve().parents[1] / "data" / "catalog" / "products.yml"
PRESALES = "presales_question"
KB_ACTION = "action_answer_from_kb"
RECENT_ORDERS = 10  # a signed-in customer's orders searched for what they own
NOT_OWNED = frozenset({OrderStatus.CANCELLED, OrderStatus.RETURNED, OrderStatus.PENDING})
ATTRIBUTE_RESPONSES = {
    "price": "utter_product_price",
    "sizes": "utter_product_sizes",
    "colors": "utter_product_colors",
    "in_the_box": "utter_product_in_the_box",
    "compatibility": "utter_product_compatibility",
    "warnings": "utter_product_warnings",
    "materials": "utter_product_materials",
    "care": "utter_product_care",
}
PICK_RESPONSES = {
    "use": "utter_product_pick_use",
    "audience": "utter_product_pick_audience",
    "summary": "utter_product_pick_summary",
    "owned": "utter_product_pick_owned",
    "fits": "utter_product_pick_fits",
}
BUDGET_WORDS = {
    "en": {"max": "under {high}", "min": "over {low}", "range": "between {low} and {high}"},
    "zh": {"max": "{high}以内", "min": "{low}以上", "range": "{low}到{high}之间"},
}


@cache
def product_search() -> ProductSearch:
    """The catalogue, searched with the knowledge base's encoders (loaded on the first question)."""
    from kb_index.products.catalog import load_catalog
    from kb_index.products.search import ProductSearch

    kb = knowledge_base()
    return ProductSearch(load_catalog(CATALOG_FILE), kb.embed, space=kb.version)


def price_text(amount: float, currency: str) -> str:
    """ "$199", "¥1,299": whole amounts without cents, as shops show prices."""
    text = format_money(amount, currency)
    return text[:-3] if text.endswith(".00") else text


def budget_text(budget: Budget, language: str) -> str:
    words = BUDGET_WORDS[language]
    low = price_text(budget.low, budget.currency) if budget.low is not None else ""
    high = price_text(budget.high, budget.currency) if budget.high is not None else ""
    shape = "range" if low and high else ("max" if high else "min")
    return words[shape].format(low=low, high=high)


async def owned_products(store: OrderStore, tracker: Tracker, catalog: Catalog) -> list[str]:
    """Catalogue ids of what the customer bought: the signed-in customer's recent orders and the orders
    they proved in this conversation (cancelled, returned and unpaid orders do not count). Anonymous
    customers own nothing here."""
    orders: list[Order] = []
    try:
        customer = conversation.customer_id(tracker)
        if customer:
            orders += await store.recent_for_customer(customer, RECENT_ORDERS)
        for order_id in verified_orders(tracker.get_slot("verified_orders")):
            order = await lookup_order(store, order_id, tracker)
            if order is not None and all(o.id != order.id for o in orders):
                orders.append(order)
    except Exception:  # recommendations work without the order history
        logger.warning("actions.products.orders_failed", exc_info=True)
        return []
    owned: list[str] = []
    for order in orders:
        if order.status in NOT_OWNED:
            continue
        for item in order.items:
            product = catalog.by_sku(item.sku)
            if product is not None and product.id not in owned:
                owned.append(product.id)
    return owned


class _ProductAction(Action, ABC):
    """What both product actions share: the search, the order store and the hand-off to pre-sales."""

    def __init__(
        self,
        search: ProductSearch | None = None,
        store: OrderStore | None = None,
        handoff: ActionHandoff | None = None,
    ) -> None:
        self._search = search
        self._store = store
        self._handoff = handoff or ActionHandoff()

    @abstractmethod
    def name(self) -> str: ...

    def search(self) -> ProductSearch:
        return self._search or product_search()

    async def to_presales(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, slots: dict[str, Any]
    ) -> list[EventType]:
        """Hand the question to the pre-sales queue, with the products considered in the packet's slots."""
        dispatcher.utter_message(response="utter_product_ask_colleague")
        tracker.slots.update(slots)  # the packet is built from this turn's tracker: let it show them
        events: list[EventType] = [SlotSet(name, value) for name, value in slots.items()]
        return [*events, *await self._handoff.handoff(dispatcher, tracker, PRESALES)]

    async def failed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        logger.exception("actions.products.failed", extra={"conversation_id": tracker.sender_id})
        return await self._handoff.handoff(dispatcher, tracker, "backend_error")


class ActionRecommendProducts(_ProductAction):
    def name(self) -> str:
        return "action_recommend_products"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = conversation.language(tracker)
        text = str(tracker.latest_message.get("text") or "")
        try:
            search = self.search()
            owned = await owned_products(self._store or order_store(), tracker, search.catalog)
            found = await search.recommend(text, language, owned)
        except Exception:
            return await self.failed(dispatcher, tracker)
        if not found.understood:
            return await self.to_presales(dispatcher, tracker, {"product_options": None})
        budget = budget_text(found.budget, language) if found.budget else ""
        if not found.picks and found.closest is not None:
            closest = found.closest
            dispatcher.utter_message(response="utter_product_none_in_budget", budget=budget)
            dispatcher.utter_message(
                response="utter_product_closest",
                product=closest.product.name.get(language),
                price=price_text(closest.product.price.amount(found.currency), found.currency),
            )
            return [
                SlotSet("product_id", closest.product.id),
                SlotSet("product_options", [closest.product.id]),
            ]
        dispatcher.utter_message(
            response="utter_product_picks_budget" if budget else "utter_product_picks", budget=budget
        )
        for rank, pick in enumerate(found.picks, start=1):
            dispatcher.utter_message(**self.pick_message(pick, rank, language, found.currency))
        ids = [p.product.id for p in found.picks]
        return [SlotSet("product_id", ids[0] if len(ids) == 1 else None), SlotSet("product_options", ids)]

    @staticmethod
    def pick_message(pick: Pick, rank: int, language: str, currency: str) -> dict[str, Any]:
        return {
            "response": PICK_RESPONSES.get(pick.reason_kind, "utter_product_pick_summary"),
            "rank": rank,
            "product": pick.product.name.get(language),
            "price": price_text(pick.product.price.amount(currency), currency),
            "reason": pick.reason,
        }


class ActionAnswerProductQuestion(_ProductAction):
    def name(self) -> str:
        return "action_answer_product_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = conversation.language(tracker)
        text = str(tracker.latest_message.get("text") or "")
        remembered = tracker.get_slot("product_id")
        options = tracker.get_slot("product_options")
        try:
            search = self.search()
            identified = await search.identify(
                text,
                language,
                remembered if isinstance(remembered, str) else None,
                [o for o in options if isinstance(o, str)] if isinstance(options, list) else [],
            )
            product = identified.product
            currency = currency_of(text, language)[0]
            answer = await search.answer(product, text, language, currency) if product else None
        except Exception:
            return await self.failed(dispatcher, tracker)
        if product is None and follows_an_answer(tracker):
            return [FollowupAction(KB_ACTION)]  # a follow-up to a policy answer names no product
        if product is None:
            candidates = [p.id for p in identified.candidates] or None
            return await self.to_presales(
                dispatcher, tracker, {"product_id": None, "product_options": candidates}
            )
        if answer is None or answer.attribute is None:
            return await self.to_presales(dispatcher, tracker, {"product_id": product.id})
        attribute = answer.attribute
        variables = {"product": product.name.get(language), "value": attribute.value}
        if attribute.key == "price":
            variables["value"] = price_text(product.price.amount(currency), currency)
        if attribute.key == "stock":
            response = "utter_product_in_stock" if product.in_stock else "utter_product_out_of_stock"
        elif attribute.key.startswith("specs:"):
            response = "utter_product_spec"
            variables["attribute"] = attribute.name
        else:
            response = ATTRIBUTE_RESPONSES[attribute.key]
        dispatcher.utter_message(response=response, **variables)
        return [SlotSet("product_id", product.id)]
