"""Texts the hub itself sends when the assistant cannot (the assistant's own texts live in its domain)."""

from __future__ import annotations

NOTICES: dict[str, dict[str, str]] = {
    "bot_unavailable": {
        "en": "Sorry, our assistant is unavailable right now. Someone from our team will reply here shortly.",
        "zh": "抱歉，智能助手暂时无法回复。我们的客服人员会尽快在这里回复您。",
    },
}


def notice(name: str, language: str) -> str:
    texts = NOTICES[name]
    return texts.get(language, texts["en"])
