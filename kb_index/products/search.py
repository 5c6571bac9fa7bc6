"""Finding products and their attributes: recommendations for a need, and the product and attribute a
question is about.

Vectors come from the encoder the knowledge base serves for the language (`embed`, as
`KnowledgeBase.embed`), so products, articles and return reasons share one space per language. Each
product is embedded once per language as one document (name, summary, category, uses, audience) and as
facets (each use, each audience, the summary) that give a recommendation its reason. The catalogue holds
tens to a few hundred products, so a numpy inner product over all of them takes microseconds and is exact:
a FAISS index would add a dependency, a build step and an approximation for nothing at this size. The
vectors are built on first use and kept per language and per encoder space (`space`: the knowledge base's
version, so a rebuilt index with another encoder re-embeds the catalogue).

Names are matched by words before meaning, because customers type a product's name: a product is named by
three quarters of its name's words, its head noun ("headphones", "耳机") or a word no other name has
("chocolate"); of several, the one named in full, else the one covering most of the message ("noise
cancelling headphones" over "kids' headphones"); still several, the question is ambiguous unless the
conversation's product is among them. The name's words are then taken out of the question, so "the
noise-cancelling headphones" does not read as a question about the noise-cancelling spec.

An attribute is named by words first (a spec's name, a question's shape such as "how heavy", obvious
words such as "in the box" or "尺码"), then by meaning against each attribute's description and values.
Questions about pregnancy, children or allergies are answered only from a warning that speaks of them,
and "does it work with X" only from a compatibility entry that names X: otherwise a person answers.

Thresholds (`THRESHOLDS`, cosine similarities of the real encoders: MiniLM int8 for English, USE
multilingual for Chinese) were set on the real catalogue with hand-written development questions, not
the evaluation set; each sits between the lowest score of a right answer and the highest score of a
question the catalogue cannot answer, and where the two overlap, on the side that sends doubt to a person:
- relevant: needs the catalogue meets scored at least 0.39 (en) / 0.30 (zh) at the best product; needs for
  things the store does not sell (a sofa, a TV, perfume) up to 0.45 / 0.31. 0.38 / 0.32.
- product (by meaning alone, no name words): right answers 0.50-0.63 (en); questions naming no product at
  most 0.37 (en) / 0.53 with a margin under 0.02 (zh). 0.45 / 0.55, with a 0.06 lead over the next.
- attribute (by meaning alone): right answers from 0.55 (en) / 0.51 (zh), one at 0.42; questions the
  catalogue cannot answer up to 0.48 (en) / 0.46 (zh), one wrong answer at 0.45 (en). 0.5 (en) / 0.47 (zh),
  with a 0.04 lead over the product's next attribute: the Chinese encoder scores right answers lower (on 71
  everyday Chinese questions, 0.47 answered three more right than 0.5 and no more wrong; 0.45 two more wrong).

A need told as a story ("my husband can't function without his morning coffee", "my daughter just started
running and keeps getting blisters") scores under the relevance floor whole, because who it is for, when and
how it feels dilute what is needed. Under the floor, a message that tells a story is read again
(`read_story`): without its people, pronouns and fillers, by what the person loves or wants, and by the uses
its problems, activities, occasion or a child's age point at; each product keeps its best score over the
readings, and the floor then applies as before. A story that says what is wanted (or tells it at length)
may also be answered a little under the floor (STORY_SLACK) when its best match stands clear of the field
(STORY_LEAD over the sixth product): on hand-written stories and non-product messages, stories that fit one
kind of product led by 0.12-0.27, greetings and order questions by at most 0.11 and mostly under 0.07.
Messages about an order, a delivery, a payment or the account are not read as stories, nor taken as a
category alone ("you charged my gift card twice").
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence, Set
from dataclasses import dataclass, field

import numpy as np

from common.formatting import format_money
from kb_index.encoders import Matrix
from kb_index.products.budget import Budget, currency_of, parse_budget, without_budget
from kb_index.products.catalog import Catalog, Product
from kb_index.tokens import EN_STOPWORDS, _jieba_tokenizer, stem, tokenize

Embed = Callable[[Sequence[str], str], Awaitable[Matrix]]
Space = Callable[[], Awaitable[str]]


@dataclass(frozen=True)
class Thresholds:
    relevant: float  # the best product must be this similar to the need to recommend anything
    product: float  # naming a product by meaning alone (no words of its name in the message) ...
    product_margin: float  # ... and by this much more than the next product
    attribute: float  # an attribute found by meaning alone ...
    attribute_margin: float  # ... and by this much more than the product's next attribute


THRESHOLDS = {
    "en": Thresholds(relevant=0.38, product=0.45, product_margin=0.06, attribute=0.5, attribute_margin=0.04),
    "zh": Thresholds(relevant=0.32, product=0.55, product_margin=0.06, attribute=0.47, attribute_margin=0.04),
}
FULL_NAME = 0.75  # this share of a name's words names the product
FACET_WEIGHT = 0.35  # a need matched by one use ("running") counts beside the whole product's document
NAME_BOOST = 0.15  # times the share of the product's name the message holds
PICKS = 3
NEED_SPREAD = 0.15  # a pick must be this close to the best match of the need
FIT_SLACK = 0.12  # an accessory that fits what the customer owns goes first if this close to the best
STORY_SLACK = 0.06  # read again, a story's best match may sit this far under the floor ...
STORY_LEAD = 0.11  # ... when it stands this far above the product ranked STORY_FIELD
STORY_FIELD = 6
STORY_WORDS = 6  # a story of this many words, or one that says what is wanted, may be answered so

CATEGORY_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    # Words that name a category outright; product-type nouns come from the catalogue's own names.
    "clothing": {"en": ("clothes", "clothing", "apparel"), "zh": ("衣服", "服装", "服饰")},
    "shoes": {"en": ("shoes", "footwear", "sneakers", "trainers"), "zh": ("鞋子", "鞋")},
    "underwear_swimwear": {"en": ("underwear", "swimwear", "lingerie"), "zh": ("内衣", "泳衣", "泳装")},
    "electronics": {"en": ("electronics", "gadget", "gadgets"), "zh": ("数码", "电子产品")},
    "accessories": {"en": ("accessory", "accessories"), "zh": ("配件",)},
    "home": {"en": ("homeware", "household"), "zh": ("家居", "家居用品")},
    "kitchen": {"en": ("kitchen", "cookware"), "zh": ("厨房", "厨具")},
    "beauty": {"en": ("beauty", "skincare", "makeup", "cosmetics"), "zh": ("美妆", "护肤品", "化妆品")},
    "food": {"en": ("food", "snacks"), "zh": ("食品", "零食")},
    "books": {"en": ("book", "books"), "zh": ("图书", "书籍")},
    "toys": {"en": ("toy", "toys"), "zh": ("玩具",)},
    "gift_card": {"en": ("gift card", "voucher"), "zh": ("礼品卡", "购物卡")},
}
CATEGORY_LABELS_ZH = {
    "clothing": "服装", "shoes": "鞋", "underwear_swimwear": "内衣泳装", "electronics": "数码电子",
    "accessories": "配件", "home": "家居", "kitchen": "厨房", "beauty": "美妆护肤", "food": "食品",
    "books": "图书", "toys": "玩具", "gift_card": "礼品卡",
}  # fmt: skip
# Asking for one of these is asking for something that goes with another product.
ACCESSORY = {
    "en": re.compile(
        r"\b(?:accessor(?:y|ies)|charg(?:er|ers|ing)|cables?|cords?|cases?|covers?|sleeves?|straps?|bands?|"
        r"refills?|replacements?|spares?|cushions?|pads?|tips|protectors?|mounts?|adapters?|batter(?:y|ies))\b",
        re.I,
    ),
    "zh": re.compile(
        r"配件|充电器|充电头|充电线|数据线|线材|壳|套|表带|替换|替芯|补充装|耳罩|耳垫|贴膜|膜|支架|转接"
    ),
}

GIFT_WORDS = {
    "en": r"\b(?:as an? )?(?:gifts?|presents?)(?: ideas?)?\b",
    "zh": r"作为礼物|当礼物|礼物|礼品(?!卡)|送礼|送人|送给",
}

# ------------------------------------------------------------------------------------ needs told as stories
# Told as a story ("my husband can't function without his morning coffee"), a need scores under the floor
# whole: who it is for, when and how it feels dilute what is needed. A message that tells of a person
# (someone, "I", "my ...") is read again (`read_story`), and each product keeps its best score: without
# the people, pronouns and fillers; the thing the person loves ("loves X", "爱喝X"); and with the uses the
# story points at, in the words the catalogue's uses speak: what solves a problem it tells of ("my phone
# dies": a power bank), what an activity or a move needs ("takes the train": commuting), who a child's age
# makes the audience, and, when nothing else says what, that it is a gift. Messages about an order, a
# delivery, a payment or the account are never read so.
_EN_PEOPLE = (
    r"husband|wife|partner|spouse|boyfriend|girlfriend|fianc[eé]e?|mum|mom|mother|dad|father|parents?|sons?"
    r"|daughters?|brothers?|sisters?|siblings?|nephews?|nieces?|grandsons?|granddaughters?|grandchild(?:ren)?"
    r"|grandkids?|grandma|grandpa|grandmother|grandfather|granny|nan|uncle|aunt|auntie|cousins?|friends?"
    r"|bestie|colleagues?|co-?workers?|boss|neighbou?rs?|room-?mates?|flatmates?|teacher|in-laws?|family"
    r"|other half|better half|guy|girl|man|woman|lady|someone|somebody"
)
_EN_STORY = re.compile(
    rf"\b(?:(?:my|our|his|her|their|a|an|the|this|one of my)\s+(?:\w+\s+)?(?:{_EN_PEOPLE})(?:['’]s)?"
    r"|i['’](?:m|ve|d|ll)|i|im|ive|we['’](?:re|ve|d)|we|he['’]s|he|she['’]s|she|they['’]re|they|it['’]s|it"
    r"|me|him|them|us|you|there['’]s|here|honestly|literally|really|actually|basically|just|so|very|always"
    r"|constantly|keeps?|kept|all the time|every (?:single )?(?:time|day|morning|night|evening|week)"
    r"|(?:next|last|this|coming) (?:week|month|year|weekend)|tomorrow|today|tonight|soon|any ideas?|ideas?"
    r"|suggestions?|recommend(?:ations?)?|help|please|thanks|looking for|need|needs|want|wants|wanted"
    r"|something|anything|good|nice|best)\b",
    re.I,
)
_ZH_PEOPLE = frozenset({
    "我老公", "老公", "老婆", "爱人", "对象", "媳妇", "丈夫", "妻子", "我妈", "我爸", "妈妈", "爸爸", "妈",
    "爸", "父母", "爸妈", "儿子", "女儿", "男朋友", "女朋友", "男友", "女友", "朋友", "好友", "闺蜜",
    "同事", "领导", "老板", "同学", "哥哥", "姐姐", "弟弟", "妹妹", "哥", "姐", "弟", "妹", "爷爷", "奶奶",
    "外公", "外婆", "姥姥", "姥爷", "公公", "婆婆", "岳父", "岳母", "侄子", "侄女", "外甥", "外甥女",
    "孙子", "孙女", "叔叔", "阿姨", "舅舅", "老师", "家人", "室友", "邻居", "家长"
})  # fmt: skip
_ZH_STORY = frozenset({
    "我", "我们", "你", "你们", "他", "他们", "她", "她们", "它", "咱", "咱们", "自己", "每天", "天天",
    "平时", "总是", "老是", "一直", "经常", "最近", "特别", "非常", "真的", "实在", "根本", "简直", "下周",
    "下个月", "今年", "明天", "今天", "推荐", "求推荐", "有什么", "什么", "想买", "想要", "需要", "有没有",
    "一下", "一点", "点", "买", "想", "的", "了", "吧", "呢", "啊", "呀", "哦", "嘛", "就", "都", "也",
    "还", "很", "好", "给"
})  # fmt: skip
# Someone in the message: the shopper ("I", "my"), another person, or a relation ("my husband", "老公").
_TELLS = {
    "en": re.compile(
        rf"\b(?:i['’](?:m|ve|d|ll)|i|im|me|my|we['’](?:re|ve|d)|we|our|us|he|she|his|her|they|their"
        rf"|{_EN_PEOPLE})\b",
        re.I,
    ),
    "zh": re.compile("我|咱|他|她|" + "|".join(sorted(_ZH_PEOPLE, key=len, reverse=True))),
}
_LIKES = {
    "en": re.compile(
        r"\b(?:loves?|loving|likes|(?:i|we|they|you)\s+(?:really\s+)?like|enjoys?|adores?|obsessed with"
        r"|mad about|crazy about|nuts about|into|(?:a |big |huge )*fan of|passionate about|addicted to"
        r"|hooked on|getting into|keen on|(?:has|have) taken up|taking up|take up|talking about"
        r"|thinking (?:about|of)|planning (?:to|on)|hoping to|trying to|dreams? (?:of|about)"
        r"|learning(?: how)? to|wants? to"
        r"|nothing (?:to \w+ )?for"
        r"|can['’]?t (?:function|live|cope|survive|do anything|start (?:the|his|her|my|their) day) without)"
        r"\s+(?P<object>[^.,;:!?]+?)\s*(?=$|[.,;:!?]|\b(?:but|and|so|because|though|although|which|who|when"
        r"|while|since)\b)",
        re.I,
    ),
    "zh": re.compile(
        r"(?:喜欢|爱|迷上了?|热衷于?|离不开|痴迷于?|沉迷于?|着迷于?|钟爱|偏爱|开始练|开始玩|爱上了?|想学|在学|开始学)"
        r"(?P<object>[^，。！？；,.!?;]+?)(?=$|[，。！？；,.!?;]|但|可是|不过|所以|因为)"
    ),
}


def _cues(pairs: tuple[tuple[str, str], ...], flags: int = 0) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(pattern, flags), uses) for pattern, uses in pairs)


# What a story tells of, and the uses that answer it: problems, then activities and moves.
_STORY_USES = {
    "en": _cues(
        (
            (r"\b(?:cold|freez\w*|chilly|shiver\w*|frozen|nippy)\b", "warm"),
            (r"\b(?:nois\w*|loud|chatter\w*|snor\w*|racket|din|can hear)\b", "noise cancelling, quiet"),
            (
                r"\bdark(?:ness)?\b(?! chocolate| roast| spots?| colou?rs?)|\bpitch black\b|\bcan['’]?t see\b"
                r"|\bpower cuts?\b|\bblackouts?\b",
                "light, lamp",
            ),
            (
                r"\b(?:battery|charge|juice)\b[^.]*\b(?:dies|dead|flat|runs? out|low)\b"
                r"|\b(?:dies|dead|runs? out|low)\b[^.]*\b(?:battery|charge|juice)\b"
                r"|\b(?:phone|laptop|tablet|headphones|earbuds)\b[^.]*\b(?:dies|died|dying|never lasts?"
                r"|doesn['’]?t last|won['’]?t last)\b",
                "power bank, portable charging",
            ),
            (
                r"\b(?:rain\w*|wet|soaked|drench\w*|downpours?|drizzl\w*|puddles?|soggy|it pours|pouring)\b",
                "waterproof",
            ),
            (
                r"\b(?:dry|flaky|tight|itchy|dehydrated|rough|cracked|peeling)\b[^.]*\b(?:skin|face|lips|hands)\b"
                r"|\b(?:skin|face|lips|hands)\b[^.]*\b(?:dry|flaky|tight|itchy|dehydrated|rough|cracked)\b",
                "dry skin, moisturising",
            ),
            (
                r"\bsun\s?burn\w*|\bburn(?:s|ed|t)? (?:so |really |very )?easily\b|\bstrong sun\b",
                "sun protection",
            ),
            (
                r"\b(?:hurts?|sore|aches?|aching|pain(?:ful)?|blisters?|chaf\w*|rubs?)\b",
                "cushioned, comfortable",
            ),
            (
                r"\b(?:hot|sweat\w*|humid|sticky|heat ?waves?|boiling|stuffy|sweltering)\b",
                "breathable, cool, summer",
            ),
            (r"\bstick(?:s|ing)? to\b|\bburn(?:s|t|ed)? on the bottom\b", "non-stick"),
            (r"\btangl\w*|\b(?:cord|cords|wires?)\b", "wireless"),
            (r"\bblunt\b|\bwon['’]?t cut\b|\bcan['’]?t cut\b", "sharp, cutting"),
            (r"\bwrinkl\w*|\bfine lines?\b|\bage?ing\b|\bcrow['’]?s feet\b", "anti-ageing, fine lines"),
            (r"\b(?:dull|uneven|blotchy|dark spots?|pigment\w*)\b", "brightening, dark spots"),
            (r"\b(?:oily|greasy|acne|breakouts?|pores)\b", "deep cleansing"),
            (r"\btoo heavy\b|\bweighs? a ton\b|\blugging\b", "lightweight"),
            (r"\bleak\w*", "leak-resistant"),
            (
                r"\b(?:pets?|dogs?|cats?|pupp(?:y|ies)|kittens?)\b[^.]*\b(?:hair|fur)\b|\bshed(?:s|ding)\b",
                "pet hair, cleaning",
            ),
            (
                r"\b(?:diet\w*|lose weight|losing weight|healthier|eat(?:ing)? healthy|less oil"
                r"|cut(?:ting)? (?:down|back) on (?:oil|fat|sugar|fried food))\b",
                "healthy eating",
            ),
            (
                r"\b(?:no idea|don['’]?t know|not sure|unsure) what (?:s?he|they) (?:likes?|wants?|needs?)\b"
                r"|\blet (?:him|her|them) (?:choose|pick)\b|\bhas everything\b|\bpicky\b|\bfussy\b",
                "gift card",
            ),
            (r"\bnothing to wear\b|\bwhat to wear\b", "clothes, outfit"),
            (r"\bbored\b|\bboring\b|\bnothing to do\b", "entertainment, reading, music, play"),
            (
                r"\bcan['’]?t sleep\b|\binsomnia\b|\bwon['’]?t (?:go to )?sleep\b|\bkeeps? \w+ up at night\b",
                "sleep, bedtime",
            ),
            (r"\b(?:slid\w*|slipp\w*|falls? off)\b", "grip, holds in place"),
            (r"\bcrack\w*|\bscratch\w*|\bshatter\w*|\bsmash\w*|\bdrops? (?:it|them|my)\b", "protection"),
            (r"\bcommut\w*|\b(?:train|bus|subway|tube|metro)\b", "commuting"),
            (r"\broad trips?\b|\blong drives?\b|\bcar (?:journeys?|trips?|rides?)\b", "car trips, travel"),
            (
                r"\bmov(?:e|ed|ing) (?:in|out|house|into)\b|\bfirst (?:flat|apartment|home|place)\b"
                r"|\bnew (?:flat|apartment|home|house|place)\b|\bliving on (?:her|his|their|my) own\b"
                r"|\b(?:university|college|dorm)\b",
                "home essentials, kitchen, cooking",
            ),
        ),
        re.I,
    ),
    "zh": _cues(
        (
            (r"冷|冻|冰凉|哆嗦|降温", "保暖"),
            (r"吵|噪音|噪声|呼噜|打鼾|嘈杂", "降噪"),
            (r"太黑|很黑|黑漆漆|漆黑|看不清|看不见|停电|摸黑", "照明，头灯"),
            (r"没电|电量|续航|电.{0,3}不够", "充电宝，随身充电"),
            (r"下雨|淋湿|雨天|湿透|打湿|淋雨|被雨", "防水"),
            (
                r"(?:很|好|特别|太|超|非常|脸|皮肤|嘴唇|手)干(?!净|活|嘛|什么)|干燥|起皮|紧绷|缺水|皲裂",
                "保湿",
            ),
            (r"晒伤|晒黑|一晒|暴晒|太阳大|晒红", "防晒"),
            (r"疼|痛|酸(?:痛|疼|胀)|腰酸|腿酸|磨脚|水泡|硌", "缓冲，舒适"),
            (r"闷热|出汗|湿热|太热|好热|很热|捂", "透气，凉快，夏季"),
            (r"粘锅|糊锅", "不粘锅"),
            (r"耳机线|线(?:老是|总是|经常)?缠|缠(?:在一起|住)|有线", "无线"),
            (r"钝|切不动|不快了", "锋利"),
            (r"细纹|皱纹|显老|初老", "抗初老，淡化细纹"),
            (r"暗沉|色斑|长斑|斑", "提亮肤色，淡化色斑"),
            (r"出油|油皮|痘|毛孔", "深层清洁"),
            (r"太重|好重|很重|太沉", "轻便"),
            (r"漏", "防漏"),
            (r"掉毛|猫毛|狗毛|宠物毛", "清理宠物毛发"),
            (r"减肥|减脂|瘦身|健康|少油|少吃油|控糖", "健康饮食"),
            (
                r"不知道(?:他|她|他们|对方)(?:喜欢|想要|缺)|让(?:他|她|他们|对方)自己(?:挑|选)|什么都不缺|挑剔",
                "礼品卡",
            ),
            (r"没衣服穿|不知道穿什么", "衣服，穿搭"),
            (r"无聊|没事做|打发时间", "消遣，阅读，听音乐"),
            (r"睡不着|失眠|哄睡", "睡前"),
            (r"滑(?:到|下|落|掉|走)|打滑|掉下|掉到|掉地", "防滑，固定"),
            (r"摔|碎屏|刮花|划痕", "保护"),
            (r"通勤|地铁|公交|高铁|火车|上下班", "通勤"),
            (r"自驾|开车出去|长途开车|坐车", "自驾出游，旅行"),
            (r"搬家|搬新家|一个人住|自己住|租房|新家|上大学|住校|宿舍", "居家，厨房，做饭"),
        )
    ),
}
# An occasion says the need is a gift, and only that: it counts when nothing else in the story says what.
_OCCASIONS = {
    "en": re.compile(
        r"\b(?:secret santa|christmas|xmas|birthday|anniversary|housewarming|baby shower|graduation"
        r"|retirement|valentine['’]?s|mother['’]?s day|father['’]?s day|thank[- ]you|empty[- ]handed"
        r"|new year|farewell|leaving (?:do|party|present|gift)|goodbye (?:present|gift))\b",
        re.I,
    ),
    "zh": re.compile(
        r"生日|纪念日|乔迁|满月|毕业|退休|圣诞|新年|过年|春节|中秋|情人节|母亲节|父亲节|过节|答谢|空手|空着手"
        r"|见家长|拜年|走亲戚"
    ),
}
GIFT_USE = {"en": "gift", "zh": "礼物"}
# A child's age says who the products are for, in the catalogue's audience words.
_EN_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
}  # fmt: skip
_ZH_NUMBERS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
               "十": 10, "十一": 11, "十二": 12, "十三": 13, "十四": 14, "十五": 15, "十六": 16}  # fmt: skip
_AGE = {
    "en": re.compile(
        rf"\b(?P<years>\d{{1,2}}|{'|'.join(_EN_NUMBERS)})[- ]?(?:years?|yrs?)[- ]?old\b"
        rf"|\bturn(?:s|ing|ed)? (?P<turns>\d{{1,2}}|{'|'.join(_EN_NUMBERS)})\b(?! (?:dollars|bucks|percent))"
        r"|\b(?P<months>\d{1,2}[- ]?months?[- ]?old|newborn)\b",
        re.I,
    ),
    "zh": re.compile(
        r"(?P<years>\d{1,2}|十[一二三四五六]?|[一两二三四五六七八九])(?:周)?岁"
        r"|(?P<months>满月|百天|(?:\d{1,2}|十[一二]?|[一两二三四五六七八九])个月)"
    ),
}
AGE_USES = {  # up to this age in years: the audience
    "en": ((1, "babies"), (3, "babies and toddlers"), (11, "kids"), (17, "teens")),
    "zh": ((1, "婴幼儿，宝宝"), (3, "婴幼儿"), (11, "儿童"), (17, "青少年")),
}
# Messages about an order, a delivery, a payment or the account: not needs, however they score.
_SERVICE = {
    "en": re.compile(
        r"\b(?:orders?|ordered|refunds?|refunded|returns?|returned|returning|deliver(?:y|ies)|shipping|ship"
        r"|shipped|shipment|parcels?|packages?|tracking|invoices?|receipts?|charged|payments?|paid|accounts?"
        r"|passwords?|log ?in|sign ?in|address|human|agent|representative|complain\w*|unacceptable"
        r"|discount codes?|coupons?|vouchers? codes?)\b",
        re.I,
    ),
    "zh": re.compile(
        r"订单|单号|退款|退货|换货|快递|物流|发货|包裹|到货|签收|发票|扣款|付款|支付|账号|账户|密码|登录|登不上"
        r"|地址|人工|客服|投诉|不满意|优惠券|优惠码"
    ),
}

# ----------------------------------------------------------------------------------------- attributes
# An attribute is answered from the product's own data, never from general knowledge. Obvious words name
# it at once (in this order of precedence: "is it safe in the dishwasher" is about care, not a warning).
ATTRIBUTE_ORDER = (
    "stock", "price", "in_the_box", "compatibility", "sizes", "colors", "materials", "care", "warnings",
)  # fmt: skip
CUES: dict[str, dict[str, str]] = {
    "stock": {
        "en": r"\bin stock\b|\bsold out\b|\bout of stock\b|\bavailab(?:le|ility)\b|\brestock|\bback in stock",
        "zh": r"有货|现货|库存|缺货|断货|补货|卖完|没货|有没有货",
    },
    "price": {
        "en": r"\bprices?\b|\bcosts?\b|\bhow much (?:is|are)\b(?! it (?:weigh|hold))|\bexpensive\b",
        "zh": r"多少钱|价格|价钱|售价|贵不贵|几块钱|什么价",
    },
    "in_the_box": {
        "en": r"\bin the (?:box|package)\b|\binclud(?:e|es|ed|ing)\b|\bcomes? with\b"
        r"|\bwhat(?:'s| is) inside\b|\bpackag(?:e|ing)\b",
        "zh": r"包装|盒子里|包含|附带|自带|赠送|送不送|送什么|有送|带不带|标配|含不含|里面有什么"
        r"|(?:配|送|带)(?:充电器|充电头|数据线|充电线|线|收纳)",
    },
    "compatibility": {
        "en": r"\bworks? (?:with|on)\b|\bcompatib|\bpairs? with\b|\bconnects? to\b|\buse (?:it |them )?with\b"
        r"|\bsupports? (?:my|the|iphone|android)\b"
        r"|\bfits? (?:my|an?|the) (?!son|daughter|kid|child|feet|foot|wife|husband|size)",
        "zh": r"兼容|适配|适用于|能用在|可以用在|能连|可以连|配对|支持(?:苹果|安卓|iphone|华为|小米|三星)"
        r"|(?:苹果|安卓|iphone|华为|小米|三星|电脑|笔记本|ipad)(?:手机)?(?:能|可以|能不能)用",
    },
    "sizes": {
        "en": r"\bsiz(?:e|es|ing)\b|\bfit me\b|\b\d{2,3}\s?(?:cm|kg|lbs?)\b"
        r"|\bwill (?:it|they|this) fit (?:me|him|her|my (?:son|daughter|kid|child))\b"
        r"|\bsize chart\b|\btrue to size\b|\bruns? (?:small|large|big)\b",
        "zh": r"尺码|码数|什么码|多大码|哪个码|几码|选码|尺码表|偏大|偏小|身高|体重|鞋码"
        r"|\d{2,3}\s?(?:cm|kg|斤|公斤|厘米)",
    },
    "colors": {
        "en": r"\bcolou?rs?\b|\bshades?\b",
        "zh": r"颜色|什么色|几种色|配色|色号",
    },
    "materials": {
        "en": r"\bmaterials?\b|\bmade (?:of|from)\b|\bfabrics?\b|\bingredients?\b",
        "zh": r"材质|材料|面料|什么做的|成分|用料",
    },
    "care": {
        "en": r"\bwash|\bclean|\bcare for\b|\bdishwasher|\bdry clean|\biron(?:ing)?\b|\btumble dry|\bdescale",
        "zh": r"清洗|洗涤|怎么洗|机洗|水洗|手洗|干洗|保养|清洁|洗碗机|熨",
    },
    "warnings": {
        "en": r"\bpregnan|\bbreast-?feed|\bnursing\b|\bsafe\b|\bsafety\b|\bwarnings?\b|\ballerg"
        r"|\bsensitive skin\b|\bside effects?\b|\bchild(?:ren)?\b|\bkids?\b|\bbab(?:y|ies)\b|\btoddlers?\b"
        r"|\bdanger|\bhazard",
        "zh": r"孕妇|孕期|怀孕|哺乳|宝宝|婴儿|儿童|小孩|孩子|过敏|敏感肌|安全|副作用|注意事项|禁忌|危险",
    },
}
# The shape of a question that points at a spec: (question pattern, spec name pattern), first match wins.
SPEC_HINTS: dict[str, list[tuple[str, str]]] = {
    "en": [
        (r"\bhow (?:long|fast) (?:does it take )?to (?:re)?charge\b|\bcharging time\b|\brecharge", r"charg"),
        (
            r"\bbattery\b|\bhow long (?:does|will) (?:it|the \w+) last\b|\bplay ?time\b|\bhours of\b",
            r"battery|play ?time|runtime",
        ),
        (r"\bhow long\b|\blength\b|\bhow tall\b", r"length|\blong\b|height"),
        (r"\bhow heavy\b|\bweigh", r"weight"),
        (r"\bhow (?:big|large|small)\b|\bdimensions?\b|\bpacked\b|\bfolded\b", r"size|dimension"),
        (r"\bwaterproof|\bwater[- ]?resist|\bswim|\bshower\b|\bsplash", r"water|ip\d"),
        (r"\bhow many\b.*\b(?:pieces|pcs|bricks|blocks)\b|\bpieces\b", r"pieces|quantity|count"),
        (
            r"\bcapacity\b|\bhow much (?:does it|will it|can it) hold\b|\bvolume\b"
            r"|\bhow many (?:cups|litres|liters)\b|\bhow much water\b",
            r"capacity|volume",
        ),
        (r"\bhow warm\b|\bwarmth\b", r"warm"),
        (
            r"\b(?:shut|switch|turn)s? (?:itself )?off\b|\bauto(?:matic)?\b|\boverheat|\bboil[- ]dry",
            r"safety|auto|shut",
        ),
        (r"\bwarrant|\bguarantee", r"warrant|guarantee"),
        (r"\bage\b|\bhow old\b|\bages\b|\byear[- ]olds?\b", r"\bage"),
        (r"\bpower\b|\bwatts?\b|\bwattage\b", r"power|output"),
        (r"\bstorage\b|\bhow many books\b", r"storage|memory"),
        (r"\bscreen\b|\bdisplay\b", r"screen|display"),
    ],
    "zh": [
        (r"充电多久|充满|充电时间|充一次电", r"充电"),
        (r"续航|多久|电池|多长时间|几个小时", r"续航|电池|播放"),
        (r"多长|长度|多高", r"长度|长|高度"),
        (r"多重|重量|重不重|多沉|几斤|轻不轻|最重|最轻|多少公斤|多少斤|几公斤", r"重量|净重|重"),
        (r"多大|尺寸|大小|收起来|折叠", r"尺寸|大小|收纳"),
        (r"防水|防溅|游泳|洗澡|淋雨|泡水|进水|沾水|下水", r"防水|ip"),
        (r"多少粒|几粒|多少片|几片|多少块(?!钱)|几块(?!钱)|数量", r"粒|片|数量|块数"),
        (r"容量|装多少|能装", r"容量|容积"),
        (r"保暖|暖和|多暖", r"保暖|温度"),
        (r"断电|自动关|防干烧|过热", r"安全|断电"),
        (r"保修|质保", r"保修|质保"),
        (r"年龄|几岁|多大的孩子|适合多大", r"年龄"),
        (r"功率|多少瓦", r"功率|输出"),
        (r"存储|内存|能存多少", r"存储|内存"),
        (r"屏幕|显示", r"屏幕|显示"),
    ],
}
# A question about one of these groups is answered only from a warning that speaks of it.
TOPICS: dict[str, dict[str, tuple[str, str]]] = {  # language: (in a question, in a warning)
    "pregnancy": {
        "en": (r"pregnan|breast-?feed|nursing|expecting", r"pregnan|breast|nursing"),
        "zh": (r"孕|哺乳", r"孕|哺乳"),
    },
    "children": {
        "en": (
            r"\bchild|\bkids?\b|\bbab(?:y|ies)\b|toddler|infant|\byears? old\b|\byear-old",
            r"child|kid|bab(?:y|ies)|toddler|infant|\bages?\b|under \d|small parts|chok",
        ),
        "zh": (r"儿童|孩子|小孩|宝宝|婴|幼|岁", r"儿童|孩子|小孩|宝宝|婴|幼|岁|小零件|窒息"),
    },
    "allergy": {
        "en": (
            r"allerg|sensitive skin|\bnuts?\b|latex|gluten|lactose",
            r"allerg|nut|contain|latex|fragrance|patch test|gluten|soy|milk|dairy|sensitive",
        ),
        "zh": (r"过敏|敏感|坚果|乳胶|麸质|乳糖", r"过敏|坚果|含|乳胶|香精|大豆|乳制品|麸质|敏感"),
    },
}
DESCRIPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "price": {"en": ("price", "how much does it cost"), "zh": ("价格", "多少钱")},
    "stock": {"en": ("is it in stock", "can I buy it now"), "zh": ("有货吗", "还有库存吗")},
    "sizes": {"en": ("what size should I get", "size chart and fit"), "zh": ("尺码怎么选", "穿什么码")},
    "colors": {"en": ("what colours does it come in",), "zh": ("有什么颜色",)},
    "materials": {"en": ("what is it made of", "material"), "zh": ("什么材质", "用什么材料做的")},
    "care": {"en": ("how do I wash and look after it",), "zh": ("怎么清洗保养",)},
    "in_the_box": {"en": ("what comes in the box", "what is included"), "zh": ("包装里有什么", "附带什么")},
    "compatibility": {"en": ("what does it work with", "is it compatible with my device"),
                      "zh": ("兼容什么设备", "适用于哪些设备")},
    "warnings": {"en": ("is it safe", "warnings, who should not use it"),
                 "zh": ("安全吗", "注意事项，什么人不能用")},
}  # fmt: skip
STOCK_TEXT = {True: {"en": "in stock", "zh": "有现货"}, False: {"en": "out of stock", "zh": "暂时缺货"}}
LIST_SEPARATOR = {"en": "; ", "zh": "；"}

_EN_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_EN_COMPOUND = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+")
_HAS_DIGIT = re.compile(r"\d")
_PARENTHESES = re.compile(r"[(（][^)）]*[)）]")
_MEASURE = re.compile(
    r"\d+(?:[.,]\d+)?\+?\s*(?:(?:mah|ml|cm|mm|kg|gsm|oz|gb|tb|lm|inch|in|pcs|pack|pk|g|m|w|l|p|x|%)(?![a-z])"
    r"|米|厘米|毫米|毫升|升|克|千克|公斤|寸|英寸|件|个|双|片|粒|条|包|只|套|对|瓦|毫安|流明)?",
    re.I,
)
_EN_QUALIFIER = re.compile(r"\s(?:for|with|of|in)\s|[,:–—]|\s-\s")
_UNIT_WORDS = frozenset(
    {"mah", "ml", "cm", "mm", "kg", "gb", "tb", "lm", "pack", "pcs", "inch", "pair", "set"}
)
_MODEL_WORDS = frozenset({"pro", "max", "mini", "plus", "lite", "ultra", "se", "edition"})
# A last character that names a product on its own; broader ones (衣, 包, 表) are parts of other words.
_ZH_SINGLE_NOUNS = frozenset("锅鞋壶杯伞碗盘刀")
_ZH_SETS = frozenset({"套装", "套件", "礼盒", "组合", "装", "套"})  # "积木套装" is a 积木
_PACK = re.compile(
    r"[一二两三四五六七八九十\d]+\s*[只条片件个双粒包盒袋瓶支对]装|,?\s*set of \d+|\d+-pack", re.I
)
# Words of a compatibility question that are not what it is about.
_COMPATIBILITY_WORDS = {
    "en": frozenset({
        "work", "works", "working", "compatible", "compatibility", "fit", "fits", "pair", "pairs", "connect",
        "connects", "use", "using", "support", "supports", "ok", "okay", "fine", "also", "both",
    }),
    "zh": frozenset({
        "兼容", "适配", "适用", "适用于", "能用", "可以", "能连", "连接", "支持", "配对",
        "能不能", "不能", "可不可以",
    }),
}  # fmt: skip
# Words that ask about an attribute ("waterproof", "防水") never name a product by themselves.
_ATTRIBUTE_WORD = re.compile(
    "|".join(
        [*(c[lang] for c in CUES.values() for lang in ("en", "zh"))]
        + [q for lang in ("en", "zh") for q, _ in SPEC_HINTS[lang]]
    )
)
_ZH_MIXED = re.compile(r"[\u4e00-\u9fff][a-z]+")
_ZH_MIXED_AFTER = re.compile(r"[a-z]+[\u4e00-\u9fff]")
_ZH_GENERIC_ENDINGS = frozenset("液乳膏霜")  # "精华液" is also called 精华, but 充电宝 is not 充电
# "The second one", "第二个": a product among those just offered; -1 is the last.
_ORDINALS = {
    "en": [
        (re.compile(r"\b(?:first|1st|top) (?:one|pick|option)\b|\bthe first\b"), 0),
        (re.compile(r"\b(?:second|2nd|middle) (?:one|pick|option)\b|\bthe second\b"), 1),
        (re.compile(r"\b(?:third|3rd) (?:one|pick|option)\b|\bthe third\b"), 2),
        (re.compile(r"\b(?:last|bottom) (?:one|pick|option)\b|\bthe last\b"), -1),
    ],
    "zh": [
        (re.compile(r"第[一1](?:个|款|种|件)"), 0),
        (re.compile(r"第[二2](?:个|款|种|件)|中间(?:那|的)"), 1),
        (re.compile(r"第[三3](?:个|款|种|件)"), 2),
        (re.compile(r"最后(?:一|那)"), -1),
    ],
}


# ------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Pick:
    product: Product
    score: float
    reason: str  # what matched, in the conversation's language
    reason_kind: str  # use | audience | summary; owned: fits what they bought; fits: what they named
    fits: Product | None = None  # the product the customer owns (or named) that this accessory fits


@dataclass(frozen=True)
class Recommendation:
    picks: tuple[Pick, ...]  # within the budget, best first; empty when nothing fits it
    currency: str  # the currency to show prices in: the one the customer named, else the language's
    budget: Budget | None = None
    category: str | None = None
    closest: Pick | None = None  # nothing in the budget: the relevant option nearest to it
    understood: bool = True  # False: no product is near enough to the need to recommend


@dataclass(frozen=True)
class Story:
    readings: tuple[str, ...]  # the need read other ways; empty when it tells no story
    pointed: bool  # it says what is wanted (a thing loved or wanted, a problem, an activity...) or at length


@dataclass(frozen=True)
class Identified:
    product: Product | None
    how: str  # id | name | option | remembered | meaning | ambiguous | none
    candidates: tuple[Product, ...] = ()  # when ambiguous: the products it could be
    score: float = 0.0


@dataclass(frozen=True)
class Attribute:
    key: str  # stock, price, in_the_box, ..., or "specs:<English name>"
    name: str  # in the language: the spec's own name; for the others, the key
    value: str  # the answer, in the language
    aliases: tuple[str, ...] = ()  # other names for it (the spec's name in the other language)


@dataclass(frozen=True)
class AttributeAnswer:
    attribute: Attribute | None
    how: str  # cue | spec | meaning; None: missing | unsure | topic | unlisted
    score: float = 0.0
    ranked: tuple[tuple[str, float], ...] = ()  # every attribute of the product by meaning, best first


@dataclass
class _Space:
    documents: Matrix
    facets: Matrix
    facet_owner: np.ndarray
    facet_text: list[str]
    facet_kind: list[str]


@dataclass
class _Names:
    """Per product, the words of its name in each language, its head nouns and the words no other
    product's name has; and which categories a category word points at."""

    terms: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    cleaned: dict[str, str] = field(default_factory=dict)  # the Chinese name as its words are found in it
    heads: dict[str, set[str]] = field(default_factory=dict)
    distinctive: dict[str, set[str]] = field(default_factory=dict)
    categories: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _NameMatch:
    words: frozenset[str]  # the name's words the message holds
    heads: frozenset[str]  # the head nouns among them
    distinctive: frozenset[str]  # those no other product's name has
    share: float  # of the name's words, in the name's language that matched best
    weight: int  # characters of the message the name covers (overlapping words counted once)


# --------------------------------------------------------------------------------------------- search
class ProductSearch:
    def __init__(
        self,
        catalog: Catalog,
        embed: Embed,
        *,
        space: Space | None = None,
        thresholds: dict[str, Thresholds] | None = None,
    ) -> None:
        self.catalog = catalog
        self._embed = embed
        self._space_key = space
        self.thresholds = thresholds or THRESHOLDS
        self._spaces: dict[tuple[str, str], _Space] = {}
        self._attribute_vectors: dict[tuple[str, str, str], tuple[list[str], Matrix]] = {}
        self._names: dict[str, _Names] = {}
        self._lock = asyncio.Lock()

    # ---- recommendations
    async def recommend(
        self, text: str, language: str, owned: Sequence[str] = (), limit: int = PICKS
    ) -> Recommendation:
        """Up to `limit` in-stock products for the need in `text`, within its budget and category, best
        first. An accessory request prefers what fits a product the customer owns (`owned`: product ids)
        or names."""
        language = _language(language)
        budget = parse_budget(text, language)
        currency = budget.currency if budget else currency_of(text, language)[0]
        asked = ACCESSORY[language].findall(text.lower())
        # "A charger for my headphones" is not asking for headphones: only the accessory's own words count.
        category = self.category_in(" ".join(asked) if asked else text, language)
        need = need_text(text, language)
        ranked = await self._score(need, language, text)
        scored = [s for s in ranked if s.product.in_stock]
        floor = self.thresholds[language].relevant
        service = _SERVICE[language].search(text) is not None
        if not service and (not scored or scored[0].score < floor):
            # Under the floor whole: a need told as a story may say what it needs more plainly read again.
            story = read_story(need, language, text)
            if story.readings:
                again = await self._story_scores(story, language, text, ranked)
                scored = [s for s in again if s.product.in_stock]
                if story.pointed and _stands_out(scored, floor - STORY_SLACK):
                    floor = scored[0].score
        meant = scored and scored[0].score >= floor
        if category is not None and not asked and meant and category not in _top_categories(scored):
            # A product word used as another word ("block out the noise" is not about building blocks):
            # when the need's meaning is clear, the category stands only if the best matches agree.
            category = None
        if category is not None:
            scored = [s for s in scored if s.product.category == category]
        if scored and scored[0].score >= floor:
            # Near the best match only: "running shoes under ¥300" is not answered with sandals.
            relevant = [s for s in scored if s.score >= scored[0].score - NEED_SPREAD]
        elif category is not None and not service:
            relevant = scored  # a need that is only a category ("any electronics under $20?")
        else:
            return Recommendation((), currency, budget, understood=False)
        relevant = self._fitting_first(relevant, scored, text, language, owned)
        if not relevant:
            return Recommendation((), currency, budget, category, understood=False)
        within = [s for s in relevant if budget is None or budget.allows(s.product.price.amount(currency))]
        if budget is not None and not within:
            nearest = min(
                relevant, key=lambda s: (budget.distance(s.product.price.amount(currency)), -s.score)
            )
            return Recommendation((), currency, budget, category, nearest)
        return Recommendation(tuple(within[:limit]), currency, budget, category)

    def _fitting_first(
        self, relevant: list[Pick], scored: list[Pick], text: str, language: str, owned: Sequence[str]
    ) -> list[Pick]:
        """An accessory request ("a charger", "替换耳罩") puts first what fits a product the customer owns
        or names: of the kind asked for when one of them is, else any near the best match."""
        asked = {_normal_word(a, language) for a in ACCESSORY[language].findall(text.lower())}
        if not asked:
            return relevant
        mine = [p for p in (self.catalog.get(i) for i in owned) if p is not None]
        targets = [(p, "owned") for p in mine]
        targets += [(p, "fits") for p in self.named(text, language) if p not in mine]
        if not targets:
            return relevant
        names = self._names_for(language)
        floor = self.thresholds[language].relevant
        best = relevant[0].score if relevant else floor
        fitting: list[tuple[bool, Pick]] = []
        for pick in scored:
            target = next(((t, kind) for t, kind in targets if t.id in pick.product.fits), None)
            if target is None:
                continue
            terms = set().union(*names.terms[pick.product.id].values())
            of_kind = bool(asked & terms) or any(a in pick.product.name.zh for a in asked if not a.isascii())
            if (of_kind and pick.score >= floor) or pick.score >= best - FIT_SLACK:
                product, how = target
                fitting.append(
                    (of_kind, Pick(pick.product, pick.score, product.name.get(language), how, product))
                )
        if any(of_kind for of_kind, _ in fitting):
            fitting = [f for f in fitting if f[0]]
        chosen = {pick.product.id for _, pick in fitting}
        return [pick for _, pick in fitting] + [p for p in relevant if p.product.id not in chosen]

    async def _score(self, text: str, language: str, message: str | None = None) -> list[Pick]:
        """Every product by relevance to the need in `text`, best first, each with the facet that matched
        best; names count from the whole `message`."""
        space = await self._space(language)
        query = (await self._embed([text], language))[0]
        documents = space.documents @ query
        facets = space.facets @ query
        best_facet = np.full(len(self.catalog), -1.0, dtype=np.float32)
        best_index = np.full(len(self.catalog), -1, dtype=np.int64)
        for row, owner in enumerate(space.facet_owner):
            if facets[row] > best_facet[owner]:
                best_facet[owner], best_index[owner] = facets[row], row
        coverage = self._name_coverage(message or text, language)
        picks = []
        for i, product in enumerate(self.catalog):
            score = (1 - FACET_WEIGHT) * float(documents[i]) + FACET_WEIGHT * float(best_facet[i])
            score += NAME_BOOST * coverage.get(product.id, 0.0)
            row = int(best_index[i])
            reason, kind = (space.facet_text[row], space.facet_kind[row]) if row >= 0 else ("", "summary")
            picks.append(Pick(product, round(score, 4), reason, kind))
        return sorted(picks, key=lambda p: -p.score)

    async def _story_scores(
        self, story: Story, language: str, message: str, whole: Sequence[Pick]
    ) -> list[Pick]:
        """Every product by its best score over the whole need (`whole`, scored already) and the story's
        readings, best first."""
        best = {pick.product.id: pick for pick in whole}
        for reading in story.readings:
            for pick in await self._score(reading, language, message):
                if pick.score > best[pick.product.id].score:
                    best[pick.product.id] = pick
        return sorted(best.values(), key=lambda p: -p.score)

    async def rank_products(self, text: str, language: str) -> list[Pick]:
        """Every product by relevance to `text` (no filters; a story under the floor read again, as
        `recommend` reads it): for measuring search quality."""
        language = _language(language)
        need = need_text(text, language)
        ranked = await self._score(need, language, text)
        if (
            ranked
            and ranked[0].score < self.thresholds[language].relevant
            and not _SERVICE[language].search(text)
        ):
            story = read_story(need, language, text)
            if story.readings:
                ranked = await self._story_scores(story, language, text, ranked)
        return ranked

    # ---- which product
    async def identify(
        self, text: str, language: str, remembered: str | None = None, options: Sequence[str] = ()
    ) -> Identified:
        """The product a question is about: its id in the message, its name, an ordinal over the products
        just offered ("the second one"), the product the conversation is about, or its meaning."""
        language = _language(language)
        for product in self.catalog:
            if any(
                re.search(rf"(?<![A-Za-z0-9-]){re.escape(s)}(?![A-Za-z0-9])", text, re.I)
                for s in product.skus
            ):
                return Identified(product, "id", score=1.0)
        offered = [p for p in (self.catalog.get(i) for i in options) if p is not None]
        if len(offered) > 1:
            for pattern, position in _ORDINALS[language]:
                if pattern.search(text.lower()) and position < len(offered):
                    return Identified(offered[position], "option", score=1.0)
        kept = self.catalog.get(remembered) if remembered else None
        named = self.named(text, language, strong=kept is not None)
        if len(named) == 1:
            return Identified(named[0], "name", score=1.0)
        if named:
            for preferred in ([kept] if kept else []) + offered:
                if preferred in named:
                    return Identified(preferred, "name", tuple(named), score=1.0)
            # Several named ("锅": the pan and the air fryer): the one the rest of the question means, if
            # clearly ("平底" is the pan); the words all of them share say nothing between them.
            matches = self._name_matches(text, language)
            shared = frozenset.intersection(*(matches[p.id].words for p in named))
            rest = _without_terms(text, shared)
            among = [s for s in await self._score(rest, language) if s.product in named] if rest else []
            margin = self.thresholds[language].product_margin
            if len(among) > 1 and among[0].score - among[1].score >= margin:
                return Identified(among[0].product, "name", tuple(named), score=among[0].score)
            return Identified(None, "ambiguous", tuple(named))
        if kept is not None:
            return Identified(kept, "remembered", score=1.0)
        if len(offered) > 1:
            return Identified(None, "ambiguous", tuple(offered))
        scored = await self._score(text, language)
        threshold = self.thresholds[language]
        best = scored[0]
        margin = best.score - (scored[1].score if len(scored) > 1 else 0.0)
        if best.score >= threshold.product and margin >= threshold.product_margin:
            return Identified(best.product, "meaning", score=best.score)
        return Identified(None, "none", tuple(s.product for s in scored[:3]), score=best.score)

    def named(self, text: str, language: str, strong: bool = False) -> list[Product]:
        """Products the message names: by three quarters of a name's words, its head noun ("headphones",
        "耳机") or a word of it no other name has ("chocolate"). Several named: the one named in full, else
        the one covering most of the message ("noise cancelling headphones" over "kids' headphones");
        still several, all of them (ambiguous). `strong` keeps only full names and head nouns of two or
        more characters, which outrank the product the conversation is about."""
        candidates: dict[str, _NameMatch] = {}
        for pid, match in self._name_matches(text, _language(language)).items():
            head = any(len(h) > 1 for h in match.heads) or (bool(match.heads) and not strong)
            if match.share >= FULL_NAME or head or (match.distinctive and not strong):
                candidates[pid] = match
        if not candidates:
            return []
        full = [pid for pid, match in candidates.items() if match.share >= FULL_NAME]
        if len(full) == 1:
            return [self._product(full[0])]
        ranked = sorted(candidates, key=lambda pid: -candidates[pid].weight)
        if len(ranked) == 1 or candidates[ranked[0]].weight > candidates[ranked[1]].weight:
            return [self._product(ranked[0])]
        return [self._product(pid) for pid in ranked]

    def _product(self, product_id: str) -> Product:
        product = self.catalog.get(product_id)
        if product is None:
            raise KeyError(product_id)
        return product

    def _name_coverage(self, text: str, language: str) -> dict[str, float]:
        return {pid: match.share for pid, match in self._name_matches(text, language).items()}

    def _name_matches(self, text: str, language: str) -> dict[str, _NameMatch]:
        """Every product with a word of its name in the message."""
        names = self._names_for(language)
        words = _message_terms(text, language)
        lowered = text.lower()
        found: dict[str, _NameMatch] = {}
        for product in self.catalog:
            matched: set[str] = set()
            share = 0.0
            for name_language, terms in names.terms[product.id].items():
                hits = {t for t in terms if t in words or (not t.isascii() and t in lowered)}
                matched |= hits
                if name_language == "zh":  # overlapping words: the share of the name's characters
                    name = names.cleaned[product.id]
                    share = max(share, _covered(name, hits) / max(_covered(name, terms), 1))
                else:
                    share = max(share, len(hits) / len(terms) if terms else 0.0)
            if matched:
                widest = {t for t in matched if not any(t != o and t in o for o in matched)}
                found[product.id] = _NameMatch(
                    frozenset(matched),
                    frozenset(matched & names.heads[product.id]),
                    frozenset(matched & names.distinctive[product.id]),
                    share,
                    sum(len(t) for t in widest),
                )
        return found

    def category_in(self, text: str, language: str) -> str | None:
        """The category the message names clearly: all its category words (a category's own words, or a
        head noun that two or more of its products share, such as "headphones" or "鞋") point at it."""
        language = _language(language)
        names = self._names_for(language)
        words = _message_terms(text, language)
        lowered = text.lower()
        named: set[str] = set()
        for word, categories in names.categories.items():
            if (" " in word and word in lowered) or word in words or (not word.isascii() and word in lowered):
                named |= categories
        return next(iter(named)) if len(named) == 1 else None

    def _names_for(self, language: str) -> _Names:
        cached = self._names.get(language)
        if cached is not None:
            return cached
        names = _Names()
        owners: dict[str, set[str]] = {}  # name word -> products
        head_owners: dict[tuple[str, str], int] = {}  # (head, category) -> products
        for product in self.catalog:
            names.terms[product.id] = {}
            names.heads[product.id] = set()
            names.cleaned[product.id] = _clean_name(product.name.zh)
            for name_language in ("en", "zh"):
                terms, heads = _name_terms(product.name.get(name_language), name_language)
                names.terms[product.id][name_language] = terms
                names.heads[product.id] |= heads
                for term in terms:
                    owners.setdefault(term, set()).add(product.id)
            for head in names.heads[product.id]:
                head_owners[(head, product.category)] = head_owners.get((head, product.category), 0) + 1
        for product in self.catalog:
            every = set().union(*names.terms[product.id].values())
            names.distinctive[product.id] = {
                t
                for t in every
                if owners[t] == {product.id}
                and len(t) >= (6 if t.isascii() else 2)
                and not _ATTRIBUTE_WORD.search(t)  # "waterproof", "防水": what is asked, not what is meant
            }
        for (head, category), count in head_owners.items():
            if count >= 2:  # a kind of product, not one product's own word ("layer", "tent")
                names.categories.setdefault(head, set()).add(category)
        # A category's own words name only it, whatever product names share them ("clothes", "cloths").
        present = set(self.catalog.categories)
        for category in present:
            for word in (*CATEGORY_WORDS.get(category, {}).get(language, ()), category.replace("_", " ")):
                names.categories[_normal_word(word, language)] = {category}
        self._names[language] = names
        return names

    # ---- which attribute
    async def answer(self, product: Product, text: str, language: str, currency: str) -> AttributeAnswer:
        """The attribute of `product` the question asks about, with its value in the language; `attribute`
        is None when the product has no such information or the question is unclear."""
        language = _language(language)
        attributes = {a.key: a for a in product_attributes(product, language, currency)}
        asked = self.without_name(text, product, language) or text.lower()
        ranked = tuple(await self._rank_attributes(product, attributes, asked, language))
        key, how = _lexical_attribute(product, asked, language, attributes)
        if key is not None:
            found = attributes.get(key)
            if found is None:
                return AttributeAnswer(None, "missing", 1.0, ranked)
            return self._checked(found, product, asked, language, how, ranked)
        threshold = self.thresholds[language]
        if not ranked:
            return AttributeAnswer(None, "unsure", 0.0, ranked)
        best_key, best = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if best >= threshold.attribute and best - second >= threshold.attribute_margin:
            return self._checked(attributes[best_key], product, asked, language, "meaning", ranked, best)
        return AttributeAnswer(None, "unsure", best, ranked)

    async def rank_attributes(self, product: Product, text: str, language: str) -> list[str]:
        """The product's attributes for the question, best first: the one its words name, then by meaning."""
        language = _language(language)
        attributes = {a.key: a for a in product_attributes(product, language, "USD")}
        asked = self.without_name(text, product, language) or text.lower()
        ranked = [k for k, _ in await self._rank_attributes(product, attributes, asked, language)]
        key, _ = _lexical_attribute(product, asked, language, attributes)
        return ([key] if key else []) + [k for k in ranked if k != key]

    def without_name(self, text: str, product: Product, language: str) -> str:
        """The question without the product's name, whose words would otherwise read as attributes ("the
        noise-cancelling headphones" is not a question about the noise-cancelling spec)."""
        return _without_terms(
            text, set().union(*self._names_for(_language(language)).terms[product.id].values())
        )

    @staticmethod
    def _checked(
        attribute: Attribute,
        product: Product,
        lowered: str,
        language: str,
        how: str,
        ranked: tuple[tuple[str, float], ...],
        score: float = 1.0,
    ) -> AttributeAnswer:
        """A question about pregnancy, children or allergies is answered only by warnings that speak of
        it, and "does it work with my PS5" only by a compatibility list that names it: a list that does
        not is no answer to the question."""
        if attribute.key == "compatibility" and _unlisted(product, lowered, language):
            return AttributeAnswer(None, "unlisted", score, ranked)
        if attribute.key != "warnings":
            return AttributeAnswer(attribute, how, score, ranked)
        topics = [t[language][1] for t in TOPICS.values() if re.search(t[language][0], lowered)]
        if not topics:
            return AttributeAnswer(attribute, how, score, ranked)
        warnings = product.warnings.get(language)
        relevant = [w for w in warnings if any(re.search(t, w.lower()) for t in topics)]
        if not relevant:
            return AttributeAnswer(None, "topic", score, ranked)
        value = LIST_SEPARATOR[language].join(relevant)
        return AttributeAnswer(Attribute("warnings", "warnings", value), how, score, ranked)

    async def _rank_attributes(
        self, product: Product, attributes: dict[str, Attribute], text: str, language: str
    ) -> list[tuple[str, float]]:
        keys, vectors = await self._attribute_space(product, language)
        if not keys:
            return []
        query = (await self._embed([text], language))[0]
        scores = vectors @ query
        best: dict[str, float] = {}
        for key, score in zip(keys, scores, strict=True):
            if key in attributes and score > best.get(key, -1.0):
                best[key] = float(score)
        return sorted(((k, round(v, 4)) for k, v in best.items()), key=lambda kv: -kv[1])

    # ---- vectors
    async def _space(self, language: str) -> _Space:
        key = (language, await self._space_key() if self._space_key else "")
        async with self._lock:
            found = self._spaces.get(key)
            if found is None:
                found = await self._build_space(language)
                self._spaces = {k: v for k, v in self._spaces.items() if k[1] == key[1]}
                self._spaces[key] = found
            return found

    async def _build_space(self, language: str) -> _Space:
        documents = [product_document(p, language) for p in self.catalog]
        facet_text: list[str] = []
        facet_kind: list[str] = []
        facet_owner: list[int] = []
        for i, product in enumerate(self.catalog):
            for kind, texts in (
                ("use", product.uses.get(language)),
                ("audience", product.audience.get(language)),
                ("summary", (product.summary.get(language),)),
            ):
                for item in texts:
                    facet_text.append(item)
                    facet_kind.append(kind)
                    facet_owner.append(i)
        vectors = await self._embed(documents + facet_text, language)
        count = len(documents)
        return _Space(
            documents=np.ascontiguousarray(vectors[:count]),
            facets=np.ascontiguousarray(vectors[count:]),
            facet_owner=np.asarray(facet_owner, dtype=np.int64),
            facet_text=facet_text,
            facet_kind=facet_kind,
        )

    async def _attribute_space(self, product: Product, language: str) -> tuple[list[str], Matrix]:
        space = await self._space_key() if self._space_key else ""
        key = (product.id, language, space)
        async with self._lock:
            found = self._attribute_vectors.get(key)
            if found is None:
                pairs = attribute_texts(product, language)
                if pairs:
                    vectors = await self._embed([t for _, t in pairs], language)
                else:
                    vectors = np.zeros((0, 1), dtype=np.float32)
                found = ([k for k, _ in pairs], vectors)
                self._attribute_vectors[key] = found
            return found


# ------------------------------------------------------------------------------------------- helpers
def need_text(text: str, language: str) -> str:
    """What a shopper needs, to match by meaning: the message without its budget, and without "gift"
    when it says more ("a gift for my dad who likes cooking" is about cooking; gift cards would
    otherwise match every such message)."""
    need = without_budget(text, language) or text.lower()
    purpose = re.sub(r"\s+", " ", re.sub(GIFT_WORDS[language], " ", need)).strip()
    return purpose if len(tokenize(purpose, language)) >= 2 else need


def read_story(need: str, language: str, message: str = "") -> Story:
    """Other readings of a need told as a story, to match by meaning; none when the message tells no story
    (of a person, what they love or want, a problem, an activity or an occasion). The readings: the need
    without its people, pronouns and fillers ("my husband can't function without his morning coffee":
    "can't function without his morning coffee"); what the person loves or wants ("his morning coffee");
    and the uses the story points at ("my phone dies": "power bank, portable charging"), beside that plain
    need and alone. `message` (the whole one) may name the occasion the need was read without ("present")."""
    language = _language(language)
    liked = [m.group("object") for m in _LIKES[language].finditer(need)]
    uses = [u for pattern, u in _STORY_USES[language] if pattern.search(need)]
    occasion = bool(
        _OCCASIONS[language].search(need) or re.search(GIFT_WORDS[language], f"{need} {message.lower()}")
    )
    audience = _audience(need, language)
    if not (liked or uses or occasion or audience or _TELLS[language].search(need)):
        return Story((), False)
    if occasion and not liked and not uses:
        uses.append(GIFT_USE[language])
    if audience:
        uses.append(audience)
    plain = without_story(need, language)
    readings = [plain, *liked]
    if uses:
        # The uses beside the story keep its context; alone, they outweigh the story's other words.
        joined = ("，" if language == "zh" else ", ").join(dict.fromkeys(uses))
        readings += [f"{plain or need}{'。' if language == 'zh' else '. '}{joined}", joined]
    out: list[str] = []
    for reading in readings:
        reading = reading.strip(" ,.;:!?，。；：！？")
        if reading and reading != need and reading not in out and tokenize(reading, language):
            out.append(reading)
    told = len(tokenize(need, language)) >= STORY_WORDS  # a long story says enough to stand out on its own
    return Story(tuple(out), bool(liked or uses) or told)


def _audience(need: str, language: str) -> str | None:
    """Who a child's age in the story makes the audience ("my 5 year old": kids), if it names one."""
    found = _AGE[language].search(need)
    if found is None:
        return None
    if found.group("months") is not None:
        years = 0
    else:
        raw = found.group("years") or found.groupdict().get("turns") or ""
        numbers = _ZH_NUMBERS if language == "zh" else _EN_NUMBERS
        years = int(raw) if raw.isdigit() else numbers.get(raw.lower(), 99)
    return next((use for limit, use in AGE_USES[language] if years <= limit), None)


def without_story(text: str, language: str) -> str:
    """The text without who a need is for, when, pronouns and fillers, which dilute its meaning."""
    if language == "zh":
        words = _jieba_tokenizer().lcut(text.lower())
        return "".join(w for w in words if w.strip() not in _ZH_PEOPLE | _ZH_STORY).strip()
    out = _EN_STORY.sub(" ", text.lower())
    out = re.sub(r"\s+([,.;:!?])", r"\1", out)
    out = re.sub(r"([,.;:!?])(?:\s*[,.;:!?])+", r"\1", out)
    return re.sub(r"\s+", " ", out).strip(" ,.;:!?")


def _stands_out(scored: Sequence[Pick], floor: float) -> bool:
    """Whether the best match reaches `floor` and stands clear of the field: a story that fits one kind of
    product, where a message about nothing the store sells scores a little for everything."""
    if not scored or scored[0].score < floor:
        return False
    field = scored[min(STORY_FIELD, len(scored)) - 1].score
    return scored[0].score - field >= STORY_LEAD


def product_document(product: Product, language: str) -> str:
    """What a product is embedded as: name, summary, category, uses and audience."""
    category = (
        CATEGORY_LABELS_ZH.get(product.category, product.category)
        if language == "zh"
        else (product.category.replace("_", " "))
    )
    separator = "，" if language == "zh" else ", "
    parts = [
        product.name.get(language),
        product.summary.get(language),
        category,
        separator.join(product.uses.get(language)),
        separator.join(product.audience.get(language)),
    ]
    return ("。" if language == "zh" else ". ").join(p for p in parts if p)


def product_attributes(product: Product, language: str, currency: str) -> list[Attribute]:
    """Every attribute the product has information on, with its value written out in the language."""
    separator = LIST_SEPARATOR[language]
    out = [
        Attribute("price", "price", format_money(product.price.amount(currency), currency)),
        Attribute("stock", "stock", STOCK_TEXT[product.in_stock][language]),
    ]
    sizes = ", ".join(product.sizes)
    guide = product.size_guide.get(language) if product.size_guide else ""
    if sizes or guide:
        out.append(Attribute("sizes", "sizes", separator.join(x for x in (sizes, guide) if x)))
    for key in ("colors", "in_the_box", "compatibility", "warnings"):
        items = getattr(product, key).get(language)
        if items:
            out.append(
                Attribute(key, key, ("、" if key == "colors" and language == "zh" else separator).join(items))
            )
    for key in ("materials", "care"):
        text = getattr(product, key)
        if text is not None:
            out.append(Attribute(key, key, text.get(language)))
    en_names = [name for name, _ in product.specs.en]
    zh_names = [name for name, _ in product.specs.zh]
    aligned = len(en_names) == len(zh_names)
    for position, (name, value) in enumerate(product.specs.get(language)):
        english = en_names[position] if aligned or language == "en" else name
        aliases = (en_names[position], zh_names[position]) if aligned else (name,)
        out.append(Attribute(f"specs:{english}", name, value, aliases))
    return out


def attribute_texts(product: Product, language: str) -> list[tuple[str, str]]:
    """(attribute key, text) pairs a question is compared with: what each attribute is about, and its
    values (a question often names one: "does it come in blue", "is it OK with an iPhone")."""
    pairs: list[tuple[str, str]] = []
    for attribute in product_attributes(product, language, "USD"):
        if attribute.key.startswith("specs:"):
            pairs += [
                (attribute.key, attribute.name),
                (attribute.key, f"{attribute.name}: {attribute.value}"),
            ]
            continue
        pairs += [(attribute.key, d) for d in DESCRIPTIONS[attribute.key][language]]
        if attribute.key in ("colors", "in_the_box", "compatibility", "warnings"):
            pairs += [(attribute.key, item) for item in getattr(product, attribute.key).get(language)]
        elif attribute.key in ("materials", "care", "sizes"):
            pairs.append((attribute.key, attribute.value[:200]))
    return pairs


def _unlisted(product: Product, asked: str, language: str) -> bool:
    """Whether the question names something ("a laptop", "PS5") that no compatibility entry mentions;
    a question naming nothing ("what does it work with?") is answered by the whole list."""
    entries = " ".join(product.compatibility.en + product.compatibility.zh).lower()
    if language == "zh":
        named = {t for t in tokenize(asked, "zh") if t not in _COMPATIBILITY_WORDS["zh"] and _useful_zh(t)}
        return bool(named) and not any(t in entries for t in named)
    listed = _message_terms(entries, "en")
    named = {
        _term(w)
        for w in _EN_TOKEN.findall(asked)
        if w not in EN_STOPWORDS and w not in _COMPATIBILITY_WORDS["en"] and not w.isdigit()
    }
    return bool(named) and not named & listed


def _lexical_attribute(
    product: Product, asked: str, language: str, attributes: dict[str, Attribute]
) -> tuple[str | None, str]:
    """The attribute the question's words name, and how: a spec's full name, a question shape that
    points at a spec ("how heavy": weight), an obvious word ("in the box", "尺码"), then half a spec's
    name. A word for something the product has no information on still names it (the answer: missing)."""
    spec, share, spec_length = _spec_named(product, asked, language)
    cue, cue_length = _cue(asked, language)
    if (
        spec is not None
        and share >= 1.0
        and (cue is None or spec_length > cue_length or cue not in attributes)
    ):
        return spec, "spec"
    hinted = _spec_hinted(product, asked, language)
    if hinted is not None:
        return hinted, "spec"
    if cue is not None and cue in attributes:
        return cue, "cue"
    if spec is not None:
        return spec, "spec"
    return cue, "cue"


def _cue(lowered: str, language: str) -> tuple[str | None, int]:
    for key in ATTRIBUTE_ORDER:
        found = re.search(CUES[key][language], lowered)
        if found:
            return key, len(found.group(0))
    return None, 0


def _spec_hinted(product: Product, lowered: str, language: str) -> str | None:
    """The spec a question's shape points at ("how heavy", "多重": weight), if the product has one."""
    en_names = [name for name, _ in product.specs.en]
    aligned = len(en_names) == len(product.specs.zh)
    words = _message_terms(lowered, language)
    for question, spec_name in SPEC_HINTS[language]:
        if not re.search(question, lowered):
            continue
        fitting = []
        for position, (name, _) in enumerate(product.specs.get(language)):
            english = en_names[position] if aligned or language == "en" else name
            if re.search(spec_name, name.lower()) or re.search(spec_name, english.lower()):
                # Several fit ("inner size", "packed size"): the one sharing most with the question.
                if language == "zh":
                    shared = sum(ch in lowered for ch in set(name.lower()))
                else:
                    shared = len(_name_terms(name, "en", heads=False)[0] & words)
                fitting.append((shared, -position, f"specs:{english}"))
        if fitting:
            return max(fitting)[2]
    return None


def _spec_named(product: Product, lowered: str, language: str) -> tuple[str | None, float, int]:
    """The spec whose name the question holds best: its key, the share of its name's words present and
    the name's length."""
    words = _message_terms(lowered, language)
    best: tuple[str | None, float, int] = (None, 0.0, 0)
    en_names = [name for name, _ in product.specs.en]
    aligned = len(en_names) == len(product.specs.zh)
    for position, (name, _) in enumerate(product.specs.get(language)):
        english = en_names[position] if aligned or language == "en" else name
        terms = _zh_words(name) if language == "zh" else _name_terms(name, language, heads=False)[0]
        if language == "zh":
            whole = name.lower() in lowered
            present = {t for t in terms if t in lowered}
        else:
            whole = re.search(rf"\b{re.escape(name.lower())}\b", lowered) is not None
            present = {t for t in terms if t in words and len(t) >= 4}
        share = 1.0 if whole else (len(present) / len(terms) if terms else 0.0)
        if share >= 0.5 and (share, len(name)) > (best[1], best[2]):
            best = (f"specs:{english}", share, len(name))
    return best


def _top_categories(scored: Sequence[Pick], count: int = 3) -> set[str]:
    """The categories of the best `count` products by meaning."""
    return {pick.product.category for pick in scored[:count]}


def _language(language: str) -> str:
    return "zh" if language == "zh" else "en"


def _normal_word(word: str, language: str) -> str:
    if language == "zh" or " " in word:
        return word.lower()
    return _term(word.lower())


def _term(word: str) -> str:
    """An English word as names and messages are compared: no possessive, stemmed, without a final "e"
    or a doubled final consonant, so "shoe"/"shoes", "running"/"run" and "case"/"cases" meet."""
    word = re.sub(r"['’]s?$", "", word)
    if word in ("clothes", "clothing"):
        return "clothes"  # not "cloth"
    word = stem(word)
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiousl":
        word = word[:-1]
    return word


def _message_terms(text: str, language: str) -> set[str]:
    """The message's words as name terms are written: normalised English words and hyphenated compounds
    joined ("t-shirt" also as "tshirt"), and Chinese words."""
    lowered = text.lower()
    terms = {_term(w) for w in _EN_TOKEN.findall(lowered)}
    terms |= {_term(c.replace("-", "")) for c in _EN_COMPOUND.findall(lowered)}
    if language == "zh":
        terms |= set(tokenize(lowered, "zh"))
    return terms


def _without_terms(text: str, terms: Set[str]) -> str:
    """The text (lowercased) without the first occurrence of each name term (longest Chinese ones
    first, and not again inside one already removed)."""
    removed: set[str] = set()

    def drop(match: re.Match[str]) -> str:
        term = _term(match.group(0))
        if term in terms and term not in removed:
            removed.add(term)
            return " "
        return match.group(0)

    out = _EN_TOKEN.sub(drop, text.lower())
    # Longest first, and alphabetically among equals: set order changes from run to run with string hashing.
    for term in sorted((t for t in terms if not t.isascii()), key=lambda t: (-len(t), t)):
        if term in out and not any(term in r for r in removed):
            removed.add(term)
            out = out.replace(term, " ", 1)
    return re.sub(r"\s+", " ", out).strip()


def _clean_name(name: str) -> str:
    """A name without its measures, pack sizes and remarks in brackets."""
    return _MEASURE.sub(" ", _PARENTHESES.sub(" ", _PACK.sub(" ", name.lower())))


def _covered(text: str, terms: set[str]) -> int:
    """How many characters of `text` the terms cover."""
    covered = [False] * len(text)
    for term in terms:
        start = text.find(term)
        while start >= 0:
            covered[start : start + len(term)] = [True] * len(term)
            start = text.find(term, start + 1)
    return sum(covered)


def _name_terms(name: str, language: str, heads: bool = True) -> tuple[set[str], set[str]]:
    """A product name's words (no numbers, units or stopwords) and its head nouns: in English the last
    word before any "for"/"with" ("Replacement ear cushions for ... headphones": cushions), skipping
    model words and acronyms ("earbuds Pro", "sunscreen SPF"); in Chinese the last word and the words
    that end it ("降噪耳机": 耳机), the word without a generic last character ("精华液": 精华), and a
    last character that names a product on its own ("跑步鞋": 鞋)."""
    cleaned = _clean_name(name)
    if language == "zh":
        words = [
            w.strip()
            for w in _jieba_tokenizer().lcut(cleaned)
            if w.strip() and not _HAS_DIGIT.search(w) and w.strip() not in _MODEL_WORDS | _ZH_SETS
        ]
        if len(words) >= 2 and len(words[-1]) == 1 and not words[-1].isascii():
            words[-2:] = [words[-2] + words[-1]]  # a last character joins its word: 瑜伽+垫, t+恤
        terms = {t for t in tokenize(cleaned, "zh") if _useful_zh(t)} - _ZH_SETS
        terms |= {w for w in words if _useful_zh(w)}
        terms |= set(_ZH_MIXED.findall(cleaned)) | set(_ZH_MIXED_AFTER.findall(cleaned))  # 维c, t恤
        head_terms: set[str] = set()
        if heads and words:
            last = words[-1]
            head_terms = {t for t in terms if last.endswith(t) and (len(t) > 1 or t in _ZH_SINGLE_NOUNS)}
            if len(last) >= 3 and last[-1] in _ZH_GENERIC_ENDINGS and last[:-1] in terms:
                head_terms.add(last[:-1])
            if last[-1] in _ZH_SINGLE_NOUNS:
                head_terms.add(last[-1])
            # "扫地机" is the 扫地机器人: a long head's first three characters or more name it too.
            head_terms |= {h[:n] for h in list(head_terms) if len(h) >= 4 for n in range(3, len(h))}
            terms |= head_terms
        return terms, head_terms
    words = [w for w in _EN_TOKEN.findall(cleaned) if _useful_en(w)]
    terms = {_term(w) for w in words}
    terms |= {_term(c.replace("-", "")) for c in _EN_COMPOUND.findall(cleaned)}
    head_terms = set()
    if heads:
        acronyms = {w.lower() for w in re.findall(r"\b[A-Z]{2,4}\b", name)}
        core = _EN_QUALIFIER.split(f" {cleaned} ")[0]
        for conjunct in core.split(" and "):  # "Robot vacuum and mop": vacuum, mop
            for word in reversed(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", conjunct)):
                parts = [p for p in word.split("-") if _useful_en(p)]
                if parts and parts[-1] not in _MODEL_WORDS and parts[-1] not in acronyms:
                    head_terms.add(_term(parts[-1]))
                    if "-" in word:
                        head_terms.add(_term(word.replace("-", "")))
                    break
    return terms, head_terms


def _zh_words(text: str) -> set[str]:
    return {w.strip() for w in _jieba_tokenizer().lcut(text.lower()) if w.strip() and _useful_zh(w.strip())}


def _useful_en(word: str) -> bool:
    return (
        len(word) >= 2
        and not _HAS_DIGIT.search(word)
        and word not in EN_STOPWORDS
        and word not in _UNIT_WORDS
        and word not in ("s", "'s")
    )


def _useful_zh(token: str) -> bool:
    if _HAS_DIGIT.search(token):
        return False
    if token.isascii():
        return _useful_en(token)
    return len(token) >= 2 or token in _ZH_SINGLE_NOUNS
