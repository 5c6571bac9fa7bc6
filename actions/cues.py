"""Cue words: the first category whose words occur in a message, in the file's order. Pure and small."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class CueFileError(ValueError):
    """The cue file is malformed; the message names the file."""


@dataclass(frozen=True)
class CueTable:
    cues: tuple[tuple[str, dict[str, tuple[str, ...]]], ...]  # (category, language -> words), in order

    @classmethod
    def from_file(cls, path: Path) -> CueTable:
        try:
            return cls.from_dict(yaml.safe_load(path.read_text(encoding="utf-8"))["cues"])
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise CueFileError(f"{path}: invalid cues: {exc}") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CueTable:
        return cls(
            tuple(
                (
                    str(category),
                    {lang: tuple(str(w).lower() for w in words) for lang, words in by_lang.items()},
                )
                for category, by_lang in data.items()
            )
        )

    def reason(self, text: str, language: str) -> str | None:
        """The first category whose cue words occur in the text (either language's words count, since
        customers mix them)."""
        lowered = text.lower().replace("’", "'")
        for category, by_language in self.cues:
            words = by_language.get(language, ()) + tuple(
                w for lang, ws in by_language.items() if lang != language for w in ws
            )
            if any(word in lowered for word in words):
                return category
        return None
