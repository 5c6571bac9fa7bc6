"""Queries in the articles' words: how customers say "return", English and slips inside Chinese; order
numbers and emoji left out."""

from pathlib import Path

import pytest

from kb_index import tokens
from kb_index.tokens import plain_terms


@pytest.mark.parametrize(
    ("typed", "searched"),
    [
        ("how long do I have to send back a kettle?", "how long do I have to return a kettle?"),
        ("can I send it back if I change my mind", "can I return if I change my mind"),
        ("who pays for shipping them back", "who pays for return"),
        ("the parcel was sent yesterday", "the parcel was sent yesterday"),  # no "back": unchanged
    ],
)
def test_sending_back_is_searched_as_returning(typed: str, searched: str) -> None:
    assert plain_terms(typed, "en") == searched


def test_other_languages_are_searched_as_typed() -> None:
    assert plain_terms("寄回去要多久", "zh") == "寄回去要多久"


@pytest.mark.parametrize(
    ("typed", "language", "searched"),
    [
        (
            "refund says processed but my bank shows nothing. SO-10048826",
            "en",
            "refund says processed but my bank shows nothing.",
        ),
        ("resend invoice pls 10078831 🙏", "en", "resend invoice pls"),
        ("推款退到哪了 订单号10211328", "zh", "推款退到哪了 订单号"),
        ("is the 2024 model 220v", "en", "is the 2024 model 220v"),  # not an order number
        ("SO-10048826", "en", "SO-10048826"),  # nothing else to search: as typed
    ],
)
def test_order_numbers_and_emoji_are_not_searched(typed: str, language: str, searched: str) -> None:
    assert plain_terms(typed, language) == searched


@pytest.mark.parametrize(
    ("typed", "searched"),
    [
        ("invoice可以发我邮箱吗", "发票可以发我邮箱吗"),  # English inside Chinese, the articles' word
        ("忘记Password了", "忘记密码了"),  # any case
        ("优惠卷用不了", "优惠券用不了"),  # an input-method slip
        ("passwordless登录", "passwordless登录"),  # whole English words only
    ],
)
def test_chinese_queries_are_searched_in_the_articles_words(typed: str, searched: str) -> None:
    assert plain_terms(typed, "zh") == searched


def test_english_queries_keep_their_english_words() -> None:
    assert plain_terms("where is my invoice", "en") == "where is my invoice"


def test_a_malformed_query_terms_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "query_terms_zh.yml"
    monkeypatch.setattr(tokens, "QUERY_TERMS_ZH", broken)
    try:
        for text, named in (
            ("version: 1\ncode_switch: [invoice, 发票]\n", "code_switch"),
            ("- invoice\n", "mapping"),
        ):
            broken.write_text(text, encoding="utf-8")
            tokens._zh_terms.cache_clear()
            with pytest.raises(tokens.QueryTermsError, match=rf"query_terms_zh.yml: .*{named}"):
                plain_terms("invoice", "zh")
    finally:
        tokens._zh_terms.cache_clear()
