"""The vocabulary of affect shared by the assistant, the action server and the hub.

Risk flags are listed most serious first: a message with several flags is handed off for the first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FRUSTRATION_LEVELS = ("calm", "annoyed", "angry")
RISK_FLAGS = ("injury", "fraud", "legal", "counterfeit", "repeat_contact")


def most_serious(flags: Iterable[str]) -> str | None:
    present = set(flags)
    return next((flag for flag in RISK_FLAGS if flag in present), None)


def risk_flags(affect: Mapping[str, Any] | None) -> list[str]:
    """The known flags of a parse's `affect`, most serious first; anything malformed counts as none."""
    raw = (affect or {}).get("risk") if isinstance(affect, Mapping) else None
    flags = set(raw) if isinstance(raw, list | tuple) else set()
    return [flag for flag in RISK_FLAGS if flag in flags]


def frustration(affect: Mapping[str, Any] | None) -> str:
    level = (affect or {}).get("frustration") if isinstance(affect, Mapping) else None
    return level if level in FRUSTRATION_LEVELS else "calm"
