"""Knowledge-base articles: Markdown files with YAML front matter, parsed and validated with file:line errors.

Editors fix what the message names, so every problem carries the file and the line it was found on, and all
problems in the knowledge base are reported together instead of one per build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("en", "zh")
CATEGORIES = frozenset(
    {
        "account",
        "invoices",
        "membership",
        "orders",
        "payment",
        "privacy",
        "product_care",
        "promotions",
        "refunds",
        "returns",
        "shipping",
        "sizing",
        "warranty",
    }
)
QUESTION_TYPES = frozenset({"faq", "how_to", "policy", "troubleshooting"})
URGENCIES = frozenset({"low", "normal", "high"})
REQUIRED = ("id", "language", "title", "category", "question_type", "urgency")
OPTIONAL = ("tags", "related", "questions")


@dataclass(frozen=True)
class Article:
    """One answer in one language; the unit the bot answers with."""

    id: str
    language: str
    title: str
    category: str
    question_type: str
    urgency: str
    tags: tuple[str, ...]
    related: tuple[str, ...]
    body: str
    path: str
    content_hash: str
    # How customers ask for this answer, in their words: each is embedded on its own, because a question
    # is matched best by another question (the body is written as an answer, the title as a heading).
    questions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "language": self.language,
            "title": self.title,
            "category": self.category,
            "question_type": self.question_type,
            "urgency": self.urgency,
            "tags": list(self.tags),
            "related": list(self.related),
            "questions": list(self.questions),
            "body": self.body,
            "path": self.path,
            "content_hash": self.content_hash,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Article:
        return cls(
            id=data["id"],
            language=data["language"],
            title=data["title"],
            category=data["category"],
            question_type=data["question_type"],
            urgency=data["urgency"],
            tags=tuple(data["tags"]),
            related=tuple(data["related"]),
            body=data["body"],
            path=data["path"],
            content_hash=data["content_hash"],
            questions=tuple(data.get("questions", ())),
        )


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ArticleError(Exception):
    """One or more articles are invalid; str() lists them as `path:line: message`, one per line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is below it, so editors can click it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def article_files(kb_dir: Path) -> list[Path]:
    return sorted(p for lang in LANGUAGES for p in (kb_dir / lang).glob("*.md"))


def parse_article(path: Path, raw: bytes | None = None) -> Article:
    """Parse and validate one file on its own (cross-article checks are in load_articles)."""
    shown = display_path(path)
    raw = path.read_bytes() if raw is None else raw
    problems: list[Problem] = []

    def fail(line: int, message: str) -> None:
        problems.append(Problem(shown, line, message))

    try:
        text = raw.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ArticleError([Problem(shown, line, "not valid UTF-8")]) from None
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ArticleError([Problem(shown, 1, "missing front matter: the file must start with a '---' line")])
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise ArticleError([Problem(shown, 1, "front matter is not closed with a '---' line")])
    fields, key_lines = _front_matter(shown, "\n".join(lines[1:end]))
    body = "\n".join(lines[end + 1 :]).strip()

    for key in fields:
        if key not in REQUIRED and key not in OPTIONAL:
            fail(key_lines[key], f"unknown field '{key}' (allowed: {', '.join(REQUIRED + OPTIONAL)})")
    for key in REQUIRED:
        if key not in fields:
            fail(end + 1, f"missing field '{key}'")
        elif not isinstance(fields[key], str) or not fields[key].strip():
            fail(key_lines[key], f"'{key}' must be a non-empty text")
    lists: dict[str, tuple[str, ...]] = {}
    for key in OPTIONAL:
        value = fields.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            fail(key_lines.get(key, end + 1), f"'{key}' must be a list of non-empty texts, like [a, b]")
            value = []
        lists[key] = tuple(v.strip() for v in value)
    if problems:
        raise ArticleError(problems)

    def check(key: str, allowed: Iterable[str], what: str) -> None:
        if fields[key] not in allowed:
            fail(key_lines[key], f"unknown {what} '{fields[key]}' (allowed: {', '.join(sorted(allowed))})")

    check("language", LANGUAGES, "language")
    check("category", CATEGORIES, "category")
    check("question_type", QUESTION_TYPES, "question type")
    check("urgency", URGENCIES, "urgency")
    if fields["language"] in LANGUAGES and path.parent.name != fields["language"]:
        fail(
            key_lines["language"],
            f"language '{fields['language']}' does not match folder '{path.parent.name}'",
        )
    if fields["id"] != path.stem:
        fail(key_lines["id"], f"id '{fields['id']}' does not match the file name '{path.name}'")
    for question in lists["questions"]:
        if not _same_question(question):
            fail(key_lines["questions"], f"question '{question}' has no words")
    if not body:
        fail(end + 1, "the answer is empty: write it below the closing '---'")
    if problems:
        raise ArticleError(problems)
    return Article(
        id=fields["id"],
        language=fields["language"],
        title=fields["title"].strip(),
        category=fields["category"],
        question_type=fields["question_type"],
        urgency=fields["urgency"],
        tags=lists["tags"],
        related=lists["related"],
        body=body,
        path=shown,
        content_hash=content_hash(raw),
        questions=lists["questions"],
    )


def _front_matter(shown: str, text: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The front matter's fields and the file line of each key (the front matter starts on line 2)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        reason = getattr(exc, "problem", None) or "invalid YAML"
        raise ArticleError([Problem(shown, line, f"front matter is not valid YAML: {reason}")]) from None
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise ArticleError([Problem(shown, 2, "front matter must be 'key: value' lines")])
    key_lines = {str(k.value): k.start_mark.line + 2 for k, _ in node.value}
    return {str(k): v for k, v in data.items()}, key_lines


def load_articles(kb_dir: Path) -> list[Article]:
    """All articles under kb_dir/{en,zh}, validated together (ids unique, related ids exist)."""
    problems: list[Problem] = []
    parsed: list[tuple[Path, Article]] = []
    for path in article_files(kb_dir):
        try:
            parsed.append((path, parse_article(path)))
        except ArticleError as exc:
            problems.extend(exc.problems)
    by_id: dict[str, Article] = {}
    for path, article in parsed:
        if article.id in by_id:
            other = by_id[article.id].path
            problems.append(
                Problem(article.path, _line_of(path, "id"), f"duplicate id '{article.id}' (also in {other})")
            )
        by_id[article.id] = article
    for path, article in parsed:
        for rel in article.related:
            other_article = by_id.get(rel)
            if other_article is None:
                problems.append(
                    Problem(article.path, _line_of(path, "related"), f"related article '{rel}' not found")
                )
            elif other_article.language != article.language:
                message = f"related article '{rel}' is not in {article.language}"
                problems.append(Problem(article.path, _line_of(path, "related"), message))
    asked_in: dict[tuple[str, str], Article] = {}
    for path, article in parsed:
        for question in article.questions:
            key = (article.language, _same_question(question))
            first = asked_in.setdefault(key, article)
            if first.id != article.id:  # two answers to one question: search could only pick at random
                message = f"question '{question}' is also a question of '{first.id}' ({first.path})"
                problems.append(Problem(article.path, _line_of(path, "questions"), message))
    if problems:
        raise ArticleError(sorted(problems, key=lambda p: (p.path, p.line)))
    if not parsed:
        raise ArticleError(
            [Problem(display_path(kb_dir), 1, "no articles found (expected en/*.md and zh/*.md)")]
        )
    return [article for _, article in parsed]


def _same_question(text: str) -> str:
    """A question as compared for duplicates: case, spacing and end punctuation do not count."""
    return " ".join(text.casefold().split()).rstrip("?？!！.。 ")


def _line_of(path: Path, key: str) -> int:
    """Line of a front-matter key, read again only when a cross-article check fails."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(f"{key}:"):
            return number
    return 1
