"""Long articles become passages by heading and paragraph; every article also gets a title card."""

from __future__ import annotations

import dataclasses

from kb_index.articles import Article
from kb_index.chunking import chunk_article, lexical_text, passage_text, passages


def article(body: str, language: str = "en") -> Article:
    return Article(
        "en-a", language, "Returns guide", "returns", "policy", "normal", ("returns",), (), body, "x", "h"
    )


def test_short_article_is_one_passage() -> None:
    chunks = chunk_article(article("Short answer."))
    assert [(c.heading, c.text) for c in chunks] == [("", "Short answer.")]


def test_long_article_splits_at_headings() -> None:
    body = (
        "Intro " * 40 + "\n\n## How long\n\n" + "Thirty days. " * 30 + "\n\n## Costs\n\n" + "You pay. " * 40
    )
    chunks = chunk_article(article(body), max_chars=300, min_chars=50)
    assert list(dict.fromkeys(c.heading for c in chunks)) == ["", "How long", "Costs"]
    assert all(len(c.text) <= 300 for c in chunks)
    assert "## " not in " ".join(c.text for c in chunks)


def test_long_paragraph_splits_at_sentences() -> None:
    body = " ".join(f"Sentence number {i} is here." for i in range(40))
    chunks = chunk_article(article(body), max_chars=200, min_chars=10)
    assert len(chunks) > 1
    assert all(c.text.endswith(".") and len(c.text) <= 200 for c in chunks)


def test_chinese_splits_at_chinese_sentence_ends() -> None:
    body = "这是一个句子。" * 80
    chunks = chunk_article(article(body, "zh"), max_chars=100, min_chars=10)
    assert all(c.text.endswith("。") and len(c.text) <= 100 for c in chunks)


def test_tiny_section_joins_the_previous_passage() -> None:
    body = "## Main\n\n" + "Words here. " * 30 + "\n\n## Questions?\n\nAsk us."
    chunks = chunk_article(article(body), max_chars=500, min_chars=50)
    assert len(chunks) == 1
    assert "## Questions?" in chunks[0].text and "Ask us." in chunks[0].text


def test_passages_start_with_a_title_card_and_carry_context() -> None:
    a = article("## Costs\n\n" + "You pay for return shipping. " * 30)
    found = passages(a)
    assert found[0].kind == "title" and found[0].ordinal == 0
    assert passage_text(a, found[0]) == "Returns guide\nreturns"
    body_text = passage_text(a, found[1])
    assert body_text.startswith("Returns guide\nCosts\n")
    assert lexical_text(a, found[1]).endswith("returns")


def test_each_customer_question_is_a_passage_of_its_own() -> None:
    a = dataclasses.replace(article("Short answer."), questions=("where is my refund", "money back?"))
    found = passages(a)
    assert [c.kind for c in found] == ["title", "body", "question", "question"]
    assert [c.ordinal for c in found] == [0, 1, 2, 3]
    assert passage_text(a, found[2]) == lexical_text(a, found[2]) == "where is my refund"
