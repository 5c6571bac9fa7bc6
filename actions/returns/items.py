"""Which of the order's items the customer means: by SKU, by position ("the second one", "第二件"), by
(part of) its name in either language, by colour or size, or by a close spelling; and which items a message
asks to cancel or to keep ("cancel the shoes but keep the jeans"). Pure functions."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from actions.orders.model import Order, OrderItem

_ORDINALS_EN = {
    "first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3, "fifth": 4,
}  # fmt: skip
_ORDINALS_ZH = {"一": 0, "二": 1, "两": 1, "三": 2, "四": 3, "五": 4, "1": 0, "2": 1, "3": 2, "4": 3, "5": 4}
_ZH_ORDINAL = re.compile(r"第\s*([一二两三四五1-5])\s*[个件双条台只瓶盒套本支副顶把张样款]?")
_LAST = re.compile(r"\b(?:last|final)\b|最后一")
# Chinese measure words and fillers around an item's name: "那双42码的跑步鞋" → "跑步鞋".
_ZH_FILLER = re.compile(
    r"[这那哪]?[一两\d]*[个件双条台只瓶盒套本支副顶把张款]|\d+\s*(?:码|号|寸|cm|厘米)|的|想|要|退|换|把|了"
)
_EN_FILLER = re.compile(r"\b(?:the|a|an|one|ones|i|want|to|return|my|please|that|this|it|those|pair|of)\b")
_WORD = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")
_SIZE = re.compile(r"(?:\bsize\s+|尺码\s*)([a-z0-9]{1,4})\b|(?<![a-z])([a-z]{1,3})\s*[码号]")
_SIZES = frozenset({"xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl"})
_SIZE_WORDS = {"small": "s", "medium": "m", "large": "l", "小号": "s", "中号": "m", "大号": "l", "加大": "xl"}
_COLOUR_WORDS = "black white blue red green grey gray pink navy beige brown yellow purple orange silver gold"
_COLOURS = frozenset({*_COLOUR_WORDS.split(), *"黑白蓝红绿灰粉黄紫棕橙金银"})
_AMOUNT = re.compile(r"\s*\d+\s*(?:ml|g|毫升|克|mah|毫安).*$")
# Other ways people write a name's last word: "remove the tee".
_ALSO_CALLED = {"t-shirt": ("tee", "tshirt", "t shirt", "tee shirt")}
# How Chinese chat names a kind by its last character: "跑步鞋" is "鞋子", "牛仔裤" is "裤子".
_ZH_KIND_WORDS = {"鞋": "鞋子", "裤": "裤子", "袜": "袜子", "帽": "帽子", "裙": "裙子"}
FUZZY_MIN = 0.72

# Where a message's stance may change. English verbs come before their object, so a clause also starts at
# "and keep …" or "I still want …"; Chinese ones often come after it ("T恤还要"), so Chinese is cut only at
# punctuation and connectives. "、" lists items and does not cut.
_CLAUSE_BREAK = re.compile(
    r"[,，;；!！?？。\n]+|(?<!\d)\.|\.(?!\d)"
    r"|(?=\b(?:but|however|though|although|whereas|except|apart from|other than|rather than|instead of)\b)"
    r"|(?=\b(?:and|then)\s+(?:please\s+|just\s+)?(?:keep|leave|cancel|remove|drop|delete|take)\b)"
    r"|(?=\bstill\s+(?:want|need)\b(?!\s+to\b))"
    r"|(?=但是|但|不过|可是|其他|其它|其余|剩下|另外|别的)"
    r"|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])"  # chat Chinese often parts clauses with a space
    r"|(?<=[了吧啊呢哦呀嘛])\s+(?=[a-z0-9])"  # also before a Latin name, after a clause's final particle
)
# A Chinese verb can end a clause before a space ("跑鞋那双帮我去掉 T恤和裤子照常发") or take its object after
# it ("帮我取消 T恤"): it ends one only when what follows takes a stance of its own.
_AFTER_ZH_VERB = re.compile(r"(?<=[掉消要发着留])\s+(?=[a-z])")
_CANCEL_CUE = re.compile(
    r"\b(?:cancel\w*|remove|drop|delete|take\b.*?\b(?:off|out)|scrap|ditch|get rid of"
    r"|(?:don't|dont|do not|no longer)\s+(?:want|need))\b"
    r"|取消|不要|不想要|不需要|不用了|不买|删|去掉|退掉|拿掉|撤掉|砍掉"
)
# A keep cue outweighs a cancel cue in the same clause: "don't cancel the jeans", "不要取消T恤".
_KEEP_CUE = re.compile(
    r"\b(?:keep(?:ing)?|leave|leaving|hold on to|stays?|(?:is|are)\s+(?:fine|ok|okay|good)"
    r"|except|apart from|other than|not\s+(?:the|my|those|these|that|this)"
    r"|still\s+(?:want|need)(?!\s+to\s+(?:cancel|remove|drop|delete))"
    r"|(?:don't|dont|do not|not|never|no need to)\s+(?:\w+\s+){0,2}?(?:cancel\w*|remove|drop|delete))\b"
    r"|还(?:是|需)?要(?!取消|退|删|去掉|拿掉)|保留|留着|留下|不(?:用|要)?取消|别取消|不删|不变|照常|照旧|除了"
)


def match_item(order: Order, text: str) -> OrderItem | None:
    """The item meant, or None when nothing (or more than one item equally) fits."""
    candidates = matching_items(order, text)
    return candidates[0] if len(candidates) == 1 else None


def matching_items(order: Order, text: str) -> list[OrderItem]:
    """The items that fit best: one when it is clear, several when the answer fits them equally."""
    wanted = " ".join(text.strip().lower().split())
    if not wanted or not order.items:
        return []
    for item in order.items:
        if wanted == item.sku.lower():
            return [item]
    by_position = _by_position(order, wanted)
    if by_position is not None:
        return [by_position]
    scores = [(_score(item, wanted), item) for item in order.items]
    best = max(score for score, _ in scores)
    if best > 0:
        return [item for score, item in scores if score == best]
    # No name fits: "那本书" of "守灯人（平装本）" names the item by its kind.
    return [item for item in order.items if _names_kind(item.category, wanted)]


def only_names_an_item(order: Order, text: str) -> bool:
    """The whole message is an item's name or part of it ("跑步鞋", "the running shoes"): it says which,
    not why."""
    wanted = re.sub(r"[\s,.!?，。！？、~]+", " ", text.strip().lower()).strip()
    core_en = " ".join(_EN_FILLER.sub(" ", wanted).split())
    core_zh = _ZH_FILLER.sub("", wanted.replace(" ", ""))
    names = [n for item in order.items for n in (item.name.lower(), item.name_zh.lower())]
    return any(len(core) >= 2 and core in name for core in (core_en, core_zh) for name in names)


def named_in(order: Order, text: str) -> list[OrderItem]:
    """Items whose name (without colour, size or amount) occurs in a whole message: "取消里面的维C精华",
    "cancel the jeans" (an English name's last word is how people say it: "Slim jeans")."""
    lowered = text.lower()
    return [item for item in order.items if any(_occurs(form, lowered) for form in _name_forms(item))]


def meant_in_message(order: Order, text: str) -> OrderItem | None:
    """The one item a whole message points at, leaving out what it asks to keep: the blue jacket in
    "return the blue rain jacket, keeping the other two"; None when no single item fits best."""
    asked = " ".join(part for part in clauses(text) if not is_keep_clause(part))
    return match_item(order, asked) if asked else None


def excludes(text: str) -> bool:
    """Some part of the message names what it leaves out or keeps ("not the boots", "另外两件留着")."""
    return any(is_keep_clause(part) for part in clauses(text))


def named_to_cancel(order: Order, text: str) -> list[OrderItem]:
    """Items a message names where it asks to cancel: the shoes in "cancel the shoes but keep the jeans"."""
    return _named_in_clauses(order, [c for c in clauses(text) if is_cancel_clause(c)])


def named_to_keep(order: Order, text: str) -> list[OrderItem]:
    """Items a message names where it asks to keep them: T恤 and 牛仔裤 in "跑步鞋取消，T恤和牛仔裤还要的"."""
    return _named_in_clauses(order, [c for c in clauses(text) if is_keep_clause(c)])


def clauses(text: str) -> list[str]:
    """A message cut where its stance may change: at punctuation, before "but", "except", "其他", ..., and
    before "and keep" or "I still want"; lower-cased, with typographic apostrophes made plain."""
    plain = text.lower().replace("’", "'")
    parts = [part.strip() for part in _CLAUSE_BREAK.split(plain) if part and part.strip()]
    return [piece for part in parts for piece in _split_after_verb(part)]


def _split_after_verb(part: str) -> list[str]:
    for gap in _AFTER_ZH_VERB.finditer(part):
        head, tail = part[: gap.start()], part[gap.end() :]
        if _CANCEL_CUE.search(tail) or _KEEP_CUE.search(tail):
            return [head.strip(), *_split_after_verb(tail)]
    return [part]


def is_cancel_clause(clause: str) -> bool:
    """A clause that asks to cancel something and not to keep anything ("不要取消" keeps)."""
    return _CANCEL_CUE.search(clause) is not None and not is_keep_clause(clause)


def is_keep_clause(clause: str) -> bool:
    return _KEEP_CUE.search(clause) is not None


def _named_in_clauses(order: Order, parts: list[str]) -> list[OrderItem]:
    named = {item.sku for part in parts for item in named_in(order, part)}
    return [item for item in order.items if item.sku in named]


def _occurs(form: str, lowered: str) -> bool:
    """A Latin-script name as whole words ("shoes" is not in "horseshoes"); Chinese anywhere, as written."""
    if form.isascii():
        return re.search(rf"(?<![a-z0-9]){re.escape(form)}(?![a-z0-9])", lowered) is not None
    return form in lowered


def _name_forms(item: OrderItem) -> set[str]:
    """ "保湿面霜 50毫升" → {"保湿面霜", "保湿面"}; "维c精华液" → {"维c精华液", "维c精华"}."""
    forms = set()
    for name in (item.name.lower(), item.name_zh.lower()):
        bare = re.sub(r"\s*[(（].*?[)）]\s*", "", name).strip()
        short = _AMOUNT.sub("", bare).strip()
        forms |= {bare, short}
        if len(short) > 3 and "\u4e00" <= short[-1] <= "\u9fff":
            forms.add(short[:-1])  # a trailing 液/霜/机: customers often drop it
            forms |= _zh_heads(short[:-1])  # and the modifiers too: "维C精华液" → "精华"
        words = short.split()
        if len(words) > 2:
            forms.add(" ".join(words[-2:]))  # "hydrating face cream" → "face cream"
        if len(words) > 1 and len(words[-1]) >= 4 and words[-1].isascii():
            forms.add(words[-1])  # "slim jeans" → "jeans", "running shoes" → "shoes"
        if not (short or bare).isascii():
            forms |= _zh_heads(short or bare)  # "20000毫安充电宝" is all amount to _AMOUNT
            if short and short[-1] in _ZH_KIND_WORDS:
                forms.add(_ZH_KIND_WORDS[short[-1]])
    for form in list(forms):
        forms.update(_ALSO_CALLED.get(form, ()))
    return {form for form in forms if len(form) >= 2}


def _zh_heads(name: str) -> set[str]:
    """A Chinese name without its leading modifiers, as people shorten it: "修身牛仔裤" → "牛仔裤", "仔裤";
    "纯棉t恤" → "t恤", "跑步鞋" → "跑鞋". Never from a digit on ("20000毫安充电宝" gives "充电宝", not
    "0毫安充电宝"). Two characters can be a common word ("手机" in "手机号"): a change is always read back
    before it is made."""
    compact = name.replace(" ", "")
    heads = {compact[start:] for start in range(1, len(compact) - 1) if not compact[start].isdigit()}
    # A three-character name without its middle one: "跑步鞋" → "跑鞋".
    return heads | {h[0] + h[2] for h in heads | {compact} if len(h) == 3 and all(map(_is_han, h))}


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def _by_position(order: Order, wanted: str) -> OrderItem | None:
    index: int | None = None
    zh = _ZH_ORDINAL.search(wanted)
    if zh:
        index = _ORDINALS_ZH[zh.group(1)]
    elif _LAST.search(wanted):
        index = len(order.items) - 1
    else:
        positions = {_ORDINALS_EN[w] for w in re.findall(r"[a-z0-9]+", wanted) if w in _ORDINALS_EN}
        if len(positions) == 1:
            index = positions.pop()
    return order.items[index] if index is not None and index < len(order.items) else None


# What customers call an item by its kind when its name does not say it ("the book", "那本书").
_KIND_WORDS = {
    "books": re.compile(r"\b(?:book|novel|paperback|hardback)s?\b|书|小说"),
    "toys": re.compile(r"\btoys?\b|玩具"),
    "gift_card": re.compile(r"\bgift ?cards?\b|\bvouchers?\b|礼品卡|购物卡"),
    "shoes": re.compile(r"\b(?:shoes|trainers|sneakers|boots)\b|鞋"),
}


def _names_kind(category: str, wanted: str) -> bool:
    kind = _KIND_WORDS.get(category)
    return kind is not None and kind.search(wanted) is not None


def _score(item: OrderItem, wanted: str) -> float:
    """Higher is a better fit; 0 is no fit. The whole name beats the bare name beats shared words beats
    spelling; colour and size words add to any fit, so they tell apart items with the same name."""
    core_en = " ".join(_EN_FILLER.sub(" ", wanted).split())
    core_zh = _ZH_FILLER.sub("", wanted.replace(" ", ""))
    names = [item.name.lower(), item.name_zh.lower()]
    score = 0.0
    for name in names:
        bare = re.sub(r"\s*[(（].*?[)）]\s*", " ", name).strip()  # "rain jacket (blue, m)" → "rain jacket"
        for core in (core_en, core_zh):
            if len(core) >= 2 and (core in name or name in core):
                score = max(score, 4.0 + len(core) / 100)
            elif len(core) >= 2 and bare and (core in bare or bare in core):
                score = max(score, 3.0 + len(core) / 100)
    words = {w for w in _WORD.findall(core_en) if len(w) > 2 or w.isdigit() or "\u4e00" <= w <= "\u9fff"}
    words |= _sizes(wanted)
    name_words = set(_WORD.findall(" ".join(names)))
    attributes = set(_WORD.findall(_attributes(item)))
    shared = words & name_words
    score = max(score, float(len(shared - attributes)))
    if score == 0 and len(core_en) >= 4:
        ratio = max(SequenceMatcher(None, core_en, n).ratio() for n in names)
        score = ratio if ratio >= FUZZY_MIN else 0.0
    named = _named_attributes(words)
    if attributes and named - attributes:
        return 0.0  # "the black one" is not the blue one
    matched = len(named & attributes)
    return score + matched if score or matched else 0.0


# "too small", "runs a bit large": how it fits, not which size it is.
_FIT_COMPLAINT = re.compile(
    r"\b(?:too|a bit|a little|slightly|runs?|very|so|way|kinda|really|rather)\s+(?:small|large|big)\b"
)


def _sizes(wanted: str) -> set[str]:
    """Sizes named as sizes: "size m", "m码", "L号", "medium", "中号", or a lone "xl" among other words."""
    wanted = _FIT_COMPLAINT.sub(" ", wanted)
    found = {size for pair in _SIZE.findall(wanted) for size in pair if size}
    found |= {size for word, size in _SIZE_WORDS.items() if word in wanted}
    tokens = re.findall(r"[a-z]+", wanted)
    found |= {t for t in tokens if t in _SIZES and len(tokens) > 1}
    return found


def _named_attributes(words: set[str]) -> set[str]:
    return {w for w in words if w in _SIZES or w in _COLOURS}


def _attributes(item: OrderItem) -> str:
    inside = re.findall(r"[(（](.*?)[)）]", f"{item.name} {item.name_zh}".lower())
    return " ".join(inside)
