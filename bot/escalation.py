"""When the assistant steps aside at once: the escalation rule behind bot.policies.escalation, free of Rasa.

A risk flag on the customer's latest message (injury, fraud, legal threat, counterfeit, repeat contact) hands
the conversation to a person whatever the topic; frustration that stays high for several turns in a row makes
the assistant offer a person (once per run of frustrated turns). Settings live in config.yml.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.affect import FRUSTRATION_LEVELS, OFFER_PERSON_ACTION, RISK_FLAGS, frustration, risk_flags

HANDOFF_ACTION = "action_handoff"
#: Intents whose rules hand off by themselves: offering a person to someone who asked for one is a loop.
HANDS_OFF_ITSELF = frozenset({"request_human", "complain", "request_exception"})
OFFER_ACTION = OFFER_PERSON_ACTION
LISTEN = "action_listen"


class EscalationSettingsError(ValueError):
    """config.yml's escalation settings are invalid; the message names the setting."""


@dataclass(frozen=True)
class EscalationSettings:
    risk_flags: frozenset[str] = frozenset(RISK_FLAGS)
    high_frustration: frozenset[str] = frozenset({"angry"})
    frustrated_turns: int = 2

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EscalationSettings:
        flags = config.get("risk_flags", list(RISK_FLAGS))
        levels = config.get("high_frustration", ["angry"])
        turns = config.get("frustrated_turns", 2)
        if not isinstance(flags, list) or not set(flags) <= set(RISK_FLAGS):
            raise EscalationSettingsError(f"risk_flags must be a list of {RISK_FLAGS}, not {flags!r}")
        if not isinstance(levels, list) or not set(levels) <= set(FRUSTRATION_LEVELS[1:]):
            raise EscalationSettingsError(f"high_frustration must list annoyed/angry, not {levels!r}")
        if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
            raise EscalationSettingsError(f"frustrated_turns must be a positive integer, not {turns!r}")
        return cls(frozenset(flags), frozenset(levels), turns)


@dataclass(frozen=True)
class Step:
    """One event of the conversation: a customer message (with its affect) or an action the bot ran."""

    affect: Mapping[str, Any] | None = None  # set for customer messages (None for button payloads)
    action: str | None = None
    intent: str | None = None  # the customer message's intent

    @property
    def is_user(self) -> bool:
        return self.action is None


def next_action(history: Sequence[Step], settings: EscalationSettings) -> str | None:
    """The action escalation demands right after the latest customer message, or None. After its own
    action it waits for the customer: no rule covers a handoff after, say, an order question."""
    if len(history) >= 2 and history[-1].action in (HANDOFF_ACTION, OFFER_ACTION) and history[-2].is_user:
        ours = next_action(history[:-1], settings)
        return LISTEN if ours == history[-1].action else None
    if not history or not history[-1].is_user:
        return None
    if set(risk_flags(history[-1].affect)) & settings.risk_flags:
        return HANDOFF_ACTION
    if history[-1].intent in HANDS_OFF_ITSELF:
        return None
    frustrated = 0
    for step in reversed(history):
        if step.action == OFFER_ACTION:
            return None  # offered during this run of frustrated turns already
        if step.is_user:
            if frustration(step.affect) not in settings.high_frustration:
                break
            frustrated += 1
    return OFFER_ACTION if frustrated >= settings.frustrated_turns else None
