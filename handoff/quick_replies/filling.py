"""Filling a template's {variables}: the values the handoff packet (the console's context card) already
knows, and the substitution that leaves the rest visible for the agent to type."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

# Pure formatting helpers with no rasa dependency: the console then words statuses, dates and money
# exactly as the assistant did earlier in the same conversation.
from common.formatting import STATUSES, format_date, format_money, label
from handoff.quick_replies.model import LANGUAGES

_VARIABLE = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_RETURN_NUMBER = re.compile(r"\bRA-\d{6}\b")


@dataclass(frozen=True)
class Filled:
    """The text to show in the compose box, and the variables the agent still has to fill in."""

    text: str
    missing: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.missing


def fill(template_text: str, context: Mapping[str, str | None]) -> Filled:
    """Substitute the variables that have a value; leave the rest visible as {name} for the agent.

    Values go in verbatim: escaping for HTML or any other output is the renderer's job, and doing it
    here would double-escape. Whitespace-only values count as missing (they would read as a gap).
    Substitution is a single pass, so a value that itself contains "{x}" is never expanded.
    """
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = context.get(name)
        if value is not None and value.strip():
            return value
        if name not in missing:
            missing.append(name)
        return match.group(0)

    return Filled(_VARIABLE.sub(substitute, template_text), tuple(missing))


def context_from_conversation(packet: Mapping[str, Any] | None, agent_name: str | None) -> dict[str, str]:
    """Variable values known from the handoff packet (see actions/handoff.py build_packet).

    Only non-empty values are returned; anything absent stays for the agent to fill. Keys the packet
    does not carry today (carrier, tracking_number, eta, customer_name) are read when present, so
    extending the packet fills them without touching the console.
    """
    context: dict[str, str] = {}

    def put(name: str, *candidates: object) -> None:
        for candidate in candidates:
            value = _text(candidate)
            if value:
                context[name] = value
                return

    put("agent_name", agent_name)
    if not packet:
        return context
    raw_language = packet.get("language")
    language = raw_language if isinstance(raw_language, str) and raw_language in LANGUAGES else "en"
    slots = _mapping(packet.get("slots"))
    order = _mapping(packet.get("order"))
    entities = _entity_values(packet.get("entities"))
    status = _text(order.get("status"))

    put("customer_name", slots.get("customer_name"), order.get("customer_name"), packet.get("customer_name"))
    put("customer_email", entities.get("email"), slots.get("email"))
    put("order_id", slots.get("order_id"), order.get("id"), order.get("order_id"), entities.get("order_id"))
    put("order_status", label(STATUSES, status, language) if status else None)
    total = _money(order.get("total"), order.get("currency"))
    put("order_total", total)
    if status == "returned":  # the assistant quotes the order total as the refund of a returned order
        put("refund_amount", total)
    put("item_name", _item_name(order, slots, language))
    put("delivery_date", _date(order.get("delivered_on"), language))
    put("eta", _date(order.get("eta"), language))
    put("carrier", order.get("carrier"))
    put("tracking_number", order.get("tracking_number"))
    put(
        "return_number",
        slots.get("return_number"),
        order.get("return_number"),
        _quoted_return_number(packet.get("transcript")),
    )
    put("new_address", slots.get("new_address"))
    put("ticket_id", packet.get("ticket_id"), packet.get("conversation_id"))
    return context


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _entity_values(entities: object) -> dict[str, str]:
    """The last value of each entity type; a later mention corrects an earlier one."""
    values: dict[str, str] = {}
    if isinstance(entities, list):
        for entity in entities:
            if isinstance(entity, Mapping) and isinstance(entity.get("entity"), str):
                value = _text(entity.get("value"))
                if value:
                    values[entity["entity"]] = value
    return values


def _money(total: object, currency: object) -> str | None:
    if isinstance(total, bool) or not isinstance(total, int | float):
        return None
    return format_money(float(total), currency) if isinstance(currency, str) and currency else f"{total:.2f}"


def _date(value: object, language: str) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return format_date(date.fromisoformat(value[:10]), language) or None
    except ValueError:
        return None


def _item_name(order: Mapping[str, Any], slots: Mapping[str, Any], language: str) -> str | None:
    # With one item in the order its catalogue name is exact; with several, only the customer's own
    # words (the `item` slot) say which one they mean.
    items = order.get("items")
    only = items[0] if isinstance(items, list) and len(items) == 1 and isinstance(items[0], Mapping) else {}
    localised = only.get("name_zh") if language == "zh" else only.get("name")
    return _text(localised) or _text(slots.get("item")) or _text(only.get("name"))


def _quoted_return_number(transcript: object) -> str | None:
    """The authorisation the assistant gave this customer: the packet has no field for it yet."""
    if not isinstance(transcript, list):
        return None
    for line in reversed(transcript):
        if isinstance(line, Mapping) and line.get("author") == "bot" and isinstance(line.get("text"), str):
            found = _RETURN_NUMBER.findall(line["text"])
            if found:
                return str(found[-1])
    return None
