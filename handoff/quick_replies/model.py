"""The quick-reply template and the closed sets it draws on: languages, categories and variables."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

LANGUAGES = ("en", "zh")
CATEGORIES = (
    "greeting",
    "orders",
    "shipping",
    "returns",
    "refunds",
    "payment",
    "invoice",
    "warranty",
    "account",
    "promotions",
    "privacy",
    "escalation",
    "closing",
    "general",
)
# The only variables a template may use, with where each value comes from. A closed set means a typo
# such as {order_no} fails the check instead of blocking every agent who picks the template.
VARIABLES: dict[str, str] = {
    "customer_name": "packet slots.customer_name or order.customer_name (not sent today: the agent types it)",
    "agent_name": "the signed-in agent's display name, supplied by the console",
    "customer_email": "the last `email` entity the customer typed, else slots.email",
    "order_id": "slots.order_id (the order the conversation is about), else order.id",
    "order_status": "order.status, worded in the conversation's language",
    "order_total": "order.total with order.currency, e.g. $59.90 or ¥299.00",
    "item_name": "the order's only item (name_zh in Chinese if sent), else slots.item as the customer put it",
    "delivery_date": "order.delivered_on (the day it was delivered), formatted for the language",
    "eta": "order.eta (estimated delivery) when the packet's order carries it",
    "carrier": "order.carrier when the packet's order carries it",
    "tracking_number": "order.tracking_number when the packet's order carries it",
    "return_number": "slots/order return_number, else the last RA-number the assistant quoted in the chat",
    "new_address": "slots.new_address (the address the customer gave in the change-address form)",
    "refund_amount": "order total when the order is returned (what the assistant quoted); otherwise typed",
    "coupon_code": "typed by the agent: coupons are issued outside the conversation",
    "points_balance": "typed by the agent: the packet carries no membership data",
    "ticket_id": "packet ticket_id if present, else the conversation_id",
}

_BRACED = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Template:
    id: str
    language: str
    shortcut: str
    title: str
    category: str
    text: str
    variables: tuple[str, ...]
    # The file it was read from (en.yml, ...): where the studio writes it back. Not part of equality.
    file: str = field(default="", compare=False)


def template_variables(text: str) -> tuple[str, ...]:
    """Variables in order of first use; ValueError describes the first problem found."""
    problems = text_problems(text)
    if problems:
        raise ValueError(problems[0])
    return known_variables(text)


def known_variables(text: str) -> tuple[str, ...]:
    """The vocabulary's variables a text uses, in order of first use, whatever else is wrong with it."""
    names = (match.group(1) for match in _BRACED.finditer(text))
    return tuple(dict.fromkeys(name for name in names if name in VARIABLES))


def text_problems(text: str) -> list[str]:
    """Every problem with a text's {variables}, in order; empty when the text is fine."""
    problems: list[str] = []
    for match in _BRACED.finditer(text):
        name = match.group(1)
        if not _NAME.fullmatch(name):
            problem = f"malformed variable {{{name}}}: variables are {{snake_case}} names"
        elif name not in VARIABLES:
            close = difflib.get_close_matches(name, VARIABLES, n=1)
            hint = f" (did you mean {{{close[0]}}}?)" if close else ""
            problem = f"unknown variable {{{name}}}{hint}"
        else:
            continue
        if problem not in problems:
            problems.append(problem)
    leftover = _BRACED.sub("", text)
    if "{" in leftover or "}" in leftover:
        problems.append("unbalanced brace: '{' and '}' may only surround a variable name")
    return problems
