"""Parsing and validation of Telegram updates: which chat, who, what they sent (text, a button press,
their own contact, a photo) and the metadata the hub may pass on. Nothing here trusts the payload's shape:
anything that is not the Bot API's is an UpdateError naming the field.

Verification: a contact whose `user_id` is the sender's own, in a message they sent themselves, is a
phone number Telegram verified (`kind == "contact"`); any other contact is only text. Photos: a
`message.photo` or a `message.document` with an image type becomes a "photo" update whose files are
fetched later (`TelegramChannel.fetch_file`). See docs/channels-telegram.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from handoff.inbound import InvalidText, normalise_text

CHANNEL = "telegram"
ALLOWED_UPDATES = ("message", "callback_query")  # the update types parse_update handles
GREET_PAYLOAD = "/greet"  # what Telegram's "/start" (the first message of every chat) becomes
VERIFIED_BY = "telegram_contact"  # `verified_by` metadata: Telegram vouched for the phone number
MAX_ID = 2**63 - 1  # Telegram ids fit in 64 bits; anything larger is not an update from Telegram

_START = re.compile(r"^/start(?:@\w+)?(?:\s+(.*))?\Z", re.DOTALL)
_START_PARAM = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # Telegram's deep-link parameter alphabet
_LANGUAGE = re.compile(r"^[A-Za-z0-9-]{1,35}\Z")  # an IETF language tag
_QUERY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # Telegram sends a decimal string
_FILE_ID = re.compile(r"^[A-Za-z0-9_-]{1,256}\Z")  # Telegram's file ids are base64url
_PHONE = re.compile(r"^[1-9][0-9]{5,14}\Z")  # E.164: a country code (never 0) and up to 15 digits
# A contact in a forwarded message, or sent through an inline bot, was not shared by the sender.
_NOT_FROM_SENDER = (
    "forward_origin",
    "forward_from",
    "forward_from_chat",
    "forward_sender_name",
    "forward_date",
    "via_bot",
)
_MEDIA_KEYS = (
    "photo",
    "sticker",
    "document",
    "voice",
    "video",
    "video_note",
    "audio",
    "animation",
    "location",
    "venue",
    "poll",
    "dice",
    "contact",
    "story",
)


UpdateKind = Literal["text", "callback", "contact", "photo", "unsupported", "ignored"]


class UpdateError(ValueError):
    """The body is not a Telegram update; the message names the field."""


@dataclass(frozen=True)
class TelegramFile:
    """A file the customer sent, as the update describes it (nothing is downloaded yet).

    `mime_type` is what a document declares (None for a photo: Telegram sends photos as JPEG);
    `file_size` is Telegram's figure, when it gives one."""

    file_id: str
    file_size: int | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class TelegramUpdate:
    """What the hub needs from one update.

    kind: "text" (a private text message, or a contact card that is not the sender's own: its number as
    unverified text), "callback" (a button press; `text` is the raw callback data), "contact" (the sender's
    own phone number, verified by Telegram; `text` is the number), "photo" (a photo, or a document with an
    image type; `files` are its sizes, smallest first, `text` the caption), "unsupported" (a sticker, a
    voice note, a document that is not an image... in a private chat: answered with a notice, not stored)
    or "ignored" (group chats, edited messages, channel posts, other update types: acknowledged and
    dropped).
    """

    update_id: int
    kind: UpdateKind
    chat_id: int | None = None
    user_id: int | None = None
    text: str = ""
    language_code: str | None = None
    callback_query_id: str | None = None
    verified_phone: str | None = None
    start_param: str | None = None
    reason: str = ""
    files: tuple[TelegramFile, ...] = ()

    @property
    def conversation_id(self) -> str:
        return f"telegram-{self.chat_id}"

    @property
    def address(self) -> str:
        return str(self.chat_id)

    @property
    def client_address(self) -> str:
        return f"{CHANNEL}:{self.chat_id}"

    def metadata(self, remembered_phone: str | None = None) -> dict[str, Any]:
        """The assistant's metadata for this update (handoff.inbound.TRUSTED_KEYS; the hub adds `channel`).

        `remembered_phone` is the number the chat verified earlier. `verified_phone` / `verified_by` come
        only from a contact Telegram vouched for (this update's, else the remembered one), never from
        anything the customer typed. `client` describes the Telegram client: its language and the
        deep-link parameter of `/start`.
        """
        meta: dict[str, Any] = {"client_address": self.client_address}
        phone = self.verified_phone or remembered_phone
        if phone:
            meta["verified_phone"] = phone
            meta["verified_by"] = VERIFIED_BY
        client = {"locale": self.language_code, "telegram_start": self.start_param}
        if any(client.values()):
            meta["client"] = {key: value for key, value in client.items() if value}
        return meta


def parse_update(body: object) -> TelegramUpdate:
    """Parse a decoded Update; UpdateError when it does not have the Bot API's shape."""
    if not isinstance(body, dict):
        raise UpdateError("the body must be a JSON object (a Telegram Update)")
    update_id = body.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or not 0 <= update_id <= MAX_ID:
        raise UpdateError("'update_id' must be a non-negative 64-bit integer")
    if "message" in body:
        return _parse_message(update_id, body["message"])
    if "callback_query" in body:
        return _parse_callback(update_id, body["callback_query"])
    kinds = [k for k in body if k != "update_id"]
    reason = f"'{kinds[0]}' updates are not handled" if kinds else "empty update"
    return TelegramUpdate(update_id, "ignored", reason=reason)


def _parse_message(update_id: int, value: object) -> TelegramUpdate:
    message = _object(value, "message")
    chat = _object(message.get("chat"), "message.chat")
    chat_id = _int(chat.get("id"), "message.chat.id")
    if chat.get("type") != "private":
        return TelegramUpdate(update_id, "ignored", chat_id=chat_id, reason="only private chats are handled")
    sender = _object(message.get("from"), "message.from")
    user_id = _int(sender.get("id"), "message.from.id")
    if sender.get("is_bot") is True:
        return TelegramUpdate(update_id, "ignored", chat_id=chat_id, reason="messages from bots")
    common: dict[str, Any] = {
        "chat_id": chat_id,
        "user_id": user_id,
        "language_code": _language(sender.get("language_code")),
    }
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        start = _START.match(text.strip())
        if start:
            param = _start_param(start.group(1))
            return TelegramUpdate(update_id, "text", text=GREET_PAYLOAD, start_param=param, **common)
        return TelegramUpdate(update_id, "text", text=text, **common)
    contact = message.get("contact")
    if isinstance(contact, dict):
        return _parse_contact(update_id, message, contact, common)
    photo = _parse_photo(message)
    if photo is not None:
        caption = message.get("caption")
        text = caption if isinstance(caption, str) and caption.strip() else ""
        return TelegramUpdate(update_id, "photo", text=text, files=photo, **common)
    media = [k for k in _MEDIA_KEYS if k in message]
    if media:
        return TelegramUpdate(update_id, "unsupported", reason=f"'{media[0]}' messages", **common)
    return TelegramUpdate(update_id, "ignored", chat_id=chat_id, reason="a service message without text")


def _parse_photo(message: Mapping[str, Any]) -> tuple[TelegramFile, ...] | None:
    """A photo's sizes (smallest first), or an image document as one file; None for anything else."""
    sizes = message.get("photo")
    if isinstance(sizes, list):
        files = [f for f in (_file(size) for size in sizes) if f is not None]
        return tuple(sorted(files, key=lambda f: (f.width * f.height, f.file_size or 0))) or None
    document = message.get("document")
    if isinstance(document, dict):
        mime = document.get("mime_type")
        if isinstance(mime, str) and mime.strip().lower().startswith("image/"):
            file = _file(document, mime.strip().lower())
            return (file,) if file is not None else None
    return None


def _file(value: object, mime_type: str | None = None) -> TelegramFile | None:
    if not isinstance(value, dict):
        return None
    file_id = value.get("file_id")
    if not isinstance(file_id, str) or not _FILE_ID.match(file_id):
        return None

    def number(key: str) -> int:
        n = value.get(key)
        return n if isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_ID else 0

    return TelegramFile(file_id, number("file_size") or None, mime_type, number("width"), number("height"))


def pick_photo(files: Sequence[TelegramFile], max_bytes: int) -> TelegramFile | None:
    """The largest size of a photo that Telegram says is within `max_bytes` (a size without a
    file_size is tried too: getFile tells); None when every size is over the limit."""
    within = [f for f in files if f.file_size is None or f.file_size <= max_bytes]
    return max(within, key=lambda f: (f.width * f.height, f.file_size or 0), default=None)


def _parse_callback(update_id: int, value: object) -> TelegramUpdate:
    query = _object(value, "callback_query")
    query_id = query.get("id")
    if not isinstance(query_id, str) or not _QUERY_ID.match(query_id):
        raise UpdateError("'callback_query.id' must be a string of 1-64 letters and digits")
    sender = _object(query.get("from"), "callback_query.from")
    user_id = _int(sender.get("id"), "callback_query.from.id")
    message = query.get("message")
    if not isinstance(message, dict):  # a button on an inline-mode message: no chat to answer in
        return TelegramUpdate(update_id, "ignored", callback_query_id=query_id, reason="inline message")
    chat = _object(message.get("chat"), "callback_query.message.chat")
    chat_id = _int(chat.get("id"), "callback_query.message.chat.id")
    if chat.get("type") != "private":
        return TelegramUpdate(
            update_id, "ignored", chat_id=chat_id, callback_query_id=query_id, reason="not a private chat"
        )
    data = query.get("data")
    if not isinstance(data, str) or not data:
        return TelegramUpdate(
            update_id, "ignored", chat_id=chat_id, callback_query_id=query_id, reason="no callback data"
        )
    return TelegramUpdate(
        update_id,
        "callback",
        chat_id=chat_id,
        user_id=user_id,
        text=data,
        language_code=_language(sender.get("language_code")),
        callback_query_id=query_id,
    )


def _parse_contact(
    update_id: int, message: dict[str, Any], contact: dict[str, Any], common: dict[str, Any]
) -> TelegramUpdate:
    phone = normalize_phone(contact.get("phone_number"))
    if phone is not None and is_own_contact(message, contact, common["user_id"]):
        return TelegramUpdate(update_id, "contact", text=phone, verified_phone=phone, **common)
    # Anyone can send a card with any number: it is only what the customer says, as if typed.
    written = contact.get("phone_number")
    if isinstance(written, str) and written.strip():
        return TelegramUpdate(
            update_id, "text", text=written.strip(), reason="an unverified contact", **common
        )
    return TelegramUpdate(update_id, "unsupported", reason="a contact without a phone number", **common)


def is_own_contact(message: Mapping[str, Any], contact: Mapping[str, Any], sender_id: int) -> bool:
    """Whether Telegram vouches that the contact is the sender's own number.

    Telegram sets `contact.user_id` to the account that owns the number; only the sender's own account,
    in a message they sent themselves (not forwarded, not through an inline bot), proves the number.
    """
    owner = contact.get("user_id")
    return (
        isinstance(owner, int)
        and not isinstance(owner, bool)
        and owner == sender_id
        and not any(key in message for key in _NOT_FROM_SENDER)
    )


def _start_param(value: str | None) -> str | None:
    return value if value is not None and _START_PARAM.match(value) else None


def _object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UpdateError(f"'{name}' must be a JSON object")
    return value


def _int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not -MAX_ID <= value <= MAX_ID:
        raise UpdateError(f"'{name}' must be a 64-bit integer")
    return value


def _language(value: object) -> str | None:
    return value if isinstance(value, str) and _LANGUAGE.match(value) else None


def normalize_phone(value: object) -> str | None:
    """Telegram sends numbers with or without "+"; E.164 with "+" or None when it is not a number."""
    if not isinstance(value, str):
        return None
    digits = re.sub(r"[\s().-]", "", value).removeprefix("+")
    return f"+{digits}" if _PHONE.match(digits) else None


def readable_text(text: str) -> str | None:
    """The customer's text cleaned like every channel's (handoff.inbound.normalise_text), or None when it
    is not valid Unicode or nothing visible is left."""
    try:
        return normalise_text(text)
    except InvalidText:
        return None
