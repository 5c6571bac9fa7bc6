"""The address in a customer's sentence: lead-ins and afterthoughts stay off the shipping label."""

from __future__ import annotations

import re

# What a parcel is sent, or an address changed, to: "send it to", "change the shipping address to".
_EN_SEND_TO = (
    r"(?:change|update|switch|move|send|ship|deliver|redirect|forward)\s+"
    r"(?:(?:it|them|the order|my order|the (?:parcel|package)|my (?:parcel|package)"
    r"|(?:the|my) (?:shipping |delivery )?address)\s+)?(?:to|into)"
)
# "it needs to go to", "the parcel has to be delivered to": never part of an address.
_EN_GO_TO = r"(?:needs?|has|have|should|must) to (?:go|be (?:sent|delivered|shipped|redirected))\s+to"
# "the new place is", "our new home:" (a colon or a verb is needed: "12 New Place, Leeds" is an address).
_EN_NEW_HOME = (
    r"(?:the |my |our )?new (?:place|home|house|flat|apartment)"
    r"(?:\s+(?:is|will be|should be)\s*[:：-]?|\s*[:：-])"
)
_EN_USE = r"use(?: this| the following| my new| the new| my| our)?(?: address)?"
# Lead-ins at the start of the message, after any greeting. "we're at", "it's" and "make it" count only
# here: mid-message they can belong to the address ("Flat 3, we're at the back").
_EN_LEAD = re.compile(
    r"^(?:(?:ok(?:ay)?|yes|yeah|sure|so|hi|hey|hello|oh|well|actually|sorry|please|pls|could you|can you"
    r"|kindly)[\s,.!]+)*"
    r"(?:(?:please\s+)?" + _EN_SEND_TO + r"\s+"
    r"|(?:the |my |our )?(?:new |correct |right )?(?:shipping |delivery )?address"
    r"(?:\s+(?:is|should be|will be)(?:\s+now)?)?\s*[:：-]?\s+"
    r"|(?:the |my )?(?:new|correct|right) one"
    r"(?:\s+(?:is|should be|will be)(?:\s+now)?(?:\s+at)?\s*[:：-]?|\s*[:：-])\s+"
    r"|" + _EN_NEW_HOME + r"\s*"
    r"|(?:please\s+)?" + _EN_USE + r"\s*[:：-]?\s+"
    r"|(?:(?:it|they|the (?:order|parcel|package)|my (?:order|parcel|package))\s+)?" + _EN_GO_TO + r"\s+"
    r"|(?:it(?:['’]s| is)(?:\s+now)?|it should go to|make it|now it(?:['’]s| is))\s+"
    r"|(?:we['’]re|we are|i['’]m|i am|i live|we live)(?:\s+now)?\s+at\s+"
    r"|(?:i|we)(?:['’]ve| have)?\s+(?:just\s+)?moved\s+to\s+)",
    re.IGNORECASE,
)
# A lead-in in the middle of a message ("Sure, so the new address is …", "我搬家了，麻烦改成…"): the address
# starts after the last one. Only phrases that cannot be part of an address go here.
_EN_MARKER = re.compile(
    r"\b(?:new (?:shipping |delivery )?address(?: is| should be| will be)?(?: now)?"
    r"|address (?:is|should be|will be)(?: now)?"
    r"|"
    + _EN_SEND_TO
    + r"|"
    + _EN_GO_TO
    + r"|"
    + _EN_NEW_HOME
    + r"|please "
    + _EN_USE
    + r"|(?:i|we)(?:['’]ve| have)? moved to)"
    r"\s*[:：-]?\s+",
    re.IGNORECASE,
)
_ZH_MARKER = re.compile(
    r"(?:改成|改为|改到|换成|更新为|修改为|寄到|送到|发到|寄往|送往|发往|住在|搬到了?"
    r"|新的?(?:收货)?地址(?:是|为)?[:：]?|地址(?:是|为)?[:：])"
)
_EN_TAIL = re.compile(
    r"[\s,.;!]+(?:thanks?(?: you)?|thx|please|cheers|instead|now|from now on|going forward|if possible"
    r"|(?:the )?(?:recipient|name|phone)(?: stays| is)? (?:the same|unchanged)"
    r"|same (?:name|recipient|phone|number|person)\b[^0-9]*"
    r"|(?:keep|leave) (?:the |my )?(?:name|recipient|phone)\b[^0-9]*)[\s.!?]*$",
    re.IGNORECASE,
)
_ZH_LEAD = re.compile(
    r"^(?:(?:好的|好|嗯|你好|您好|麻烦|请|帮我|麻烦帮我|请帮我)[，,\s]*)*"
    r"(?:(?:把)?(?:收货|配送|寄送)?地址(?:改成|改为|改到|换成|更新为|修改为)"
    r"|(?:新的?|正确的?)(?:收货)?地址(?:是|为)?[:：]?"
    r"|(?:收货)?地址(?:是|为)[:：]?"
    r"|(?:用|使用)(?:这个|新|以下)?(?:的)?地址[:：]?"
    r"|(?:我|我们)?(?:现在)?(?:住在|搬到了?)"
    r"|改成|改为|改到|换成|寄到|送到|发到|寄往|送往|发往)\s*"
)
# "，收件人不变", "，收件人电话都不变哈", "谢谢", "就行": afterthoughts, not part of the address.
_ZH_TAIL = re.compile(
    r"[，,。\s]*(?:(?:收件人|联系人|电话|手机号?|其他|其余|名字)[^，,。]*(?:不变|一样|照旧|没变|还是|原来|不用改|别改|不改)[^，,。]*"
    r"|谢谢(?:你|您)?|多谢|就(?:行|好|可以)了?|即可|了)[。！!~～\s哈啊呀吧哦]*$"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# How an afterthought starts; "St. Louis" or "Apt. 4" must not be cut off as one.
_AFTERTHOUGHT = re.compile(
    r"^(?:oh|and|also|btw|by the way|it|it['’]s|its|thanks|thank|same|the name|name|recipient|please|cheers|"
    r"i|i['’]m|no|nothing|everything|rest)\b",
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
    return address.strip(" ,.;:!?，。；：！？")


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
