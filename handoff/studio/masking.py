"""Personal data out of customer messages before they become training examples.

Each order number, email, phone number, payment card and Chinese ID number is replaced with a fixed,
clearly fake value of the same kind, so the example still reads naturally and still teaches "a message
with an order number" (the pattern extractor in common/patterns.py recognises the fake values). Masking
a masked text changes nothing.

Digits and symbols typed full-width (１３８…, ＠) are matched like their ASCII forms; Chinese text has
no spaces around numbers, so every rule looks only at neighbouring digits, never at word boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from common.language import detect_language
from common.patterns import EMAIL

FAKE_EMAIL = "name@example.com"
FAKE_ORDER_DIGITS = "12345678"  # the store's own example: "SO-12345678"
FAKE_CN_MOBILE = "13000000000"
FAKE_PHONE = "202-555-0100"  # 555-0100..0199 are reserved for fiction in North America
# A card or ID number after words that name it becomes X's ("card number XXXX XXXX XXXX XXXX"),
# elsewhere a phrase ("charged my card twice"): either way the sentence still reads naturally.
CARD_PHRASE = {"en": "my card", "zh": "我的银行卡"}
CARD_REDACTED = "XXXX XXXX XXXX XXXX"
ID_PHRASE = {"en": "my ID number", "zh": "我的身份证号"}
ID_REDACTED = "X" * 18

# Full-width ASCII (U+FF01..U+FF5E), the ideographic space and typographic dashes, one character each,
# so a match on the folded text has the same span in the original.
_FOLD = str.maketrans(
    {
        **{chr(0xFF01 + i): chr(0x21 + i) for i in range(94)},
        "\u3000": " ",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
    }
)

# Digits run together or in groups ("4111 1111 1111 1111", "3782-822463-10005"); 13 to 19 in all.
_CARD = re.compile(r"(?<![\d.,])(?:\d{13,19}|\d{4,6}(?:[ -]\d{3,7}){2,4})(?!\d|[.,]\d)")
_CN_ID = re.compile(
    r"(?<![\dA-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])"
)
_CN_MOBILE = re.compile(r"(?<![\dA-Za-z+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
_NORTH_AMERICAN = re.compile(
    r"(?<![\dA-Za-z+.,])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-]?)\d{3}[ .-]?\d{4}(?!\d|[.,]\d)"
)
# "+44 20 7946 0958", "+49 (30) 1234567", "0044 ...": the digits decide (8 to 15, as E.164 allows).
_INTERNATIONAL = re.compile(
    r"(?<![\dA-Za-z+])(?:\+|00)\d{1,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,4})){2,6}(?!\d|[.,]\d)"
)
# A national number with its trunk 0: "020 7946 0958", "010-12345678", "0755-1234 5678"; 10 to 12 digits.
_NATIONAL = re.compile(r"(?<![\dA-Za-z.,/:-])0\d{1,4}(?:[ .-]?\d{2,5}){1,3}(?!\d|[.,/:]\d)")
# Eight digits on their own, as the store writes order numbers (common/patterns.py), also before a full
# stop; amounts ("$12345678", "12345678元") are not order numbers.
_ORDER_DIGITS = re.compile(r"(?<![\d.,])\d{8}(?!\d|[.,]\d)")
_AMOUNT_AFTER = re.compile(r"\s?(?:元|块|dollars?\b|usd\b|rmb\b)", re.IGNORECASE)
_CURRENCY_BEFORE = re.compile(r"[$¥￥€£]\s?$")
_CARD_NAMED = re.compile(r"(?:\bcard(?: number| no\.?| #)?(?: is)?|卡号?(?:是)?)[ :#]*$", re.IGNORECASE)
_ID_NAMED = re.compile(r"(?:\bID(?: number| no\.?)?(?: is)?|身份证(?:号码|号)?(?:是)?)[ :#]*$", re.IGNORECASE)


class Masked(NamedTuple):
    text: str
    kinds: tuple[str, ...]  # what was replaced, sorted: "card", "email", "id_number", "order_id", "phone"


class _Span(NamedTuple):
    start: int
    end: int
    kind: str
    replacement: str


def mask(text: str) -> Masked:
    """`text` with personal data replaced by fake values of the same kind, and the kinds it held."""
    folded = text.translate(_FOLD)
    language = "zh" if detect_language(folded) == "zh" else "en"
    taken: list[_Span] = []
    # Longest and most specific first: a card's or an email's digits must not be read as a phone number.
    for finder in (_emails, _cards, _id_numbers, _phones, _order_numbers):
        for span in finder(folded, language):
            if all(span.end <= t.start or span.start >= t.end for t in taken):
                taken.append(span)
    kinds: set[str] = set()
    masked = text
    for span in sorted(taken, key=lambda s: s.start, reverse=True):
        if text[span.start : span.end] == span.replacement:
            continue  # already a fake value
        kinds.add(span.kind)
        masked = masked[: span.start] + span.replacement + masked[span.end :]
    return Masked(masked, tuple(sorted(kinds)))


def _emails(text: str, language: str) -> Iterator[_Span]:
    for m in EMAIL.finditer(text):
        yield _Span(m.start(), m.end(), "email", FAKE_EMAIL)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _cards(text: str, language: str) -> Iterator[_Span]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        # UnionPay (62...) numbers do not all carry a Luhn check digit.
        unionpay = digits.startswith("62") and len(digits) >= 16
        if 13 <= len(digits) <= 19 and (luhn_valid(digits) or unionpay) and not _is_cn_id(digits):
            named = _CARD_NAMED.search(text[: m.start()])
            yield _Span(m.start(), m.end(), "card", CARD_REDACTED if named else CARD_PHRASE[language])


def _is_cn_id(candidate: str) -> bool:
    """A mainland resident ID: 17 digits and an ISO 7064 MOD 11-2 check character."""
    if not re.fullmatch(r"\d{17}[\dXx]", candidate):
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(candidate[:17], weights, strict=True))
    return "10X98765432"[total % 11] == candidate[17].upper()


def _id_numbers(text: str, language: str) -> Iterator[_Span]:
    for m in _CN_ID.finditer(text):
        if _is_cn_id(m.group(0)):
            named = _ID_NAMED.search(text[: m.start()])
            yield _Span(m.start(), m.end(), "id_number", ID_REDACTED if named else ID_PHRASE[language])


def _digit_count(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _phones(text: str, language: str) -> Iterator[_Span]:
    for m in _CN_MOBILE.finditer(text):
        yield _Span(m.start(), m.end(), "phone", FAKE_CN_MOBILE)
    for m in _NORTH_AMERICAN.finditer(text):
        yield _Span(m.start(), m.end(), "phone", FAKE_PHONE)
    for m in _INTERNATIONAL.finditer(text):
        if 8 <= _digit_count(m.group(0)) - (2 if m.group(0).startswith("00") else 0) <= 15:
            yield _Span(m.start(), m.end(), "phone", FAKE_PHONE)
    for m in _NATIONAL.finditer(text):
        if 10 <= _digit_count(m.group(0)) <= 12:
            yield _Span(m.start(), m.end(), "phone", FAKE_PHONE)


def _order_numbers(text: str, language: str) -> Iterator[_Span]:
    for m in _ORDER_DIGITS.finditer(text):
        if _CURRENCY_BEFORE.search(text[: m.start()]) or _AMOUNT_AFTER.match(text, m.end()):
            continue
        # Only the digits change: the customer's written form ("SO-", "#", "订单号") stays.
        yield _Span(m.start(), m.end(), "order_id", FAKE_ORDER_DIGITS)
