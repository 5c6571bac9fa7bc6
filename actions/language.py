"""Slots Rasa fills after every customer message from the message itself: the conversation's language,
detected from the text; a reply-variant experiment's variant, from the hub's metadata; and the order a
proactive message was about, from the hub's metadata on the customer's reply to it.

A message without letters (a bare order number), a button payload or a short Latin reply in a Chinese
conversation ("ok thx") keeps the language the conversation already has.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction
from rasa_sdk.types import DomainDict

from common.language import language_after
from common.patterns import ORDER_ID, normalise_order_id


class ValidateSlotMappings(ValidationAction):
    async def extract_language(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(tracker.latest_message.get("text") or "")
        if text.startswith("/"):
            return {}
        language = language_after(text, tracker.get_slot("language"))
        return {} if language is None else {"language": language}

    async def extract_reply_variant(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The variant the hub assigned (metadata `experiments.reply_variant.variant`) when the domain has
        responses for it; otherwise None, the control, so an unknown name never leaves a response without a
        variation to say."""
        meta = tracker.latest_message.get("metadata") or {}
        wanted = ((meta.get("experiments") or {}).get("reply_variant") or {}).get("variant")
        variant = wanted if isinstance(wanted, str) and wanted in reply_variants(domain) else None
        return {} if variant == tracker.get_slot("reply_variant") else {"reply_variant": variant}

    async def extract_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The order of the proactive message the customer is answering (metadata `proactive.order_id`,
        which only the hub sets), so "where is it?" needs no order number. Proving the order is still the
        forms' job. An order number in the message itself wins, and a form busy with another question
        keeps its order."""
        meta = tracker.latest_message.get("metadata") or {}
        order_id = proactive_order_id(meta.get("proactive"))
        if order_id is None or order_id == tracker.get_slot("order_id") or _names_an_order(tracker):
            return {}
        if tracker.active_loop_name and tracker.get_slot("requested_slot") not in (None, "order_id"):
            return {}
        return {"order_id": order_id}


def proactive_order_id(context: Any) -> str | None:
    """The canonical order number in the hub's reply context ({"order_id", "trigger"}), or None when the
    context is missing or its order_id is not an order number."""
    raw = context.get("order_id") if isinstance(context, dict) else None
    if not isinstance(raw, str) or len(raw) > 32 or not ORDER_ID.fullmatch(raw.strip()):
        return None  # the whole value, not an order number somewhere in it
    return normalise_order_id(raw)


def _names_an_order(tracker: Tracker) -> bool:
    entities = tracker.latest_message.get("entities") or []
    return any(isinstance(e, dict) and e.get("entity") == "order_id" for e in entities)


def reply_variants(domain: DomainDict) -> frozenset[str]:
    """The variant names the domain's responses have variations for."""
    return frozenset(
        str(condition.get("value"))
        for variations in (domain.get("responses") or {}).values()
        for variation in variations or []
        for condition in variation.get("condition") or []
        if condition.get("name") == "reply_variant" and condition.get("value") is not None
    )
