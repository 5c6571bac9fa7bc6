"""Per-message language detection, shared by the assistant's NLU and the hub (pure Python, no deps)."""

from __future__ import annotations


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def detect_language(text: str) -> str | None:
    """Return "zh" or "en" for a message with letters, None for one without (digits, emoji, punctuation)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return None
    cjk = sum(1 for ch in letters if _is_cjk(ch))
    # A Chinese character carries roughly a word; about four Latin letters make an English word.
    return "zh" if cjk * 4 >= len(letters) - cjk else "en"
