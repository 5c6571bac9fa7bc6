"""Cue phrases as one regex: whole words for English, anywhere for Chinese (it has no word boundaries).

Shared by the affect cues (bot/affect_model.py) and the intent precedence rules (bot/precedence.py): both
match curated, lowercase phrases against a customer's message, in either language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_HAN = re.compile(r"[\u4e00-\u9fff]")


def phrase_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for all the phrases, longest first; None when there are none. English phrases must not
    match inside longer words ("sue" is not in "suede")."""
    cleaned = sorted({str(w).lower().strip() for w in words if str(w).strip()}, key=len, reverse=True)
    alternatives = [
        re.escape(w) if _HAN.search(w) else rf"(?<![a-z]){re.escape(w)}(?![a-z])" for w in cleaned
    ]
    return re.compile("|".join(alternatives)) if alternatives else None


def normalised(text: str) -> str:
    """Lowercase, straight apostrophes, single spaces: the text the phrases are matched on."""
    return " ".join(text.lower().replace("’", "'").split())
