"""What a search returns: hits with the article and the version they came from, and whether it was a miss."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Hit:
    """One article, scored by its best passage; `version` is the index version the answer came from."""

    article_id: str
    title: str
    answer: str
    score: float
    language: str
    category: str
    version: str
    tags: tuple[str, ...]
    excerpt: str = ""  # the passage that matched best, for agents' suggestions

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        return data


@dataclass(frozen=True)
class SearchResult:
    """Hits best first. `miss` is true when there is no hit or the `confidence` (the best score plus the
    language's margin weight times `margin`, kb_index/settings.py) is below `threshold`: the caller should
    hand over to a person rather than answer with hits[0]. Hits are kept on a miss so a handoff can show
    what was tried. `offers` are articles worth offering the customer to pick from on a miss (`suggest`):
    the best hits of a near miss, or the articles a message's question sentences reach when the message as
    a whole is far from every article (kb_index/retriever.py)."""

    hits: list[Hit]
    miss: bool
    threshold: float
    version: str
    language: str = ""
    mode: str = ""
    margin: float = 0.0  # the best article's support over the runner-up's
    confidence: float = 0.0  # what `threshold` is compared with
    offers: list[Hit] = field(default_factory=list)

    @property
    def suggest(self) -> bool:
        return bool(self.offers)

    @property
    def best(self) -> Hit | None:
        return None if self.miss or not self.hits else self.hits[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "language": self.language,
            "mode": self.mode,
            "threshold": self.threshold,
            "confidence": self.confidence,
            "margin": self.margin,
            "miss": self.miss,
            "suggest": self.suggest,
            "offers": [h.to_json() for h in self.offers],
            "hits": [h.to_json() for h in self.hits],
        }
