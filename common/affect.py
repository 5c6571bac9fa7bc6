"""The vocabulary of affect shared by the assistant, the action server and the hub.

Risk flags are listed most serious first: a message with several flags is handed off for the first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FRUSTRATION_LEVELS = ("calm", "annoyed", "angry")
RISK_FLAGS = ("injury", "fraud", "legal", "counterfeit", "repeat_contact")
#: The Rasa action that offers a person to a frustrated customer: the escalation policy predicts it, the
#: action server runs it, and a handoff right after it has the reason `frustrated`.
OFFER_PERSON_ACTION = "action_offer_person"


def ordered_flags(flags: Iterable[str]) -> list[str]:
    """The known flags among `flags`, most serious first, each once."""
    present = set(flags)
    return [flag for flag in RISK_FLAGS if flag in present]


def risk_flags(affect: Mapping[str, Any] | None) -> list[str]:
    """The known flags of a parse's `affect`, most serious first; anything malformed counts as none."""
    raw = (affect or {}).get("risk") if isinstance(affect, Mapping) else None
    return ordered_flags(raw) if isinstance(raw, list | tuple) else []


def frustration(affect: Mapping[str, Any] | None) -> str:
    level = (affect or {}).get("frustration") if isinstance(affect, Mapping) else None
    return level if level in FRUSTRATION_LEVELS else "calm"
