"""Article parsing and validation: every problem names the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb_index.articles import ArticleError, load_articles, parse_article
from kb_index.cli import main
from kb_index.testing import article_text, sample_kb, write_article

GOOD = article_text("en-a", "returns", "A title", ["x", "y"], [], "The answer.")


def problems(path: Path) -> list[str]:
    with pytest.raises(ArticleError) as info:
        parse_article(path)
    return [f"{p.line}: {p.message}" for p in info.value.problems]


def test_parses_front_matter_and_body(tmp_path: Path) -> None:
    article = parse_article(write_article(tmp_path, "en-a", GOOD))
    assert (article.id, article.language, article.category, article.urgency) == (
        "en-a",
        "en",
        "returns",
        "normal",
    )
    assert article.tags == ("x", "y")
    assert article.body == "The answer."
    assert len(article.content_hash) == 64


def test_unknown_category_names_its_line(tmp_path: Path) -> None:
    path = write_article(tmp_path, "en-a", GOOD.replace("category: returns", "category: foo"))
    with pytest.raises(ArticleError) as info:
        parse_article(path)
    assert str(info.value).startswith(f"{path}:5: unknown category 'foo'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no front matter\n", "1: missing front matter"),
        ("---\nid: en-a\n", "1: front matter is not closed"),
        (GOOD.replace("urgency: normal", "urgency: [oops"), "8: front matter is not valid YAML"),
        (GOOD.replace("urgency: normal", "urgency: normal\ncolour: red"), "8: unknown field 'colour'"),
        (GOOD.replace("question_type: faq\n", ""), "9: missing field 'question_type'"),
        (GOOD.replace("id: en-a", "id: en-b"), "2: id 'en-b' does not match the file name 'en-a.md'"),
        (GOOD.replace("language: en", "language: zh"), "3: language 'zh' does not match folder 'en'"),
        (GOOD.replace("tags: [x, y]", "tags: x"), "8: 'tags' must be a list"),
        (GOOD.replace("The answer.", ""), "10: the answer is empty"),
        (GOOD.replace("urgency: normal", "urgency: urgent"), "7: unknown urgency 'urgent'"),
    ],
)
def test_problems_carry_line_numbers(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(write_article(tmp_path, "en-a", text))
    assert any(p.startswith(expected) for p in found), found


def test_cross_article_checks(tmp_path: Path) -> None:
    write_article(tmp_path, "en-a", GOOD.replace("related: []", "related: [en-missing]"))
    write_article(tmp_path, "zh-b", article_text("zh-b", "returns", "标题", [], ["en-a"], "答案"))
    with pytest.raises(ArticleError) as info:
        load_articles(tmp_path)
    text = str(info.value)
    assert "en-a.md:9: related article 'en-missing' not found" in text
    assert "zh-b.md:9: related article 'en-a' is not in zh" in text


def test_customer_questions_are_parsed_and_one_question_has_one_article(tmp_path: Path) -> None:
    asked = GOOD.replace(
        "related: []", "questions:\n  - where is my refund?\n  - money back when\nrelated: []"
    )
    assert parse_article(write_article(tmp_path, "en-a", asked)).questions == (
        "where is my refund?",
        "money back when",
    )
    bad = GOOD.replace("related: []", "questions: where is my refund\nrelated: []")
    assert "9: 'questions' must be a list" in "\n".join(problems(write_article(tmp_path, "en-a", bad)))
    bad = GOOD.replace("related: []", "questions: ['??']\nrelated: []")
    assert "9: question '??' has no words" in "\n".join(problems(write_article(tmp_path, "en-a", bad)))
    write_article(tmp_path, "en-a", asked)
    other = article_text("en-b", "refunds", "Refunds", [], [], "Soon.")
    write_article(
        tmp_path, "en-b", other.replace("related: []", "questions: [Where is my  refund]\nrelated: []")
    )
    with pytest.raises(ArticleError) as info:
        load_articles(tmp_path)
    assert "en-b.md:9: question 'Where is my  refund' is also a question of 'en-a'" in str(info.value)


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    write_article(tmp_path, "en-a", GOOD.replace("category: returns", "category: foo"))
    write_article(tmp_path, "en-b", "no front matter")
    with pytest.raises(ArticleError) as info:
        load_articles(tmp_path)
    assert len(info.value.problems) == 2


def test_sample_knowledge_base_is_valid(tmp_path: Path) -> None:
    assert len(load_articles(sample_kb(tmp_path))) == 8


def test_build_stops_on_invalid_article_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample_kb(tmp_path / "kb")
    write_article(tmp_path / "kb", "en-a", GOOD.replace("category: returns", "category: foo"))
    code = main(["build", "--kb-dir", str(tmp_path / "kb"), "--index-dir", str(tmp_path / "index")])
    err = capsys.readouterr().err
    assert code == 1
    assert "en-a.md:5: unknown category 'foo'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "index" / "versions").exists()
