"""Tokens for the lexical score: lowercase, lightly stemmed words in English, jieba words in Chinese.

jieba gets its own Tokenizer with the store's vocabulary (data/vocabulary/jieba_userdict.txt), so
loading it changes nothing for other jieba users in the process; it is created on first use because its
dictionary takes a second to load.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from common.patterns import ORDER_ID

_EN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_ZH_KEEP = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]")
# Words that say nothing about which article is meant; kept out of the lexical score only.
_EN_STOP = """a about am an and any are as at be been but by can could did do does doing for from get got
had has have how i i'm if in into is it it's its just me my of on or our please pls so than that the their
them then there these they this to too was we were what when where which who why will with would you your"""
_ZH_STOP = """的 了 吗 呢 吧 啊 呀 嘛 么 我 你 您 他 她 它 们 我们 是 在 和 与 就 都 也
还 又 要 会 能 可以 请问 请 一下 这个 那个 这 那 有 没 怎么 怎么办 如何 什么
为什么 哪 哪里 多少 几 亲 哦 嗯"""
EN_STOPWORDS = frozenset(_EN_STOP.split())
ZH_STOPWORDS = frozenset(_ZH_STOP.split())

_jieba_lock = threading.Lock()
_jieba: Any = None


def _jieba_tokenizer() -> Any:
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            import jieba

            from common.tokenizer_vocabulary import USER_DICT

            jieba.setLogLevel(60)  # its start-up chatter goes to stderr otherwise
            tokenizer = jieba.Tokenizer()
            if USER_DICT.exists():
                with USER_DICT.open("rb") as handle:  # jieba leaves a file it opened itself unclosed
                    tokenizer.load_userdict(handle)
            _jieba = tokenizer
        return _jieba


def stem(word: str) -> str:
    """A few English suffixes, enough that "refunds", "refunded" and "refunding" meet "refund"."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            if suffix == "es" and not word.endswith(("ches", "shes", "xes", "zes", "oes")):
                continue
            return word[: len(word) - len(suffix)] + keep
    return word


def tokenize(text: str, language: str) -> list[str]:
    text = text.lower()
    if language == "zh":
        words = _jieba_tokenizer().lcut_for_search(text)
        out = []
        for word in words:
            word = word.strip()
            if not word or word in ZH_STOPWORDS or not _ZH_KEEP.search(word):
                continue
            out.append(stem(word) if word.isascii() else word)
        return out
    return [stem(w) for w in _EN_WORD.findall(text) if w not in EN_STOPWORDS]


# Everyday words for what the articles call by one name: "send back" is how customers say "return", and
# the articles say "return".
_SEND_BACK = r"(?i)\b(?:send|sent|sending|ship|shipping|mail|post|bring|take)\s+(?:it\s+|them\s+)?back\b"
_PLAIN_TERMS = {
    "en": ((re.compile(_SEND_BACK), "return"),),
}


# An order number or an emoji says nothing about which article answers; left in, they dilute the match
# (chat-style calibration questions: answered en 75.0 -> 76.1%, zh 73.3 -> 76.7%, docs/benchmarks.md).
_NOISE = re.compile(ORDER_ID.pattern + r"|[\U0001F300-\U0001FAFF\u2600-\u27BF]")


# Chinese shoppers type English words inside Chinese ("invoice可以发我邮箱吗") and slip on homophones
# ("定单"); the articles use one Chinese word for each.
QUERY_TERMS_ZH = Path(__file__).resolve().parents[1] / "data" / "vocabulary" / "query_terms_zh.yml"


class QueryTermsError(ValueError):
    """The query-terms file is malformed; the message names the file and the key."""


@cache
def _zh_terms() -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One pattern for every English word (whole words, any case) and every slip, and their replacements."""
    if not QUERY_TERMS_ZH.is_file():
        return None, {}
    raw = yaml.safe_load(QUERY_TERMS_ZH.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise QueryTermsError(f"{QUERY_TERMS_ZH}: expected a mapping with code_switch and typos")
    terms: dict[str, str] = {}
    for section in ("code_switch", "typos"):
        entries = raw.get(section) or {}
        if not isinstance(entries, dict):
            raise QueryTermsError(
                f"{QUERY_TERMS_ZH}: {section} must be a mapping of typed word -> article word"
            )
        for typed, meant in entries.items():
            if not isinstance(meant, str) or not str(typed).strip() or not meant.strip():
                raise QueryTermsError(f"{QUERY_TERMS_ZH}: {section}.{typed} must map a word to a word")
            terms[str(typed).lower()] = meant
    if not terms:
        return None, {}
    alternatives = []
    for typed in sorted(terms, key=len, reverse=True):  # the longest first: "credit card" before "card"
        word = re.escape(typed)
        alternatives.append(f"(?<![a-z]){word}(?![a-z])" if typed.isascii() else word)
    return re.compile("|".join(alternatives), re.IGNORECASE), terms


def plain_terms(query: str, language: str) -> str:
    """The query in the articles' words, searched in place of what was typed (also by the evaluations)."""
    for pattern, term in _PLAIN_TERMS.get(language, ()):
        query = pattern.sub(term, query)
    if language == "zh":
        typed, terms = _zh_terms()
        if typed is not None:
            query = typed.sub(lambda m: terms[m.group(0).lower()], query)
    cleaned = " ".join(_NOISE.sub(" ", query).split())
    return cleaned or query


# Where a chat message splits into sentences that can each be a question of their own: sentence ends,
# and in English the words that join a second thought ("… but", "… also", "btw"); in Chinese also commas
# and spaces, which people type in place of full stops.
_EN_SENTENCE_BREAK = re.compile(r"[.?!;\n]+|\s+(?:but|also|btw|and also|anyway|so)\s+", re.IGNORECASE)
_ZH_SENTENCE_BREAK = re.compile(r"[。？！?!；;\n，,]+|\s+")
# A sentence needs this many words that say something (tokenize drops the rest) to be searched alone,
# and a question word: the story around a question ("getting my sister a sweater for her birthday") can
# match an article of its own that nobody asked about.
_SENTENCE_MIN_TOKENS = {"en": 3, "zh": 2}
_QUESTION_WORD = {
    "en": re.compile(
        r"\b(?:how|what|when|where|which|who|why|can|could|do|does|did|is|are|will|would|should|may)\b",
        re.IGNORECASE,
    ),
    "zh": re.compile(
        r"[吗嘛呢]|怎么|怎样|如何|能不能|可不可以|可以|多久|几天|多少|哪|是否|有没有|要不要|需不需要|行不行"
    ),
}


def sentence_views(text: str, language: str) -> list[str]:
    """The question sentences of a message worth searching on their own; [] when the message is one."""
    pattern = _ZH_SENTENCE_BREAK if language == "zh" else _EN_SENTENCE_BREAK
    minimum = _SENTENCE_MIN_TOKENS.get(language, 3)
    question = _QUESTION_WORD.get(language, _QUESTION_WORD["en"])
    parts = [p.strip() for p in pattern.split(text) if p and p.strip()]
    if len(parts) < 2:
        return []
    return [p for p in parts if question.search(p) and len(tokenize(p, language)) >= minimum]
