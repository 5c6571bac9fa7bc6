"""Return eligibility: a pure function of the order, the item, the reason, today and the policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from actions.orders.model import Order, OrderItem, OrderStatus


class PolicyError(ValueError):
    """The policy file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class CategoryRule:
    returnable: bool
    window_days: int
    accepted_conditions: frozenset[str]


@dataclass(frozen=True)
class ReturnPolicy:
    default: CategoryRule
    categories: dict[str, CategoryRule]
    agent_reasons: dict[str, str]  # return reason -> handoff reason
    refund_processing_days: int
    refund_arrival_days: dict[str, str]

    def rule_for(self, category: str) -> CategoryRule:
        return self.categories.get(category, self.default)

    @classmethod
    def from_file(cls, path: Path) -> ReturnPolicy:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(f"{path}: invalid return policy: {exc}") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReturnPolicy:
        default = _rule(data["default"], None)
        return cls(
            default=default,
            categories={name: _rule(raw, default) for name, raw in (data.get("categories") or {}).items()},
            agent_reasons=dict(data.get("agent_reasons") or {}),
            refund_processing_days=int(data["refund"]["processing_business_days"]),
            refund_arrival_days={k: str(v) for k, v in data["refund"]["arrival_business_days"].items()},
        )


def _rule(raw: dict[str, Any], default: CategoryRule | None) -> CategoryRule:
    returnable = bool(raw.get("returnable", True))
    window = int(raw.get("window_days", default.window_days if default else 0))
    if returnable and window < 0:
        raise ValueError(f"window_days must be >= 0, got {window}")
    conditions = raw.get("accepted_conditions")
    accepted = (
        frozenset(conditions)
        if conditions is not None
        else (default.accepted_conditions if default else frozenset())
    )
    return CategoryRule(returnable=returnable, window_days=window, accepted_conditions=accepted)


class Outcome(StrEnum):
    ELIGIBLE = "eligible"
    NOT_DELIVERED = "not_delivered"
    ALREADY_RETURNED = "already_returned"
    CANCELLED = "cancelled"
    NON_RETURNABLE = "non_returnable"
    OUTSIDE_WINDOW = "outside_window"
    CONDITION = "condition_not_accepted"
    NEEDS_AGENT = "needs_agent"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    window_days: int = 0
    days_left: int = 0
    handoff_reason: str | None = None

    @property
    def eligible(self) -> bool:
        return self.outcome is Outcome.ELIGIBLE


def decide(order: Order, item: OrderItem, reason: str | None, today: date, policy: ReturnPolicy) -> Decision:
    """Decide a return request. Reasons the policy reserves for people (damage, wrong item) always go
    to an agent, whatever the window, because they need photos and judgement."""
    if order.status is OrderStatus.CANCELLED:
        return Decision(Outcome.CANCELLED)
    if order.status is OrderStatus.RETURNED:
        return Decision(Outcome.ALREADY_RETURNED)
    if order.status is not OrderStatus.DELIVERED or order.delivered_on is None:
        return Decision(Outcome.NOT_DELIVERED)
    if reason in policy.agent_reasons:
        return Decision(Outcome.NEEDS_AGENT, handoff_reason=policy.agent_reasons[reason])
    rule = policy.rule_for(item.category)
    if not rule.returnable:
        return Decision(Outcome.NON_RETURNABLE, handoff_reason="policy_exception")
    days_since = (today - order.delivered_on).days
    days_left = rule.window_days - days_since
    if days_left < 0:
        return Decision(Outcome.OUTSIDE_WINDOW, rule.window_days, days_left, handoff_reason="outside_window")
    if item.condition not in rule.accepted_conditions:
        return Decision(Outcome.CONDITION, rule.window_days, days_left, handoff_reason="policy_exception")
    return Decision(Outcome.ELIGIBLE, rule.window_days, days_left)
