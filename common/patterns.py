"""Patterns for entities with a fixed written form: order numbers, emails, phone numbers, amounts.

Pure Python so the action server can normalise slot values with the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

# An order number is 8 digits, written "SO-12345678", "so 12345678", "#12345678", "订单号12345678" or bare.
# Not part of a longer number or a decimal ("12345678.90"); a full stop ending the sentence is fine.
ORDER_ID = re.compile(r"(?:\b[Ss][Oo][-\s]?|#)?(?<!\d)(?<!\d\.)(\d{8})(?!\d)(?!\.\d)")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE = re.compile(
    r"(?<![\d])(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}(?![\d])"  # mainland mobile, 11 digits
    r"|(?:\+1[-\s]?)?\(?\d{3}\)?[-\s.]\d{3}[-\s.]\d{4}(?![\d])"  # North American
)
AMOUNT = re.compile(
    r"(?:[$¥￥]\s?\d+(?:[.,]\d{1,2})?)|(?:\d+(?:\.\d{1,2})?\s?(?:元|块钱|块|dollars?|usd|rmb|RMB|USD))"
)


class Match(NamedTuple):
    entity: str
    value: str
    start: int
    end: int


def normalise_order_id(text: str) -> str | None:
    """Canonical "SO-12345678" for any accepted written form, or None."""
    m = ORDER_ID.search(text)
    return f"SO-{m.group(1)}" if m else None


def find_entities(text: str) -> Iterator[Match]:
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    # Emails and phones first: their digits must not be read as an order number.
    for m in EMAIL.finditer(text):
        taken.append(m.span())
        yield Match("email", m.group(0).lower(), *m.span())
    for m in PHONE.finditer(text):
        if free(*m.span()):
            taken.append(m.span())
            yield Match("phone", re.sub(r"[^\d+]", "", m.group(0)), *m.span())
    for m in ORDER_ID.finditer(text):
        if free(*m.span()):
            taken.append(m.span())
            yield Match("order_id", f"SO-{m.group(1)}", *m.span())
    for m in AMOUNT.finditer(text):
        if free(*m.span()):
            taken.append(m.span())
            number = re.search(r"\d+(?:[.,]\d{1,2})?", m.group(0))
            yield Match("amount", number.group(0).replace(",", ".") if number else m.group(0), *m.span())
