"""The returns flow: which item, why, and whether the policy lets the assistant authorise it."""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import conversation
from actions.handoff import ActionHandoff
from actions.order_changes import ReadBack, form_start
from actions.order_forms import (
    CHECK_SLOT,
    OrderIdValidation,
    corrects_order_number,
    is_correction,
    previous_value,
    read_back_answer,
    read_back_value,
)
from actions.orders.access import actor_for, order_access
from actions.orders.action import offer_person_when_stuck
from actions.orders.attempts import AttemptLimiter
from actions.orders.lookup import find_customer_order, lookup_order
from actions.orders.model import Order, OrderItem, OrderStatus
from actions.orders.store import OrderStore
from actions.providers import order_store, reason_classifier, return_policy
from actions.refund_status import OVERDUE, refund_report
from actions.returns.items import excludes, match_item, matching_items, meant_in_message, only_names_an_item
from actions.returns.policy import Outcome, ReturnPolicy, decide
from actions.returns.reasons import OTHER, ReasonClassifier
from common.formatting import CONDITIONS, PAYMENT_METHODS, RETURN_REASONS, format_money, label

RETURN_FORM = "return_form"
logger = logging.getLogger(__name__)

REASONS = {"damaged", "wrong_size", "wrong_item", "not_as_described", "changed_mind", OTHER}
DEFAULT_CARRIER = {"en": "UPS", "zh": "顺丰"}
CANCEL_INSTEAD = {"en": "Cancel order {order_id}", "zh": "取消订单 {order_id}"}


def item_name(item: OrderItem, language: str) -> str:
    return item.name_zh if language == "zh" else item.name


# A no to the return itself, not a reason: the form stops.
_STOP_RETURN = re.compile(
    r"(?i)\b(?:(?:don'?t|do not|no longer)\s+(?:want|need)\s+to\s+(?:return|send)|never ?mind|forget it"
    r"|keep it|i'?ll keep|stop)\b|不退了|不想退|不用退|先不退|算了|不退"
)


# Words of a detail given as proof, which the understanding sometimes tags as an item ("手机" is a product).
_CONTACT_WORD = re.compile(r"(?i)手机|手机号|电话|邮箱|邮编|phone|mobile|cell|e-?mail|post ?code|zip")


# How much clearer than the question's own bar a reason tagged before the question must be.
UNASKED_MARGIN = 0.15


class ValidateReturnForm(OrderIdValidation):
    def __init__(
        self,
        store: OrderStore | None = None,
        limiter: AttemptLimiter | None = None,
        reasons: ReasonClassifier | None = None,
        policy: ReturnPolicy | None = None,
        today: date | None = None,
    ) -> None:
        super().__init__(store, limiter)
        self._reasons = reasons
        self._policy = policy
        self._today = today

    def name(self) -> str:
        return "validate_return_form"

    def slots_for_order(self, slots: list[str], order: Order, tracker: Tracker) -> list[str]:
        # The read-back is for a return the policy lets the assistant authorise; anything else is explained.
        if order.status is not OrderStatus.DELIVERED:
            # Not delivered, cancelled or returned: the answer is the same for every item and reason.
            return [slot for slot in slots if slot not in ("item", "return_reason", "confirm_return")]
        item = order.item(str(tracker.get_slot("item") or ""))
        reason = tracker.get_slot("return_reason")
        if item is None or reason is None:
            return slots
        policy = self._policy or return_policy()
        if decide(order, item, str(reason), self._today or date.today(), policy).eligible:
            return slots
        return [slot for slot in slots if slot != "confirm_return"]

    async def on_verified(self, order: Order, tracker: Tracker) -> dict[str, Any]:
        """The item named earlier in the conversation, or the only one of the order. An entity that fits
        several items ("rain jacket" of three) is read again in its whole message, without what it keeps:
        "the blue rain jacket, keeping the other two" is the blue one."""
        named = tracker.get_slot("item")
        item = match_item(order, named) if isinstance(named, str) else None
        if item is None and len(order.items) == 1:
            item = order.items[0]  # nothing to choose
        recent = _since_the_request(tracker)
        told = next((text for text in reversed(recent) if excludes(text)), None)
        if told and (meant := meant_in_message(order, told)) is not None:
            item = meant  # "send back the face cream … the lipstick im keeping": not the lipstick
        if item is None:
            item = next((m for text in reversed(recent) if (m := meant_in_message(order, text))), None)
        return {"item": item.sku if item is not None else None, **self._reason_told(recent, tracker)}

    def _reason_told(self, recent: list[str], tracker: Tracker) -> dict[str, Any]:
        """A reason the customer told before the order was proven ("SO-… 面霜发错了"), when a cue word settles
        it: not asked again, even where the understanding tagged no reason in those words."""
        if tracker.get_slot("return_reason") is not None:
            return {}
        language = conversation.language(tracker)
        try:
            reasons = self._reasons or reason_classifier()
        except Exception:  # the question is asked instead
            logger.warning("actions.returns.reasons_unavailable", exc_info=True)
            return {}
        for text in reversed(recent):
            if corrects_order_number(text):
                continue
            category = reasons.cued(text, language)
            if category is not None:
                return {"return_reason": category, "return_reason_text": text}
        return {}

    async def validate_item(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if is_correction(tracker):
            return {"item": None}
        requested = tracker.get_slot("requested_slot")
        if requested == CHECK_SLOT or (
            requested != "item" and _CONTACT_WORD.fullmatch(str(value or "").strip())
        ):
            # Proof, not an item: "手机" of "手机尾号4006". The check, once passed, fills the item
            # (on_verified) in this same validation, and nothing here may overwrite it.
            return {}
        order = await lookup_order(self.store, tracker.get_slot("order_id"), tracker)
        if order is None:
            return {"item": value}  # matched once the order is proven (on_verified)
        candidates = matching_items(order, str(value or ""))
        asked = requested == "item"
        text = str((tracker.latest_message or {}).get("text") or "")
        meant = meant_in_message(order, text) if text and text != value and excludes(text) else None
        if meant is not None:
            candidates = [meant]  # "the running ones, not the boots": the boots are named to leave them out
        elif len(candidates) != 1 and text and text != value:
            # The entity is a fragment ("L" of "the black one in size L", "夹克" of "黑色L码那件夹克"): the
            # whole message may be clearer, without what it keeps ("另外两件留着") when nobody asked.
            if asked:
                candidates = matching_items(order, text) or candidates
            elif (meant := meant_in_message(order, text)) is not None:
                candidates = [meant]
        if not asked and len(candidates) != 1:
            # Something item-like in an answer to another question ("it leaks" as a reason): keep the item.
            return {"item": previous_value(tracker, "item")}
        if len(candidates) == 1:
            return {"item": candidates[0].sku}
        if candidates:  # "the jacket" of three jackets: which one (the question comes with their buttons)
            names = ", ".join(item_name(i, conversation.language(tracker)) for i in candidates)
            dispatcher.utter_message(response="utter_item_ambiguous", items=names)
        else:
            dispatcher.utter_message(response="utter_item_not_in_order", item=str(value), order_id=order.id)
        return {"item": None}

    async def validate_return_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        asked = tracker.get_slot("requested_slot") == "return_reason"
        latest = str((tracker.latest_message or {}).get("text") or "")
        if not asked and corrects_order_number(latest):
            # "发错了 是SO-…": the number was wrong, not the parcel.
            return {"return_reason": previous_value(tracker, "return_reason")}
        if value in REASONS:  # a button, or an entity the understanding found
            return {"return_reason": value}
        if is_correction(tracker):
            return {"return_reason": None}
        # The whole answer, not just an entity the understanding cut out of it.
        text = str((tracker.latest_message or {}).get("text") if asked else value or "").strip() or str(
            value or ""
        )
        if not text:
            return {"return_reason": None}
        if not asked and await self._names_an_item(text, tracker):
            # "the black one" tagged as a reason while the item was asked: it says which, not why.
            return {"return_reason": previous_value(tracker, "return_reason")}
        if asked and await self._only_names_an_item(text, tracker):
            return {"return_reason": None}  # "跑步鞋" when asked why: the question is asked again
        try:
            reasons = self._reasons or reason_classifier()
            language = conversation.language(tracker)
            match = await reasons.classify(text, language)
            # Before the question a tag must be clearly a reason: one the understanding cut from another
            # part of the message ("一件夹克" of "SO-… 我想退一件夹克") is only just nearest some reason.
            clear = asked or match.score >= reasons.threshold(language) + UNASKED_MARGIN
            category = match.category if clear else OTHER
        except Exception:  # without the sentence vectors the words are still worth keeping
            logger.warning("actions.returns.reason_unclassified", exc_info=True)
            category = OTHER
        logger.info(
            "actions.returns.reason", extra={"category": category, "conversation_id": tracker.sender_id}
        )
        if category == OTHER and not asked:
            # An entity the understanding tagged before the question ("退货" in "我要退货"): unless it means
            # a known reason, ask; a stray tag must not decide the policy check without the customer. A
            # reason already given stands ("孩子玩了两天就不玩了" retold at the read-back).
            return {"return_reason": previous_value(tracker, "return_reason")}
        return {"return_reason": category, "return_reason_text": text}

    async def _names_an_item(self, words: str, tracker: Tracker) -> bool:
        order = await lookup_order(self.store, tracker.get_slot("order_id"), tracker)
        return order is not None and bool(matching_items(order, words))

    async def _only_names_an_item(self, words: str, tracker: Tracker) -> bool:
        order = await lookup_order(self.store, tracker.get_slot("order_id"), tracker)
        return order is not None and only_names_an_item(order, words)

    async def extract_return_reason(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A reason the understanding read as a no ("don't need it anymore, changed my mind", "不需要了"):
        asked why, a reason's cue words answer, and the return goes on rather than stopping."""
        message = tracker.latest_message or {}
        if (
            tracker.get_slot("requested_slot") != "return_reason"
            or (message.get("intent") or {}).get("name") != "deny"
        ):
            return {}
        text = str(message.get("text") or "")
        if _STOP_RETURN.search(text):
            return {}  # "I don't want to return it anymore": a no to the return itself
        try:
            category = (self._reasons or reason_classifier()).cued(text, conversation.language(tracker))
        except Exception:
            logger.warning("actions.returns.reasons_unavailable", exc_info=True)
            return {}
        return {} if category is None else {"return_reason": category, "return_reason_text": text}

    async def extract_confirm_return(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return read_back_answer(tracker, "confirm_return")

    async def validate_confirm_return(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"confirm_return": read_back_value(value, tracker)}


def _since_the_request(tracker: Tracker) -> list[str]:
    """The customer's last three messages, none from before the message that started the return: a
    "不想要了" about another item earlier in the chat is not this return's reason."""
    events = list(tracker.events)
    start = form_start(events, RETURN_FORM)
    said = [(index, str(e.get("text") or "")) for index, e in enumerate(events) if e.get("event") == "user"]
    if start is not None:
        opening = max((index for index, _ in said if index < start), default=-1)
        said = [(index, text) for index, text in said if index >= opening]
    return [text for _, text in said][-3:]


class ActionAskConfirmReturn(ReadBack):
    """Reads the return back (item, order, refund and where it goes) before it is authorised."""

    def name(self) -> str:
        return "action_ask_confirm_return"

    def read_back(self, order: Order, tracker: Tracker, language: str) -> tuple[str, dict[str, Any]]:
        item = order.item(str(tracker.get_slot("item") or "")) or order.items[0]
        reason = str(tracker.get_slot("return_reason") or OTHER)
        return "utter_confirm_return", {
            "item": item_name(item, language),
            "reason": label(RETURN_REASONS, reason, language),
            "amount": format_money(item.price * item.quantity, order.currency),
            "payment_method": label(PAYMENT_METHODS, order.payment_method, language),
        }


class ActionAskItem(Action):
    """Offers the order's items as buttons."""

    def __init__(self, store: OrderStore | None = None) -> None:
        self._store = store

    def name(self) -> str:
        return "action_ask_item"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = conversation.language(tracker)
        _, order = await find_customer_order(self._store or order_store(), tracker)
        items = order.items if order else ()
        buttons = [
            {"title": item_name(i, language), "payload": f'/inform{{"item":"{i.sku}"}}'} for i in items
        ]
        dispatcher.utter_message(response="utter_ask_item", buttons=buttons)
        return []


class ActionCheckReturn(Action):
    """Applies the return policy; authorises, explains, or hands the case to a person."""

    def __init__(
        self,
        store: OrderStore | None = None,
        policy: ReturnPolicy | None = None,
        handoff: ActionHandoff | None = None,
        today: date | None = None,
    ) -> None:
        self._store = store
        self._policy = policy
        self._handoff = handoff or ActionHandoff(store=store)
        self._today = today

    def name(self) -> str:
        return "action_check_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        store = self._store or order_store()
        stuck = offer_person_when_stuck(dispatcher, tracker)
        if stuck is not None:
            return stuck
        reset = [
            SlotSet(slot, None)
            for slot in ("item", "return_reason", "return_reason_text", "order_check", "confirm_return")
        ]
        try:
            order_id, order = await find_customer_order(store, tracker)
            item = order.item(str(tracker.get_slot("item"))) if order else None
            if order is not None and item is None and order.status is not OrderStatus.DELIVERED:
                item = order.items[0]  # the order's state decides, whichever item (slots_for_order)
            if order is None or item is None:
                locked = tracker.get_slot("order_check") == "locked"
                if locked:
                    dispatcher.utter_message(response="utter_order_check_locked")
                else:
                    dispatcher.utter_message(response="utter_order_not_found", order_id=order_id or "")
                return [*reset, SlotSet("order_id", None), SlotSet("return_outcome", "not_returnable_yet")]
            return [*reset, *await self._decide(dispatcher, tracker, store, order, item)]
        except Exception:
            logger.exception("actions.returns.backend_error", extra={"conversation_id": tracker.sender_id})
            events = await self._handoff.handoff(dispatcher, tracker, "backend_error")
            return [*reset, SlotSet("return_outcome", "needs_agent"), *events]

    async def _decide(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        store: OrderStore,
        order: Order,
        item: OrderItem,
    ) -> list[EventType]:
        language = conversation.language(tracker)
        policy = self._policy or return_policy()
        reason = tracker.get_slot("return_reason")
        decision = decide(order, item, reason, self._today or date.today(), policy)
        names = {"order_id": order.id, "item": item_name(item, language)}
        if decision.eligible and tracker.get_slot("confirm_return") != "yes":
            dispatcher.utter_message(response="utter_change_not_made", order_id=order.id)
            return [SlotSet("return_outcome", "declined")]
        if decision.eligible:
            actor = actor_for(tracker, order_access(order, tracker))
            words = tracker.get_slot("return_reason_text")
            recorded = (
                f"{reason}: {words}" if words else str(reason)
            )  # the customer's words for the warehouse
            authorisation = await store.create_return(order.id, item.sku, recorded, actor)
            dispatcher.utter_message(
                response="utter_return_authorised",
                **names,
                return_number=authorisation.number,
                days_left=max(decision.days_left, 1),
                carrier=order.carrier or DEFAULT_CARRIER[language],
                amount=format_money(item.price * item.quantity, order.currency),
                payment_method=label(PAYMENT_METHODS, order.payment_method, language),
                processing_days=policy.refund_processing_days,
                arrival_days=policy.refund_arrival_days.get(order.payment_method, "3-7"),
            )
            return [SlotSet("return_outcome", "authorised")]
        decided = SlotSet(
            "policy_decision",
            {
                "order_id": order.id,
                "sku": item.sku,
                "outcome": decision.outcome.value,
                "window_days": decision.window_days,
                "days_left": decision.days_left,
                "reason": str(reason),
            },
        )
        if decision.outcome is Outcome.NEEDS_AGENT:
            dispatcher.utter_message(response="utter_return_needs_agent", **names)
            # The next rule runs action_handoff with this reason.
            return [
                SlotSet("return_outcome", "needs_agent"),
                SlotSet("handoff_reason", decision.handoff_reason),
                decided,
            ]
        if decision.outcome in (Outcome.OUTSIDE_WINDOW, Outcome.NON_RETURNABLE, Outcome.CONDITION):
            dispatcher.utter_message(
                response=f"utter_return_{decision.outcome.value}",
                **names,
                window_days=decision.window_days,
                condition=label(CONDITIONS, item.condition, language),
            )
            # The customer may insist: the next rule offers a person with this reason.
            return [
                SlotSet("return_outcome", "offer_agent"),
                SlotSet("handoff_reason", decision.handoff_reason),
                decided,
            ]
        if decision.outcome is Outcome.ALREADY_RETURNED:
            # The customer who says "return" about a returned order wants to know about the money.
            dispatcher.utter_message(
                response="utter_return_already_returned", **names, return_number=order.return_number or ""
            )
            response, values = refund_report(order, policy, language, self._today)
            dispatcher.utter_message(response=response, **values)
            if response == OVERDUE:
                return [SlotSet("return_outcome", "needs_agent"), SlotSet("handoff_reason", "refund_overdue")]
            return [SlotSet("return_outcome", "not_returnable_yet")]
        buttons = []
        if decision.outcome is Outcome.NOT_DELIVERED and order.cancellable:
            # "Don't need it anymore" before it ships is a cancellation: one tap, then the usual read-back.
            title = CANCEL_INSTEAD[language].format(order_id=order.id)
            buttons = [{"title": title, "payload": f'/cancel_order{{"order_id":"{order.id}"}}'}]
        dispatcher.utter_message(
            response=f"utter_return_{decision.outcome.value}",
            **names,
            return_number=order.return_number or "",
            buttons=buttons,
        )
        return [SlotSet("return_outcome", "not_returnable_yet")]
