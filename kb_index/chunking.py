"""Split long articles into passages by headings, then paragraphs, so a long guide is found by any section.

Sentence encoders average over their input, so a 3,000-character guide embedded whole matches nothing well;
each passage is embedded with the article title in front so it keeps its context. The article, not the
passage, is still what search returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kb_index.articles import Article

_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[。！？；])|(?<=[.!?;])(?=\s)")

# Characters per passage: about one section of a guide, well inside what all-MiniLM-L6-v2 reads (256 word
# pieces); a Chinese character carries about what two Latin letters do. 250/120 and 900/360 measured within
# a query or three of these on the eval sets (docs/benchmarks.md), so the middle was kept.
MAX_CHARS = {"en": 600, "zh": 300}
# A section shorter than this is joined to the previous passage instead of standing alone.
MIN_CHARS = {"en": 150, "zh": 75}


@dataclass(frozen=True)
class Chunk:
    """A passage: the article's title card (title and tags, ordinal 0) or a piece of its body."""

    article_id: str
    ordinal: int
    heading: str
    text: str
    kind: str = "body"  # "title" | "body" | "question"

    def to_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "ordinal": self.ordinal,
            "kind": self.kind,
            "heading": self.heading,
            "text": self.text,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chunk:
        return cls(data["article_id"], int(data["ordinal"]), data["heading"], data["text"], data["kind"])


def passages(article: Article) -> list[Chunk]:
    """Everything embedded for an article: a title card (questions often echo the title), the body, and
    each of the customer questions it answers."""
    card = Chunk(article.id, 0, "", article.title, kind="title")
    body = [Chunk(c.article_id, c.ordinal + 1, c.heading, c.text) for c in chunk_article(article)]
    first = len(body) + 1
    asked = [Chunk(article.id, first + i, "", q, kind="question") for i, q in enumerate(article.questions)]
    return [card, *body, *asked]


def chunk_article(
    article: Article, max_chars: int | None = None, min_chars: int | None = None
) -> list[Chunk]:
    """Passages of an article; a body that fits in max_chars stays one passage."""
    limit = max_chars or MAX_CHARS.get(article.language, MAX_CHARS["en"])
    smallest = min_chars if min_chars is not None else MIN_CHARS.get(article.language, MIN_CHARS["en"])
    if len(article.body) <= limit:
        return [Chunk(article.id, 0, "", article.body)]
    pieces: list[tuple[str, str]] = []
    for heading, section in _sections(article.body):
        for part in _pack(_paragraphs(section), limit):
            pieces.append((heading, part))
    merged: list[tuple[str, str]] = []
    for heading, part in pieces:
        if merged and len(part) < smallest and len(merged[-1][1]) + len(part) <= limit:
            prev_heading, prev = merged[-1]
            joined_heading = f"## {heading}\n" if heading and heading != prev_heading else ""
            merged[-1] = (prev_heading, f"{prev}\n\n{joined_heading}{part}")
        else:
            merged.append((heading, part))
    return [Chunk(article.id, i, heading, text) for i, (heading, text) in enumerate(merged)]


def passage_text(article: Article, chunk: Chunk) -> str:
    """What the encoder reads: a title card is the title and tags, a question itself; a body passage gets
    title and heading."""
    if chunk.kind == "title":
        return "\n".join([article.title, ", ".join(article.tags)]).strip()
    if chunk.kind == "question":
        return chunk.text
    parts = [article.title, chunk.heading, _plain(chunk.text)]
    return "\n".join(p for p in parts if p)


def lexical_text(article: Article, chunk: Chunk) -> str:
    """What BM25 reads: the encoder's text plus the tags, the words editors expect customers to use."""
    text = passage_text(article, chunk)
    return text if chunk.kind != "body" else f"{text}\n{' '.join(article.tags)}"


def _plain(text: str) -> str:
    """Markdown emphasis and list markers carry no meaning for an encoder."""
    text = re.sub(r"\*\*|__|`", "", text)
    return re.sub(r"^\s*(?:[-*+]|\d+\.)\s+", "", text, flags=re.MULTILINE)


def _sections(body: str) -> list[tuple[str, str]]:
    sections: list[tuple[str, str]] = []
    heading, lines = "", list[str]()
    for line in body.split("\n"):
        match = _HEADING.match(line)
        if match:
            if "\n".join(lines).strip():
                sections.append((heading, "\n".join(lines).strip()))
            heading, lines = match.group(1), []
        else:
            lines.append(line)
    if "\n".join(lines).strip():
        sections.append((heading, "\n".join(lines).strip()))
    return sections


def _paragraphs(section: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", section) if p.strip()]


def _pack(paragraphs: list[str], limit: int) -> list[str]:
    """Greedily join paragraphs up to limit; a paragraph longer than limit is split at sentence ends."""
    parts: list[str] = []
    current = ""
    for paragraph in paragraphs:
        for piece in _split_long(paragraph, limit):
            if current and len(current) + 2 + len(piece) > limit:
                parts.append(current)
                current = piece
            else:
                current = f"{current}\n\n{piece}" if current else piece
    if current:
        parts.append(current)
    return parts


def _split_long(paragraph: str, limit: int) -> list[str]:
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in (s for s in _SENTENCE_END.split(paragraph) if s):
        while len(sentence) > limit:  # no sentence end within reach: cut hard
            if current.strip():
                pieces.append(current.strip())
            current = ""
            pieces.append(sentence[:limit].strip())
            sentence = sentence[limit:]
        if current and len(current) + len(sentence) > limit:
            pieces.append(current.strip())
            current = sentence
        else:
            current += sentence
    if current.strip():
        pieces.append(current.strip())
    return [p for p in pieces if p]
