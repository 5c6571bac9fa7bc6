"""The hub's push channel for Telegram (address = the chat id): delivery of the hub's messages, and the
per-chat state the webhook relies on inbound.

Outbound, `deliver` renders each visible message (`messages`) and sends it with `sendMessage`.
Inbound, the channel resolves button presses to their payloads (long payloads are kept in Redis),
remembers the phone number a chat verified with its own contact (`keys.telegram_phone`, 30 days) so that
every later message carries it, and fetches the photos customers send (the size getFile reports is
checked first; the download URL holds the bot token and is never logged). See docs/channels-telegram.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from handoff import keys
from handoff.channels.base import DeliveryFailed
from handoff.channels.telegram.api import MAX_RETRY_AFTER_SECONDS, BotApi, FileTooLarge
from handoff.channels.telegram.messages import (
    CALLBACK_PREFIX,
    REMOVE_KEYBOARD,
    callback_key,
    contact_keyboard,
    inline_callback_data,
    inline_keyboard,
    is_contact_request,
    is_short_callback_id,
    message_bodies,
    short_callback_id,
    split_text,
    with_keyboard_removed,
)
from handoff.channels.telegram.notices import PHONE_VERIFIED_NOTICE
from handoff.channels.telegram.settings import TelegramSettings
from handoff.channels.telegram.updates import CHANNEL, TelegramFile
from handoff.transcript import Message

CALLBACK_TTL_SECONDS = 30 * 24 * 3600  # buttons stay pressable in the chat history for a month
# Fixed from the moment of sharing (not renewed by later messages): a number that changed hands or was
# replaced in Telegram stops counting within a month.
VERIFIED_PHONE_TTL_SECONDS = 30 * 24 * 3600


def _chat_id(address: str) -> int | str:
    return int(address) if address.lstrip("-").isdigit() else address


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
        if not is_short_callback_id(data):
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
        return inline_keyboard(items)
