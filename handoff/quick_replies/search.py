"""Finding templates as the agent types after '/': ranked matches over shortcut, id, title and text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from handoff.quick_replies.model import Template

_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class _Entry:
    """A template with its lowercased fields computed once, so each keystroke is a plain scan."""

    template: Template
    order: int
    shortcut: str
    id: str
    title: str
    text: str
    words: tuple[str, ...]
    everything: str

    @classmethod
    def of(cls, template: Template, order: int) -> _Entry:
        id_, title = template.id.casefold(), template.title.casefold()
        text = template.text.casefold()
        words = tuple(dict.fromkeys(_WORD.findall(f"{id_} {title}")))
        everything = "\n".join((template.shortcut, id_, title, text))
        return cls(template, order, template.shortcut, id_, title, text, words, everything)

    def rank(self, query: str, terms: Sequence[str]) -> int | None:
        if self.shortcut == query:
            return 0
        if self.shortcut.startswith(query):
            return 1
        if (
            self.title.startswith(query)
            or self.id.startswith(query)
            or any(word.startswith(query) for word in self.words)
        ):
            return 2
        if query in self.title:  # Chinese titles have no spaces to split words on
            return 3
        if query in self.text:
            return 4
        if len(terms) > 1 and all(term in self.everything for term in terms):
            return 5
        return None


class QuickReplies:
    """All templates, in a stable order: files by name, templates as written in each file."""

    def __init__(self, templates: Iterable[Template]) -> None:
        self._templates = tuple(templates)
        self._by_key = {(t.language, t.id): t for t in self._templates}
        if len(self._by_key) != len(self._templates):
            raise ValueError("template ids must be unique per language")
        self._entries = tuple(_Entry.of(t, i) for i, t in enumerate(self._templates))

    def __len__(self) -> int:
        return len(self._templates)

    @property
    def templates(self) -> tuple[Template, ...]:
        return self._templates

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for template in self._templates:
            counts[template.language] = counts.get(template.language, 0) + 1
        return counts

    def get(self, language: str, id: str) -> Template | None:
        return self._by_key.get((language, id))

    def search(self, query: str, language: str | None = None, limit: int = 20) -> list[Template]:
        """Best matches first: exact shortcut, shortcut prefix, title/id word, title, text, all words."""
        if limit <= 0:
            return []
        normalised = " ".join(query.strip().removeprefix("/").casefold().split())
        entries = [e for e in self._entries if language is None or e.template.language == language]
        if not normalised:
            return [e.template for e in entries[:limit]]
        terms = normalised.split()
        ranked: list[tuple[int, int, Template]] = []
        for entry in entries:
            rank = entry.rank(normalised, terms)
            if rank is not None:
                ranked.append((rank, entry.order, entry.template))
        ranked.sort(key=lambda item: (item[0], item[1]))
        return [template for _, _, template in ranked[:limit]]
