"""Who may see and change an order: pure rules, no I/O.

A conversation may act on an order when the channel vouches for its owner (a signed storefront identity, a
REST backend holding the token, a phone number Telegram verified) or when the customer proved the order in
this conversation with a detail only its owner knows: the email, the postcode or the phone number on it.
Comparisons are constant-time, and a wrong order number and a wrong detail look the same to the customer.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any

from actions.orders.model import Order
from common.patterns import ORDER_ID

#: How a channel vouched for the customer (the hub's `verified_by` metadata); anything else is ignored.
CHANNEL_VERIFICATIONS = frozenset({"storefront", "rest_token", "telegram_contact"})
ORDER_CHECK = "order_check"
PHONE_SUFFIX_DIGITS = 4  # "the last four digits of your phone", as Chinese shops ask

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().-]*\d|\d")
_POSTCODE_IN_ADDRESS = re.compile(
    r"\b\d{5}(?:-\d{4})?\b"  # US ZIP
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"  # UK
    r"|(?<!\d)\d{6}(?!\d)"  # mainland China, Singapore, India
    r"|\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b"  # Canada
)


def channel_identity(metadata: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(customer_id, verified_phone, verified_by) that the hub vouched for in the message metadata."""
    verified_by = metadata.get("verified_by")
    if verified_by not in CHANNEL_VERIFICATIONS:
        return None, None, None
    customer = metadata.get("customer_id")
    phone = metadata.get("verified_phone")
    return (
        customer if isinstance(customer, str) and customer else None,
        phone if isinstance(phone, str) and phone else None,
        str(verified_by),
    )


def access_by_channel(
    order: Order, customer_id: str | None, verified_phone: str | None, verified_by: str | None
) -> str | None:
    """How the channel's identity proves this order ("storefront", ...), or None."""
    if verified_by is None:
        return None
    if customer_id is not None and _same(order.customer_id, customer_id):
        return verified_by
    if verified_phone is not None and order.phone and _same(_digits(order.phone), _digits(verified_phone)):
        return verified_by
    return None


def postcode_of(address: str) -> str:
    """The postcode in a shipping address, normalised; "" when it has none."""
    match = _POSTCODE_IN_ADDRESS.search(address.upper())
    return _normal_postcode(match.group(0)) if match else ""


def detail_matches(order: Order, text: str) -> bool:
    """Whether the customer's answer names the order's email, postcode or phone (or its last 4 digits)."""
    text = ORDER_ID.sub(" ", text)  # "SO-10001021, 94105", "SO-10001021尾号4006": the number is no detail
    emails = [e.lower() for e in _EMAIL.findall(text)]
    rest = _EMAIL.sub(" ", text)
    runs = [_digits(run) for run in _DIGIT_RUN.findall(rest)]
    words = [t for t in re.split(r"[\s,;，；。]+", rest.upper()) if t]
    # "M3 2BW": a postcode may be typed as two words.
    tokens = [_normal_postcode(t) for t in words] + [_normal_postcode(a + b) for a, b in pairwise(words)]
    checks = [
        _any_same(emails, order.email.lower()),
        _any_same(tokens + runs, order.postcode),
        _phone_matches(runs, _digits(order.phone)),
    ]
    return any(checks)


# Words that say a short number is the phone's end: "last 4 of my phone 0108", "尾号4006".
_PHONE_END_CUE = re.compile(r"(?i)last\s*(?:4|four)|ending|phone|mobile|tel|尾号|手机|电话|后四位")


def offers_detail(text: str) -> bool:
    """Whether a message carries, besides order numbers, something given as proof: an email, a postcode, a
    phone number, or four digits said to end the phone ("SO-10009122 isla@example.com")."""
    text = ORDER_ID.sub(" ", text)  # "我SO-10009205这单": no word boundary between Chinese and the number
    if _EMAIL.search(text) or _POSTCODE_IN_ADDRESS.search(text.upper()):
        return True
    runs = [_digits(run) for run in _DIGIT_RUN.findall(text)]
    if any(len(run) >= 7 for run in runs):
        return True
    return any(len(run) == PHONE_SUFFIX_DIGITS for run in runs) and _PHONE_END_CUE.search(text) is not None


def _phone_matches(runs: list[str], phone: str) -> bool:
    """The whole number, with or without its country code, or only its last four digits."""
    if not phone:
        return False
    found = False
    for run in runs:
        if len(run) == PHONE_SUFFIX_DIGITS:
            found |= _same(run, phone[-PHONE_SUFFIX_DIGITS:])
            continue
        # With or without the country code, and national numbers with their trunk 0 ("0161 …" for +44 161 …).
        for candidate in {run, run.lstrip("0")}:
            width = min(len(candidate), len(phone))
            if width >= 7:
                found |= _same(candidate[-width:], phone[-width:])
    return found


def verified_orders(value: Any) -> list[str]:
    """The `verified_orders` slot as a list of order ids."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _any_same(candidates: Iterable[str], secret: str) -> bool:
    """Constant-time in the secret's content; an empty secret never matches."""
    if not secret:
        return False
    found = False
    for candidate in candidates:
        found |= _same(candidate, secret)
    return found


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _normal_postcode(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())
