"""A shopper's budget read from their message: a ceiling, a floor or a range, and its currency.

    "$100", "under 100 dollars", "less than 80", "between 50 and 100", "around $60", "a hundred bucks"
    "100以内", "500元以下", "不超过300块", "预算两百", "200到300元", "两三百", "300左右", "1千以内", "2k以内"

An amount counts as money only with a currency ($, dollars, 元, 块, RMB, ¥ ...), a limit word beside it
(under, at most, 以内, 不超过 ...) or a budget word just before it (budget, 预算), or as a bare range
("200-300"): so "170cm 65kg", "iPhone 15" and "kids under 10 years" are not budgets. Without a stated
currency an English message means dollars and a Chinese one yuan. "Around N" allows N -50%..+15%,
"N多" N..+30%.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

APPROX_BELOW = 0.5  # "around 100": 50 ...
APPROX_ABOVE = 0.15  # ... to 115
A_BIT_OVER = 0.3  # "五百多", "五百出头": 500 to 650
DEFAULT_CURRENCY = {"en": "USD", "zh": "CNY"}

_EN_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_EN_SCALES = {"hundred": 100, "thousand": 1000, "grand": 1000}
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}  # fmt: skip
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_MULTIPLIERS = {"k": 1000, "千": 1000, "百": 100, "万": 10000}

_EN_WORD = "|".join([*_EN_UNITS, *_EN_SCALES])
_AMOUNT = re.compile(
    r"(?P<arabic>(?<![A-Za-z0-9.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s?(?:k(?![a-z])|千|百|万))?)"
    r"|(?P<zh_range>[一二两三四五六七八九][二三四五六七八九][十百千万])"
    r"|(?P<zh>[零〇一二两三四五六七八九十百千万]*[十百千万][零〇一二两三四五六七八九十百千万]*)"
    rf"|(?P<en>\b(?:(?:a|one)\s+)?(?:{_EN_WORD})(?:[\s-]+(?:and\s+)?(?:{_EN_WORD}))*\b)"
)
_USD_AFTER = re.compile(r"^\s*(?:dollars?|bucks?|usd|us\$|美元|美金|刀)", re.I)
_CNY_AFTER = re.compile(r"^\s*(?:rmb|cny|yuan|块钱|块|元|人民币)", re.I)
_USD_BEFORE = re.compile(r"(?:\$|usd|us\$)\s*$", re.I)
_CNY_BEFORE = re.compile(r"(?:¥|￥|rmb|cny|人民币)\s*$", re.I)
_CURRENCY_WORD_USD = re.compile(r"\$|\b(?:dollars?|bucks|usd)\b|美元|美金", re.I)
_CURRENCY_WORD_CNY = re.compile(r"[¥￥元块]|\b(?:rmb|cny|yuan)\b|人民币", re.I)
# A number followed by one of these measures something else.
_NOT_MONEY_AFTER = re.compile(
    r"^\s*(?:cm|mm|m\b|km|kg|g\b|lbs?|ml|l\b|mah|w\b|v\b|hz|gb|tb|inch|in\b|\"|'|hours?|hrs?|h\b|min|"
    r"years?|yrs?|yo\b|months?|days?|pcs|pieces?|pack|x\b|%|th\b|st\b|nd\b|rd\b|"
    r"岁|斤|公斤|千克|克|厘米|公分|毫米|米|毫升|升|毫安|码|号|寸|英寸|小时|分钟|个月|天|周|人|件|个|双|片|瓦|伏|级|度|代|款|期)",
    re.I,
)
_AGE_BEFORE = re.compile(
    r"\b(?:kids?|child(?:ren)?|toddlers?|bab(?:y|ies)|ages?d?|boys?|girls?)\s+\w*\s*$", re.I
)
_MAX_BEFORE = re.compile(
    r"(?:\b(?:under|below|less\s+than|lower\s+than|cheaper\s+than|up\s+to|upto|at\s+most|max(?:imum)?|"
    r"no\s+more\s+than|not\s+more\s+than|within|not\s+over|no\s+higher\s+than|"
    r"(?:don'?t|do\s+not|won'?t|can'?t|cannot)\s+(?:want\s+to\s+)?(?:spend|pay|go)\s+(?:more\s+than|over|above))|"
    r"不超过|不超出|别超过|不高于|低于|少于|不到|最多|最高|顶多|控制在)\s*(?:\$|us\$|¥|￥|rmb)?\s*$",
    re.I,
)
_MAX_AFTER = re.compile(
    r"^\s*(?:dollars?|bucks?|usd|rmb|cny|yuan|块钱|块|元|美元|美金|刀)?\s*"
    r"(?:以内|以下|之内|之下|内|封顶|为限|或以下|or\s+(?:less|under|below|cheaper)|max(?:imum)?\b|tops\b|at\s+most)",
    re.I,
)
_MIN_BEFORE = re.compile(
    r"(?:\b(?:over|above|more\s+than|at\s+least|higher\s+than|starting\s+at)|超过|高于|至少|起码|不低于|最少|大于)"
    r"\s*(?:\$|us\$|¥|￥|rmb)?\s*$",
    re.I,
)
_MIN_AFTER = re.compile(
    r"^\s*(?:dollars?|bucks?|usd|rmb|cny|yuan|块钱|块|元|美元|美金|刀)?\s*"
    r"(?:以上|起|or\s+more|and\s+up|plus\b|\+)",
    re.I,
)
_APPROX_BEFORE = re.compile(
    r"(?:\b(?:around|about|roughly|approximately|approx\.?|circa)|~|大概|大约|差不多|约)\s*(?:\$|us\$|¥|￥|rmb)?\s*$",
    re.I,
)
_APPROX_AFTER = re.compile(
    r"^\s*(?:dollars?|bucks?|usd|rmb|cny|yuan|块钱|块|元|美元|美金|刀)?\s*(?:左右|上下|or\s+so|ish\b)",
    re.I,
)
_A_BIT_OVER_AFTER = re.compile(r"^(?:多|出头)")  # "五百多": five hundred and something
_BUDGET_BEFORE = re.compile(
    r"(?:\b(?:budget|spend|spending|afford|price\s+range|pay)\b|预算|价位|价格在|价钱在|花)[^.。!！?？\d]{0,12}$",
    re.I,
)
_BETWEEN_BEFORE = re.compile(r"(?:\b(?:between|from)|在|从|介于)\s*(?:\$|us\$|¥|￥|rmb)?\s*$", re.I)
_RANGE_JOIN = re.compile(
    r"\s*(?:dollars?|bucks?|usd|rmb|yuan|块钱|块|元)?\s*(?:-|–|—|~|～|to|and|至|到)\s*(?:\$|us\$|¥|￥|rmb)?\s*",
    re.I,
)
_CODE_BEFORE_DIGIT = re.compile(r"(rmb|usd|cny)(?=\d)")
# A bare range right after one of these is a model or a size ("iPhone 13-15", "尺码42-44"), not a price.
_NOT_MONEY_BEFORE = re.compile(r"(?:[a-z]\s*|码|号|身高|体重|型号|第|尺寸)$", re.I)


@dataclass(frozen=True)
class Budget:
    currency: str  # USD or CNY
    low: float | None = None
    high: float | None = None
    stated_currency: bool = False  # the message named it, rather than the language implying it

    def allows(self, price: float) -> bool:
        return (self.low is None or price >= self.low) and (self.high is None or price <= self.high)

    def distance(self, price: float) -> float:
        """How far outside the budget a price is, as a share of the nearer limit; 0 inside it."""
        if self.high is not None and price > self.high:
            return (price - self.high) / max(self.high, 1.0)
        if self.low is not None and price < self.low:
            return (self.low - price) / max(self.low, 1.0)
        return 0.0


@dataclass(frozen=True)
class _Amount:
    value: float
    start: int
    end: int
    currency: str | None
    upper: float | None = None  # "两三百" is itself a range: 200 (value) to 300


def currency_of(text: str, language: str) -> tuple[str, bool]:
    """(currency, stated): the one the message names ($, dollars, 元, 块, RMB, ¥ ...), else the language's."""
    usd = _CURRENCY_WORD_USD.search(text)
    cny = _CURRENCY_WORD_CNY.search(text)
    if usd and (not cny or usd.start() < cny.start()):
        return "USD", True
    if cny:
        return "CNY", True
    return DEFAULT_CURRENCY.get(language, "USD"), False


def parse_budget(text: str, language: str) -> Budget | None:
    """The budget in the message, or None when it names none."""
    return _parse(text, language)[0]


def without_budget(text: str, language: str) -> str:
    """The message (lowercased) without its budget ("headphones for running under $100": "headphones
    for running"), so the rest can be matched by meaning."""
    lowered, spans = _parse(text, language)[1:]
    for start, end in sorted(spans, reverse=True):
        lowered = lowered[:start] + " " + lowered[end:]
    return re.sub(r"\s+", " ", lowered).strip(" ,，。")


def _parse(text: str, language: str) -> tuple[Budget | None, str, list[tuple[int, int]]]:
    """The budget, the lowercased text it was read from, and the spans of that text it was read in."""
    lowered = _CODE_BEFORE_DIGIT.sub(r"\1 ", text.lower())  # "rmb300": the code is not part of the number
    spans: list[tuple[int, int]] = []
    amounts = list(_amounts(lowered))
    lows: list[float] = []
    highs: list[float] = []
    stated: str | None = None
    used: set[int] = set()
    for i, amount in enumerate(amounts):
        if i in used:
            continue
        before, after = (
            lowered[max(0, amount.start - 30) : amount.start],
            lowered[amount.end : amount.end + 14],
        )
        if _NOT_MONEY_AFTER.match(after) or _AGE_BEFORE.search(before):
            continue
        nxt = amounts[i + 1] if i + 1 < len(amounts) else None
        if nxt is not None and _joins_range(lowered[amount.end : nxt.start], before):
            used.add(i + 1)
            tail = lowered[nxt.end : nxt.end + 14]
            if _NOT_MONEY_AFTER.match(tail):
                continue  # "170-180cm"
            currency = amount.currency or nxt.currency
            cue = (
                _BETWEEN_BEFORE.search(before) or _BUDGET_BEFORE.search(before) or _kind("", tail) != "plain"
            )
            if currency or cue or not _NOT_MONEY_BEFORE.search(before.rstrip()):
                lows.append(min(amount.value, nxt.value))
                highs.append(max(amount.value, nxt.upper or nxt.value))
                stated = stated or currency
                spans.append((_cue_start(lowered, amount.start), _cue_end(lowered, nxt.end)))
            continue
        kind = _kind(before, after)
        money = amount.currency or kind != "plain" or _BUDGET_BEFORE.search(before)
        if amount.upper is not None:
            money = True  # "两三百" is a price range whenever it measures nothing else
        if not money:
            continue
        stated = stated or amount.currency
        spans.append((_cue_start(lowered, amount.start), _cue_end(lowered, amount.end)))
        if amount.upper is not None and kind in ("plain", "approx"):
            lows.append(amount.value)
            highs.append(amount.upper)
        elif kind == "min":
            lows.append(amount.value)
        elif kind == "a_bit_over":
            lows.append(amount.value)
            highs.append(round(amount.value * (1 + A_BIT_OVER), 2))
        elif kind == "approx":
            lows.append(round(amount.value * (1 - APPROX_BELOW), 2))
            highs.append(round(amount.value * (1 + APPROX_ABOVE), 2))
        else:
            highs.append(amount.upper or amount.value)
    if not lows and not highs:
        return None, lowered, spans
    high = min(highs) if highs else None
    low = max(lows) if lows else None
    if low is not None and high is not None and low > high:
        low = None
    if stated is None:
        currency, named = currency_of(text, language)
    else:
        currency, named = stated, True
    return Budget(currency, low, high, named), lowered, spans


def _cue_start(text: str, start: int) -> int:
    """Where the words that make an amount a budget begin ("under $", "预算", "between")."""
    before = text[max(0, start - 30) : start]
    found = start
    for cue in (
        _MAX_BEFORE,
        _MIN_BEFORE,
        _APPROX_BEFORE,
        _BETWEEN_BEFORE,
        _BUDGET_BEFORE,
        _USD_BEFORE,
        _CNY_BEFORE,
    ):
        match = cue.search(before)
        if match:
            found = min(found, start - len(before) + match.start())
    return found


def _cue_end(text: str, end: int) -> int:
    """Where the words after an amount that make it a budget end ("dollars", "元以内", "左右")."""
    after = text[end : end + 14]
    found = end
    for cue in (_MAX_AFTER, _MIN_AFTER, _APPROX_AFTER, _A_BIT_OVER_AFTER, _USD_AFTER, _CNY_AFTER):
        match = cue.match(after)
        if match:
            found = max(found, end + match.end())
    return found


def _joins_range(between: str, before: str) -> bool:
    """Whether the text between two amounts makes them a range; "and" does only after "between"/"from"."""
    if _RANGE_JOIN.fullmatch(between) is None:
        return False
    return re.search(r"\band\b", between) is None or _BETWEEN_BEFORE.search(before) is not None


def _kind(before: str, after: str) -> str:
    if _MAX_AFTER.match(after) or _MAX_BEFORE.search(before):
        return "max"
    if _MIN_AFTER.match(after) or _MIN_BEFORE.search(before):
        return "min"
    if _APPROX_AFTER.match(after) or _APPROX_BEFORE.search(before):
        return "approx"
    if _A_BIT_OVER_AFTER.match(after):
        return "a_bit_over"
    return "plain"


def _amounts(text: str) -> list[_Amount]:
    found = []
    for match in _AMOUNT.finditer(text):
        kind = match.lastgroup
        raw = match.group(0)
        upper = None
        if kind == "arabic":
            value = _arabic(raw)
        elif kind == "zh_range":
            scale = _ZH_UNITS[raw[2]]
            value, upper = float(_ZH_DIGITS[raw[0]] * scale), float(_ZH_DIGITS[raw[1]] * scale)
        elif kind == "zh":
            value = _zh_number(raw)
        else:
            value = _en_number(raw)
        if value is None or value <= 0:
            continue
        start, end = match.span()
        before, after = text[max(0, start - 5) : start], text[end : end + 8]
        currency = None
        if _USD_BEFORE.search(before) or _USD_AFTER.match(after):
            currency = "USD"
        elif _CNY_BEFORE.search(before) or _CNY_AFTER.match(after):
            currency = "CNY"
        found.append(_Amount(value, start, end, currency, upper))
    return found


def _arabic(raw: str) -> float | None:
    raw = raw.replace(" ", "")
    multiplier = 1
    if raw and raw[-1] in _MULTIPLIERS:
        multiplier, raw = _MULTIPLIERS[raw[-1]], raw[:-1]
    try:
        return float(raw.replace(",", "")) * multiplier
    except ValueError:
        return None


def _zh_number(raw: str) -> float | None:
    """ "两百" 200, "三百五十" 350, "一千零五" 1005, and "一千五" 1500: a last digit straight after a unit
    of a hundred or more counts in the next lower unit, as people say prices."""
    total = section = number = 0
    last_unit = 1
    previous_was_unit = zero_seen = follows_unit = False
    for ch in raw:
        if ch in _ZH_DIGITS:
            follows_unit = previous_was_unit and not zero_seen
            zero_seen = zero_seen or ch in "零〇"
            number = _ZH_DIGITS[ch]
            previous_was_unit = False
            continue
        unit = _ZH_UNITS[ch]
        if unit == 10000:
            total += ((section + number) or 1) * unit
            section = 0
        else:
            section += (number or 1) * unit
        number, last_unit = 0, unit
        previous_was_unit, zero_seen = True, False
    if number:
        section += number * (last_unit // 10 if follows_unit and last_unit >= 100 else 1)
    value = total + section
    return float(value) if value else None


def _en_number(raw: str) -> float | None:
    words = [w for w in re.split(r"[\s-]+", raw) if w and w != "and"]
    total = current = 0
    seen = False
    for word in words:
        if word in ("a", "one") and len(words) > 1 and word == words[0]:
            current = 1
        elif word in _EN_UNITS:
            current += _EN_UNITS[word]
            seen = True
        elif word in _EN_SCALES:
            scale = _EN_SCALES[word]
            if scale == 100:
                current = (current or 1) * scale
            else:
                total += (current or 1) * scale
                current = 0
            seen = True
    value = total + current
    return float(value) if seen and value >= 10 else None
