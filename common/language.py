"""Per-message language detection, shared by the actions and the hub (pure Python, no dependencies)."""

from __future__ import annotations

from common.patterns import find_entities


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def detect_language(text: str) -> str | None:
    """Return "zh" or "en" for a message with letters, None for one without (digits, emoji, punctuation)."""
    # Order numbers, emails and the like are written the same in every language: ignore them.
    for match in sorted(find_entities(text), key=lambda m: m.start, reverse=True):
        text = text[: match.start] + " " + text[match.end :]
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return None
    cjk = sum(1 for ch in letters if _is_cjk(ch))
    # A Chinese character carries roughly a word; about four Latin letters make an English word.
    return "zh" if cjk * 4 >= len(letters) - cjk else "en"


# "ok thx", "yes pls", "L": Chinese customers type short replies in Latin letters too.
SHORT_REPLY_WORDS = 3


def language_after(text: str, current: str | None) -> str | None:
    """The conversation's language after this message, or None to keep `current`: a message without
    letters keeps it, and so does a short reply without Chinese in a Chinese conversation."""
    detected = detect_language(text)
    if detected is None or detected == current:
        return None
    if current == "zh" and len(text.split()) <= SHORT_REPLY_WORDS:
        return None
    return detected
