"""Slots Rasa fills after every customer message from the message itself: the conversation's language,
detected from the text, and a reply-variant experiment's variant, from the hub's metadata.

A message without letters (a bare order number) or a button payload keeps the language the conversation
already has.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction
from rasa_sdk.types import DomainDict

from common.language import detect_language


class ValidateSlotMappings(ValidationAction):
    async def extract_language(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(tracker.latest_message.get("text") or "")
        if text.startswith("/"):
            return {}
        language = detect_language(text)
        if language is None or language == tracker.get_slot("language"):
            return {}
        return {"language": language}

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


def reply_variants(domain: DomainDict) -> frozenset[str]:
    """The variant names the domain's responses have variations for."""
    return frozenset(
        str(condition.get("value"))
        for variations in (domain.get("responses") or {}).values()
        for variation in variations or []
        for condition in variation.get("condition") or []
        if condition.get("name") == "reply_variant" and condition.get("value") is not None
    )
