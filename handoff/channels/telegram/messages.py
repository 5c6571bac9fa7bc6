"""How the hub's messages look in Telegram: text split to Telegram's limit, buttons as an inline keyboard
(with callback data that fits, or a short id standing for a long payload) and the assistant's
`/share_contact` button as a reply keyboard that shares the customer's own contact. Pure functions: the
channel stores long callback payloads and sends the result.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from handoff import keys

MAX_TEXT_UNITS = 4096  # sendMessage text limit, counted in UTF-16 code units
MAX_CALLBACK_BYTES = 64  # callback_data limit, counted in UTF-8 bytes
CALLBACK_PREFIX = "~cb:"  # callback_data that stands for a payload stored in Redis
SHORT_BUTTON_CHARS = 6  # buttons with titles this short share a row (the 1-5 survey)
BUTTONS_PER_ROW = 5
SHARE_CONTACT_PAYLOAD = "/share_contact"  # the assistant's button asking for the customer's own number
SHARE_CONTACT_TITLE = "Share my phone number / 分享我的手机号"  # for a contact button without a title
BUTTONS_ONLY_TEXT = "⬇️"  # sendMessage needs text; for a reply that only has buttons
REMOVE_KEYBOARD: dict[str, Any] = {"remove_keyboard": True}

_SHORT_ID = re.compile(r"^[A-Za-z0-9_-]{1,43}\Z")  # the base64url digest after CALLBACK_PREFIX


def utf16_units(text: str) -> int:
    """Length as Telegram counts it: characters outside the BMP (most emoji) count twice."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> int:
    """How many leading characters of `text` fit in `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Split into chunks Telegram accepts, at a paragraph, line, sentence or word break when there is one
    in the second half of the chunk; whitespace-only chunks are dropped."""
    chunks: list[str] = []
    rest = text
    while utf16_units(rest) > limit:
        cut = max(1, _fit(rest, limit))
        window = rest[:cut]
        for separator in ("\n\n", "\n", "。", ". ", " "):
            at = window.rfind(separator)
            if at >= cut // 2:
                cut = at + len(separator)
                break
        chunk = rest[:cut].rstrip()
        if chunk:
            chunks.append(chunk)
        rest = rest[cut:].lstrip()
    if rest.strip():
        chunks.append(rest)
    return chunks


def inline_callback_data(payload: str) -> str | None:
    """The payload itself when Telegram can carry it as callback_data, None when it needs a short id."""
    if (
        payload
        and len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES
        and not payload.startswith(CALLBACK_PREFIX)
    ):
        return payload
    return None


def short_callback_id(payload: str) -> str:
    """A stable stand-in for a long payload (the same payload always gets the same id)."""
    digest = hashlib.sha256(payload.encode("utf-8")).digest()[:16]
    return CALLBACK_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def is_short_callback_id(data: str) -> bool:
    """Whether `data` has the shape of an id `short_callback_id` makes."""
    return data.startswith(CALLBACK_PREFIX) and bool(_SHORT_ID.match(data.removeprefix(CALLBACK_PREFIX)))


def callback_key(short_id: str) -> str:
    """Redis string: the payload behind a short callback id."""
    return f"{keys.PREFIX}:telegram:cb:{short_id.removeprefix(CALLBACK_PREFIX)}"


def inline_keyboard(items: Sequence[dict[str, str]]) -> dict[str, Any] | None:
    """An inline keyboard of ready buttons: short titles share rows, longer ones get a row each."""
    if not items:
        return None
    if all(len(item["text"]) <= SHORT_BUTTON_CHARS for item in items):
        rows = [list(items[i : i + BUTTONS_PER_ROW]) for i in range(0, len(items), BUTTONS_PER_ROW)]
    else:
        rows = [[item] for item in items]
    return {"inline_keyboard": rows}


def is_contact_request(button: Mapping[str, Any]) -> bool:
    return button.get("payload") == SHARE_CONTACT_PAYLOAD


def contact_keyboard(button: Mapping[str, Any]) -> dict[str, Any]:
    """A reply keyboard whose one button shares the customer's own contact (Telegram asks them first)."""
    title = str(button.get("title") or "").strip() or SHARE_CONTACT_TITLE
    return {
        "keyboard": [[{"text": title, "request_contact": True}]],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }


def message_bodies(
    chunks: Sequence[str], inline: dict[str, Any] | None, contact: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """sendMessage bodies (without chat_id) for one message split into `chunks`.

    The keyboard goes under the last part. A message carries one keyboard, so when there are inline
    buttons as well as a contact request, the contact request follows in a part of its own.
    """
    markups = [markup for markup in (inline, contact) if markup]
    texts = list(chunks) or ([BUTTONS_ONLY_TEXT] if markups else [])
    bodies: list[dict[str, Any]] = [{"text": text} for text in texts]
    if markups:
        bodies[-1]["reply_markup"] = markups[0]
    if len(markups) == 2:
        bodies.append({"text": BUTTONS_ONLY_TEXT, "reply_markup": markups[1]})
    return bodies


def with_keyboard_removed(bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """`bodies` with the first part that has no keyboard of its own removing the reply keyboard.

    Unchanged when a part asks for the contact again (its keyboard replaces the old one); None when every
    part already carries a keyboard.
    """
    if any("keyboard" in body.get("reply_markup", {}) for body in bodies):
        return list(bodies)
    for index, body in enumerate(bodies):
        if "reply_markup" not in body:
            return [*bodies[:index], {**body, "reply_markup": REMOVE_KEYBOARD}, *bodies[index + 1 :]]
    return None
