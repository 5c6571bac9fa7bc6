"""The conversation's language, detected from each customer message and remembered in the `language` slot.

Rasa runs this after every customer message. A message without letters (a bare order number) or a
button payload keeps the language the conversation already has.
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
