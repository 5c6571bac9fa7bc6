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
_ZH_TAIL = re.compile(
    r"[，,。\s]*(?:(?:收件人|联系人|电话|手机号?|其他)(?:信息)?(?:都)?不变|谢谢(?:你|您)?|多谢)[。！!\s]*$"
)


def extract_address(text: str) -> str:
    """The address alone: "the new address is 200 Pine St, Seattle" → "200 Pine St, Seattle"."""
    address = " ".join(text.split())
    for _ in range(3):  # lead-ins and tails can stack ("ok, please change it to ... thanks")
        before = address
        address = _ZH_TAIL.sub("", _EN_TAIL.sub("", address))
        address = _ZH_LEAD.sub("", _EN_LEAD.sub("", address))
        if address == before:
            break
    return address.strip(" ,.;:，。；：")
