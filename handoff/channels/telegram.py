"""Telegram Bot API channel: settings, update parsing and outbound delivery.

Inbound, Telegram posts updates to the webhook in `handoff.blueprints.telegram`, which parses them here
and hands the text to the hub. Outbound, `TelegramChannel.deliver` sends the hub's messages with
`sendMessage`, over the app's shared HTTP client. See docs/channels-telegram.md.

Verification: the assistant's `/share_contact` button becomes a reply-keyboard button that shares the
customer's own Telegram contact. A contact whose `user_id` is the sender's is a phone number Telegram
verified; the channel remembers it for the chat (`keys.telegram_phone`, 30 days) and sends it with every
message of that chat as `verified_phone` / `verified_by` metadata. See docs/channels-telegram.md.

Photos: a `message.photo` (the largest size within the attachment limit) or a `message.document` with an
image type becomes a "photo" update; `TelegramChannel.fetch_file` checks the size getFile reports, then
downloads the file over the same HTTP client (the download URL holds the bot token: it is never logged).
The webhook stores it in the attachment store and posts it as the customer's message. See
docs/channels-telegram.md.

`python -m handoff.channels.telegram set-webhook URL` registers the webhook with the secret token.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from handoff import keys
from handoff.channels.base import DeliveryFailed
from handoff.inbound import InvalidText, normalise_text
from handoff.settings import SettingsError
from handoff.transcript import Message

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
DEFAULT_API_URL = "https://api.telegram.org"
ALLOWED_UPDATES = ("message", "callback_query")
MAX_TEXT_UNITS = 4096  # sendMessage text limit, counted in UTF-16 code units
MAX_CALLBACK_BYTES = 64  # callback_data limit, counted in UTF-8 bytes
CALLBACK_PREFIX = "~cb:"  # callback_data that stands for a payload stored in Redis
CALLBACK_TTL_SECONDS = 30 * 24 * 3600  # buttons stay pressable in the chat history for a month
REQUEST_TIMEOUT_SECONDS = 10.0
MAX_RETRY_AFTER_SECONDS = 10.0  # a longer 429 back-off is not waited out inside a request
SHORT_BUTTON_CHARS = 6  # buttons with titles this short share a row (the 1-5 survey)
BUTTONS_PER_ROW = 5
GREET_PAYLOAD = "/greet"  # what Telegram's "/start" (the first message of every chat) becomes
SHARE_CONTACT_PAYLOAD = "/share_contact"  # the assistant's button asking for the customer's own number
SHARE_CONTACT_TITLE = "Share my phone number / 分享我的手机号"  # for a contact button without a title
VERIFIED_BY = "telegram_contact"  # `verified_by` metadata: Telegram vouched for the phone number
# Fixed from the moment of sharing (not renewed by later messages): a number that changed hands or was
# replaced in Telegram stops counting within a month.
VERIFIED_PHONE_TTL_SECONDS = 30 * 24 * 3600
MAX_ID = 2**63 - 1  # Telegram ids fit in 64 bits; anything larger is not an update from Telegram
BUTTONS_ONLY_TEXT = "⬇️"  # sendMessage needs text; for a reply that only has buttons
TEXT_ONLY_NOTICE = "Sorry, I can only read text messages and photos. 抱歉，我目前只能阅读文字消息和图片。"
PHOTO_UNSUPPORTED_NOTICE = (
    "Sorry, I could not open that file. Please send a JPEG, PNG or WebP photo. "
    "抱歉，无法打开该文件，请发送 JPEG、PNG 或 WebP 格式的图片。"
)
PHOTO_TOO_LARGE_NOTICE = (
    "Sorry, that photo is too large (at most {limit} MB), please send a smaller one. "
    "抱歉，图片过大（最多 {limit} MB），请发送较小的图片。"
)
PHOTO_FAILED_NOTICE = (
    "Sorry, I could not receive that photo, please try sending it again. 抱歉，未能接收这张图片，请重新发送。"
)
EXPIRED_BUTTON_NOTICE = "This button has expired, please type your answer. 该按钮已失效，请直接输入。"
PHONE_VERIFIED_NOTICE = "Thank you, your phone number is verified. 谢谢，您的手机号已验证。"
UNREADABLE_TEXT_NOTICE = (
    "Sorry, I could not read that message, please type it again. 抱歉，无法识别这条消息，请重新输入。"
)
TOO_LONG_NOTICE = (
    "Sorry, that message is too long (at most {limit} characters), please shorten it. "
    "抱歉，消息过长（最多 {limit} 个字符），请缩短后再发送。"
)
RATE_LIMITED_NOTICE = (
    "You are sending messages too quickly, please try again in {seconds} s. "
    "您发送消息过于频繁，请 {seconds} 秒后再试。"
)
REMOVE_KEYBOARD: dict[str, Any] = {"remove_keyboard": True}

_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{35,}\Z")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}\Z")
_START = re.compile(r"^/start(?:@\w+)?(?:\s+(.*))?\Z", re.DOTALL)
_START_PARAM = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # Telegram's deep-link parameter alphabet
_LANGUAGE = re.compile(r"^[A-Za-z0-9-]{1,35}\Z")  # an IETF language tag
_QUERY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # Telegram sends a decimal string
_SHORT_ID = re.compile(r"^[A-Za-z0-9_-]{1,43}\Z")  # the base64url digest after CALLBACK_PREFIX
_FILE_ID = re.compile(r"^[A-Za-z0-9_-]{1,256}\Z")  # Telegram's file ids are base64url
# getFile's file_path, as Telegram makes it ("photos/file_12.jpg"): never a way out of the bot's files.
_FILE_PATH = re.compile(r"^(?!.*\.\.)[A-Za-z0-9_-][A-Za-z0-9_./-]{0,255}\Z")
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


# -- settings -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TelegramSettings:
    bot_token: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    api_url: str = DEFAULT_API_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TelegramSettings | None:
        """None when TELEGRAM_BOT_TOKEN is unset (the channel is off); SettingsError when it is misconfigured.

        Error messages name the variable but never echo a token or secret.
        """
        env = os.environ if env is None else env
        token = env.get("TELEGRAM_BOT_TOKEN", "")
        if not token:
            return None
        if not _TOKEN.match(token):
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN is not a bot token from @BotFather (<digits>:<35+ characters>)"
            )
        secret = env.get("TELEGRAM_WEBHOOK_SECRET", "")
        if not secret:
            raise SettingsError("TELEGRAM_WEBHOOK_SECRET must be set when TELEGRAM_BOT_TOKEN is")
        if not _SECRET.match(secret):
            raise SettingsError("TELEGRAM_WEBHOOK_SECRET must be 16-256 characters of A-Z a-z 0-9 _ -")
        api_url = env.get("TELEGRAM_API_URL", DEFAULT_API_URL).rstrip("/")
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"TELEGRAM_API_URL={api_url!r} is not an http/https URL")
        return cls(bot_token=token, webhook_secret=secret, api_url=api_url)


# -- inbound: updates ---------------------------------------------------------------------------------

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


# -- outbound: text and buttons -------------------------------------------------------------------------


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


def callback_key(short_id: str) -> str:
    """Redis string: the payload behind a short callback id."""
    return f"{keys.PREFIX}:telegram:cb:{short_id.removeprefix(CALLBACK_PREFIX)}"


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


def _chat_id(address: str) -> int | str:
    return int(address) if address.lstrip("-").isdigit() else address


class BotApi:
    """Bot API calls over an HTTP client; every failure is a DeliveryFailed with Telegram's description."""

    def __init__(
        self,
        settings: TelegramSettings,
        http: Callable[[], httpx.AsyncClient],
        max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._base = f"{settings.api_url}/bot{settings.bot_token}"
        self._files = f"{settings.api_url}/file/bot{settings.bot_token}"
        self._token = settings.bot_token
        self._http = http
        self._max_retry_after = max_retry_after
        self._sleep = sleep

    async def call(self, method: str, payload: Mapping[str, Any]) -> Any:
        """The call's `result`; a 429 is retried once after its retry_after, if that is short enough."""
        for attempt in (1, 2):
            try:
                response = await self._http().post(
                    f"{self._base}/{method}", json=payload, timeout=REQUEST_TIMEOUT_SECONDS
                )
            except httpx.HTTPError as exc:
                raise DeliveryFailed(
                    f"telegram {method}: {type(exc).__name__}: {self._redact(exc)}"
                ) from None
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise DeliveryFailed(f"telegram {method}: HTTP {response.status_code} without a JSON body")
            if response.status_code == 200 and body.get("ok") is True:
                return body.get("result")
            description = self._redact(body.get("description") or f"HTTP {response.status_code}")
            parameters = body.get("parameters")
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            if (
                response.status_code == 429
                and attempt == 1
                and isinstance(retry_after, int | float)
                and 0 <= retry_after <= self._max_retry_after
            ):
                logger.warning(
                    "hub.telegram.rate_limited", extra={"method": method, "retry_after": retry_after}
                )
                await self._sleep(float(retry_after))
                continue
            raise DeliveryFailed(f"telegram {method} failed ({response.status_code}): {description}")
        raise DeliveryFailed(f"telegram {method}: still rate limited")  # pragma: no cover - loop returns

    async def download(self, file_path: str, max_bytes: int) -> bytes:
        """A file getFile returned, at most `max_bytes` (FileTooLarge past it, without reading the rest).

        The URL holds the bot token: it is never logged, and errors are redacted."""
        if not _FILE_PATH.match(file_path):
            raise DeliveryFailed("telegram download: getFile returned an unexpected file_path")
        url = f"{self._files}/{file_path}"
        try:
            async with self._http().stream("GET", url, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                if response.status_code != 200:
                    raise DeliveryFailed(f"telegram download failed (HTTP {response.status_code})")
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > max_bytes:
                    raise FileTooLarge(int(length))
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise FileTooLarge(len(data))
                return bytes(data)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"telegram download: {type(exc).__name__}: {self._redact(exc)}") from None

    def _redact(self, value: object) -> str:
        return str(value).replace(self._token, "<bot-token>")


class FileTooLarge(Exception):
    """A customer's file over the attachment limit (Telegram's figure, or the bytes themselves)."""

    def __init__(self, size: int | None = None) -> None:
        super().__init__(f"the file is {size} bytes" if size is not None else "the file is too large")
        self.size = size


class Clients(Protocol):
    """The per-worker clients the app creates at startup (`app.ctx` has both)."""

    @property
    def http(self) -> httpx.AsyncClient: ...

    @property
    def redis(self) -> Redis: ...


class TelegramChannel:
    """The hub's push channel for Telegram: address = the chat id."""

    name = CHANNEL

    def __init__(
        self, settings: TelegramSettings, clients: Clients, max_retry_after: float = MAX_RETRY_AFTER_SECONDS
    ) -> None:
        # The clients are read when sending: the app creates them in a before_server_start listener.
        self.settings = settings
        self._clients = clients
        self.api = BotApi(settings, lambda: clients.http, max_retry_after)

    async def deliver(self, address: str, messages: list[Message], remove_keyboard: bool = False) -> None:
        """Send the visible messages; `remove_keyboard` (after a verified contact) takes the contact
        keyboard away with the first part free to carry it, or with a short notice when none is."""
        pending = remove_keyboard
        for message in messages:
            if message.internal:
                continue  # notes for agents never reach the customer
            bodies = await self.render(message.text, message.buttons)
            removed = with_keyboard_removed(bodies) if pending and bodies else None
            if removed is not None:
                bodies, pending = removed, False
            await self._send_bodies(address, bodies)
        if pending:
            await self._send_bodies(
                address, [{"text": PHONE_VERIFIED_NOTICE, "reply_markup": REMOVE_KEYBOARD}]
            )

    async def send(self, address: str, text: str, buttons: Sequence[Mapping[str, Any]] | None = None) -> None:
        await self._send_bodies(address, await self.render(text, buttons))

    async def render(
        self, text: str, buttons: Sequence[Mapping[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """sendMessage bodies for a message: `/share_contact` becomes a contact request, other buttons
        an inline keyboard."""
        buttons = buttons or []
        contact = next((contact_keyboard(b) for b in buttons if is_contact_request(b)), None)
        inline = await self._inline_keyboard([b for b in buttons if not is_contact_request(b)])
        return message_bodies(split_text(text), inline, contact)

    async def _send_bodies(self, address: str, bodies: Sequence[Mapping[str, Any]]) -> None:
        for body in bodies:
            await self.api.call("sendMessage", {"chat_id": _chat_id(address), **body})

    async def fetch_file(self, file: TelegramFile, max_bytes: int) -> tuple[bytes, str]:
        """The bytes of a customer's file and its file_path: getFile, its file_size checked against
        `max_bytes` (FileTooLarge before anything is downloaded), then the download itself, again at most
        `max_bytes`. DeliveryFailed when Telegram cannot give the file."""
        if file.file_size is not None and file.file_size > max_bytes:
            raise FileTooLarge(file.file_size)
        result = await self.api.call("getFile", {"file_id": file.file_id})
        if not isinstance(result, dict):
            raise DeliveryFailed("telegram getFile: no file in the answer")
        size = result.get("file_size")
        if isinstance(size, int) and not isinstance(size, bool) and size > max_bytes:
            raise FileTooLarge(size)
        path = result.get("file_path")
        if not isinstance(path, str) or not path:
            raise DeliveryFailed("telegram getFile: the file cannot be downloaded")
        return await self.api.download(path, max_bytes), path

    async def answer_callback(self, callback_query_id: str, text: str | None = None) -> None:
        payload: dict[str, Any] = {"callback_query_id": callback_query_id}
        if text:
            payload["text"] = text[:200]
        await self.api.call("answerCallbackQuery", payload)

    async def callback_data(self, payload: str) -> str:
        """callback_data for a button: the payload, or a short id with the payload stored in Redis."""
        inline = inline_callback_data(payload)
        if inline is not None:
            return inline
        short_id = short_callback_id(payload)
        try:
            await self._clients.redis.set(callback_key(short_id), payload, ex=CALLBACK_TTL_SECONDS)
        except RedisError as exc:
            raise DeliveryFailed(f"telegram: could not store a long button payload: {exc}") from None
        return short_id

    async def resolve_callback(self, data: str) -> str | None:
        """The payload a button press stands for; None when its stored payload has expired (or the
        short id is not one this channel makes)."""
        if not data.startswith(CALLBACK_PREFIX):
            return data
        if not _SHORT_ID.match(data.removeprefix(CALLBACK_PREFIX)):
            return None
        value = await self._clients.redis.get(callback_key(data))
        return str(value) if value is not None else None

    async def remember_phone(self, address: str, phone: str) -> None:
        """Keep the number Telegram verified for the chat, so its later messages carry it."""
        await self._clients.redis.set(keys.telegram_phone(address), phone, ex=VERIFIED_PHONE_TTL_SECONDS)

    async def remembered_phone(self, address: str) -> str | None:
        value = await self._clients.redis.get(keys.telegram_phone(address))
        return str(value) if value else None

    async def _inline_keyboard(self, buttons: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        items: list[dict[str, str]] = []
        for button in buttons:
            title = str(button.get("title") or button.get("payload") or "").strip()
            if not title:
                continue
            if isinstance(button.get("url"), str) and str(button["url"]).startswith("https://"):
                items.append({"text": title, "url": str(button["url"])})
                continue
            payload = str(button.get("payload") or title)
            items.append({"text": title, "callback_data": await self.callback_data(payload)})
        if not items:
            return None
        if all(len(item["text"]) <= SHORT_BUTTON_CHARS for item in items):
            rows = [items[i : i + BUTTONS_PER_ROW] for i in range(0, len(items), BUTTONS_PER_ROW)]
        else:
            rows = [[item] for item in items]
        return {"inline_keyboard": rows}


# -- CLI -----------------------------------------------------------------------------------------------


async def _run_cli(settings: TelegramSettings, method: str, payload: dict[str, Any]) -> Any:
    async with httpx.AsyncClient() as client:
        return await BotApi(settings, lambda: client).call(method, payload)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff.channels.telegram", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    set_webhook = commands.add_parser("set-webhook", help="point the bot at this service's webhook")
    set_webhook.add_argument("url", help="public HTTPS URL of /webhooks/telegram/webhook")
    set_webhook.add_argument("--drop-pending-updates", action="store_true")
    set_webhook.add_argument("--max-connections", type=int, default=40)
    delete = commands.add_parser("delete-webhook", help="stop sending updates to the webhook")
    delete.add_argument("--drop-pending-updates", action="store_true")
    commands.add_parser("webhook-info", help="show Telegram's view of the webhook (last error, queue)")
    args = parser.parse_args(argv)
    try:
        settings = TelegramSettings.from_env()
    except SettingsError as exc:
        print(f"telegram: {exc}", file=sys.stderr)
        return 2
    if settings is None:
        print("telegram: TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    if args.command == "set-webhook":
        method, payload = (
            "setWebhook",
            {
                "url": args.url,
                "secret_token": settings.webhook_secret,
                "allowed_updates": list(ALLOWED_UPDATES),
                "drop_pending_updates": args.drop_pending_updates,
                "max_connections": args.max_connections,
            },
        )
    elif args.command == "delete-webhook":
        method, payload = "deleteWebhook", {"drop_pending_updates": args.drop_pending_updates}
    else:
        method, payload = "getWebhookInfo", {}
    try:
        result = asyncio.run(_run_cli(settings, method, payload))
    except DeliveryFailed as exc:
        print(f"telegram: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
