"""The address in a customer's sentence: lead-ins and afterthoughts stay off the shipping label."""

from __future__ import annotations

import re

_EN_LEAD = re.compile(
    r"^(?:(?:ok(?:ay)?|yes|sure|so|hi|hello|please|pls|could you|can you|kindly)[\s,.!]+)*"
    r"(?:(?:please\s+)?(?:change|update|switch|move|send|ship|deliver|redirect)\s+"
    r"(?:it|the order|my order|the (?:shipping |delivery )?address|my (?:shipping |delivery )?address)?\s*"
    r"(?:to|into)\s+"
    r"|(?:the |my )?(?:new |correct |right )?(?:shipping |delivery )?address"
    r"(?:\s+is|\s+should be)?\s*[:：-]?\s+"
    r"|(?:it(?:'s| is)|it should go to|send it to|ship it to|deliver it to)\s+)",
    re.IGNORECASE,
)
# A lead-in in the middle of a message ("Sure, so the new address is …", "我搬家了，麻烦改成…"): the address
# starts after the last one.
_EN_MARKER = re.compile(
    r"\b(?:new (?:shipping |delivery )?address(?: is| should be)?|address (?:is|should be)|"
    r"(?:change|update|send|ship|deliver|redirect) (?:it |the order |my order )?to)\s*[:：-]?\s+",
    re.IGNORECASE,
)
_ZH_MARKER = re.compile(
    r"(?:改成|改为|改到|换成|更新为|修改为|寄到|送到|发到|新的?(?:收货)?地址(?:是|为)?[:：]?)"
)
_EN_TAIL = re.compile(
    r"[\s,.;!]+(?:thanks?(?: you)?|thx|please|cheers|(?:the )?(?:recipient|name|phone)(?: stays| is)? "
    r"(?:the same|unchanged))[\s.!]*$",
    re.IGNORECASE,
)
_ZH_LEAD = re.compile(
    r"^(?:(?:好的|好|嗯|麻烦|请|帮我|麻烦帮我|请帮我)[，,\s]*)*"
    r"(?:(?:把)?(?:收货|配送|寄送)?地址(?:改成|改为|改到|换成|更新为|修改为)"
    r"|(?:新的?|正确的?)(?:收货)?地址(?:是|为)?[:：]?"
    r"|(?:收货)?地址(?:是|为)[:：]?"
    r"|改成|改为|改到|换成|寄到|送到|发到)\s*"
)
# "，收件人不变", "，收件人电话都不变哈", "谢谢": afterthoughts, not part of the address.
_ZH_TAIL = re.compile(
    r"[，,。\s]*(?:(?:收件人|联系人|电话|手机号?|其他|其余|名字)[^，,。]*(?:不变|一样|照旧|没变)[^，,。]*"
    r"|谢谢(?:你|您)?|多谢)[。！!~～\s哈啊呀]*$"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# How an afterthought starts; "St. Louis" or "Apt. 4" must not be cut off as one.
_AFTERTHOUGHT = re.compile(
    r"^(?:oh|and|also|btw|by the way|it|it's|its|thanks|thank|same|the name|name|recipient|please|cheers|"
    r"i|i'm|no|nothing|everything|rest)\b",
    re.IGNORECASE,
)


def extract_address(text: str) -> str:
    """The address alone: "the new address is 200 Pine St, Seattle" → "200 Pine St, Seattle"."""
    address = " ".join(text.split())
    address = _after_last(_ZH_MARKER, _after_last(_EN_MARKER, address))
    address = _without_afterthoughts(address)
    for _ in range(4):  # lead-ins and tails can stack ("ok, please change it to ... thanks")
        before = address
        address = _ZH_TAIL.sub("", _EN_TAIL.sub("", address))
        address = _ZH_LEAD.sub("", _EN_LEAD.sub("", address))
        if address == before:
            break
    return address.strip(" ,.;:，。；：")


def _after_last(marker: re.Pattern[str], text: str) -> str:
    matches = list(marker.finditer(text))
    rest = text[matches[-1].end() :] if matches else text
    return rest if any(ch.isdigit() for ch in rest) else text  # the address has a number somewhere


def _without_afterthoughts(text: str) -> str:
    """English sentences after the address that hold no number ("Oh and it's still under my name")."""
    sentences = _SENTENCE_END.split(text)
    while (
        len(sentences) > 1
        and not any(ch.isdigit() for ch in sentences[-1])
        and _AFTERTHOUGHT.match(sentences[-1])
    ):
        sentences.pop()
    return " ".join(sentences)
