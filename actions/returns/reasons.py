"""Return reasons by meaning: a customer's own words mapped to the policy's reason categories.

Each category is described by example phrasings in both languages (data/policy/return_reasons.yml). An
answer takes the category of its most similar example when the similarity clears the language's
threshold; otherwise it is "other", and the customer's words are kept for the person who reads the case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from actions.cues import CueTable

OTHER = "other"
Embed = Callable[[Sequence[str], str], Awaitable[npt.NDArray[np.float32]]]


class ReasonCatalogueError(ValueError):
    """The reasons file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class ReasonCatalogue:
    examples: dict[str, dict[str, tuple[str, ...]]]  # language -> category -> phrasings
    thresholds: dict[str, float]
    cues: CueTable = field(default_factory=lambda: CueTable(()))  # words that settle a category first

    def cue(self, text: str, language: str) -> str | None:
        return self.cues.reason(text, language)

    @classmethod
    def from_file(cls, path: Path) -> ReasonCatalogue:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ReasonCatalogueError(f"{path}: invalid return reasons: {exc}") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReasonCatalogue:
        thresholds = {lang: float(value) for lang, value in data["thresholds"].items()}
        examples: dict[str, dict[str, tuple[str, ...]]] = {lang: {} for lang in thresholds}
        for category, by_language in data["categories"].items():
            for language, phrases in by_language.items():
                if language not in thresholds:
                    raise ValueError(f"categories.{category}.{language}: no threshold for this language")
                if not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
                    raise ValueError(f"categories.{category}.{language}: needs non-empty phrasings")
                examples[language][str(category)] = tuple(phrases)
        cues = CueTable.from_dict(data.get("cues") or {})
        unknown = {category for category, _ in cues.cues} - {c for by in examples.values() for c in by}
        if unknown:
            raise ValueError(f"cues: unknown categories {sorted(unknown)}")
        return cls(examples=examples, thresholds=thresholds, cues=cues)

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(c for by_category in self.examples.values() for c in by_category)


@dataclass(frozen=True)
class ReasonMatch:
    category: str  # a catalogue category, or "other"
    score: float
    nearest: str  # the example it matched best


class ReasonClassifier:
    """Embeds each language's examples once (lazily), then classifies answers by cosine similarity."""

    def __init__(self, catalogue: ReasonCatalogue, embed: Embed) -> None:
        self._catalogue = catalogue
        self._embed = embed
        self._prototypes: dict[str, tuple[list[str], list[str], npt.NDArray[np.float32]]] = {}
        self._lock = asyncio.Lock()

    async def _prototypes_for(self, language: str) -> tuple[list[str], list[str], npt.NDArray[np.float32]]:
        async with self._lock:
            if language not in self._prototypes:
                pairs = [
                    (category, phrase)
                    for category, phrases in self._catalogue.examples[language].items()
                    for phrase in phrases
                ]
                vectors = await self._embed([phrase for _, phrase in pairs], language)
                self._prototypes[language] = ([c for c, _ in pairs], [p for _, p in pairs], vectors)
            return self._prototypes[language]

    def threshold(self, language: str) -> float:
        """The similarity below which words mean no known reason ("other")."""
        language = language if language in self._catalogue.examples else "en"
        return self._catalogue.thresholds[language]

    def cued(self, text: str, language: str) -> str | None:
        """The reason a cue word settles ("发错了", "arrived broken"), without the sentence vectors."""
        language = language if language in self._catalogue.examples else "en"
        return self._catalogue.cue(text, language)

    async def classify(self, text: str, language: str) -> ReasonMatch:
        language = language if language in self._catalogue.examples else "en"
        cued = self._catalogue.cue(text, language)
        if cued is not None:
            return ReasonMatch(category=cued, score=1.0, nearest="")
        categories, phrases, vectors = await self._prototypes_for(language)
        query = (await self._embed([text], language))[0]
        scores = vectors @ query
        best = int(np.argmax(scores))
        score = float(scores[best])
        category = categories[best] if score >= self._catalogue.thresholds[language] else OTHER
        return ReasonMatch(category=category, score=round(score, 4), nearest=phrases[best])
