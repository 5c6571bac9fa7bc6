"""One parsed Telegram update taken through the hub: what the customer means (a button press resolved to
its payload, a shared contact remembered for the chat, a photo fetched and kept by the attachment store),
made into a `CustomerMessage`, and the `Answer` that goes back to the chat.

A genuine update the customer cannot have meant (nothing readable, too long, too many per minute, a file
that is not a usable photo) is answered with a notice instead of being stored (`routes` says why the
webhook still answers Telegram 200).

A contact the customer shared with the `/share_contact` button verifies the chat's phone number: it is
remembered for the chat, sent to the hub as the customer's message with `verified_phone` /
`verified_by`, and the answer takes the contact keyboard away.

A photo (or an image sent as a file) is fetched from Telegram (its size checked first), checked and kept
by the attachment store exactly as a widget upload is, and posted as the customer's message with the
photo as its attachment and the caption as its text. A file that is too large, not a JPEG/PNG/WebP
picture, or that Telegram cannot give is answered with a notice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from handoff.attachments import (
    ACCEPTED,
    EXTENSIONS,
    JPEG,
    UPLOAD_WINDOW_SECONDS,
    UPLOADS_PER_CONVERSATION,
    AttachmentStore,
    ImageTooLarge,
    UploadRefused,
)
from handoff.channels.base import CustomerMessage, DeliveryFailed
from handoff.channels.telegram.api import FileTooLarge
from handoff.channels.telegram.channel import TelegramChannel
from handoff.channels.telegram.notices import (
    EXPIRED_BUTTON_NOTICE,
    PHOTO_FAILED_NOTICE,
    PHOTO_TOO_LARGE_NOTICE,
    PHOTO_UNSUPPORTED_NOTICE,
    RATE_LIMITED_NOTICE,
    TEXT_ONLY_NOTICE,
    TOO_LONG_NOTICE,
    UNREADABLE_TEXT_NOTICE,
)
from handoff.channels.telegram.updates import CHANNEL, TelegramUpdate, pick_photo, readable_text
from handoff.errors import TooManyRequests
from handoff.hub import Hub, Reply
from handoff.ratelimit import RateLimiter
from handoff.settings import Settings
from handoff.transcript import Message

logger = logging.getLogger(__name__)


class AppContext(Protocol):
    """What taking an update uses of `app.ctx` (created per worker at startup)."""

    hub: Hub
    settings: Settings
    limiter: RateLimiter
    attachment_store: AttachmentStore


@dataclass(frozen=True)
class Answer:
    """What goes back to the chat: the replies, and whether they take the contact keyboard away."""

    replies: list[Reply] = field(default_factory=list)
    remove_keyboard: bool = False

    def messages(self) -> list[Message]:
        return [
            Message(author="bot", text=reply.text or "", channel=CHANNEL, buttons=reply.buttons)
            for reply in self.replies
        ]


def customer_message(
    update: TelegramUpdate,
    conversation_id: str,
    text: str,
    remembered_phone: str | None,
    attachments: tuple[Mapping[str, Any], ...] = (),
) -> CustomerMessage:
    """The hub's call for an update: the chat is the address, the metadata the update's own."""
    return CustomerMessage(
        conversation_id,
        text,
        CHANNEL,
        update.metadata(remembered_phone),
        address=update.address,
        attachments=attachments,
    )


async def take_update(ctx: AppContext, channel: TelegramChannel, update: TelegramUpdate) -> Answer:
    """Hand the update to the hub; what answers it directly comes back."""
    if update.kind == "unsupported":
        return Answer([Reply(text=TEXT_ONLY_NOTICE)])
    if update.kind == "photo":
        return await _photo(ctx, channel, update)
    raw = await _customer_text(channel, update)
    # Stops the button's loading spinner (or says the button expired) whatever happens next.
    await acknowledge_button(
        channel, update.callback_query_id, EXPIRED_BUTTON_NOTICE if raw is None else None
    )
    if raw is None:
        return Answer()
    text = readable_text(raw)
    if text is None:
        return Answer([Reply(text=UNREADABLE_TEXT_NOTICE)])
    refusal = await _over_limit(text, update.conversation_id, ctx.settings, ctx.limiter)
    if refusal is not None:
        return Answer([refusal])
    hub = ctx.hub
    conversation_id = await hub.conversation_for(CHANNEL, update.address, update.conversation_id)
    if update.verified_phone:
        await channel.remember_phone(update.address, update.verified_phone)
        # The customer known by this phone on another channel continues their one conversation here.
        conversation_id = await hub.link_identities(
            {"phone": update.verified_phone}, conversation_id, CHANNEL, update.address
        )
    remembered = update.verified_phone or await channel.remembered_phone(update.address)
    replies = await hub.receive(customer_message(update, conversation_id, text, remembered))
    return Answer(replies, remove_keyboard=update.verified_phone is not None)


async def _photo(ctx: AppContext, channel: TelegramChannel, update: TelegramUpdate) -> Answer:
    """Fetch, check and keep the customer's photo, then post it into the conversation as their message
    (the caption as its text) through the hub, as the widget upload does."""
    store = ctx.attachment_store
    too_large = Answer([Reply(text=PHOTO_TOO_LARGE_NOTICE.format(limit=_megabytes(store.max_bytes)))])
    unsupported = Answer([Reply(text=PHOTO_UNSUPPORTED_NOTICE)])
    file = pick_photo(update.files, store.max_bytes)
    if file is None:
        return too_large
    if file.mime_type is not None and file.mime_type not in ACCEPTED:
        return unsupported  # a GIF, a HEIC...: not downloaded at all
    caption = (readable_text(update.text) or "") if update.text else ""  # an unreadable caption is dropped
    refusal = await _over_limit(caption, update.conversation_id, ctx.settings, ctx.limiter)
    if refusal is None:
        try:
            # the widget's upload limits: Telegram photos share them
            await ctx.limiter.check(
                "uploads", update.conversation_id, UPLOADS_PER_CONVERSATION, UPLOAD_WINDOW_SECONDS
            )
        except TooManyRequests as exc:
            refusal = Reply(text=RATE_LIMITED_NOTICE.format(seconds=exc.retry_after))
    if refusal is not None:
        return Answer([refusal])
    try:
        data, file_path = await channel.fetch_file(file, store.max_bytes)
    except FileTooLarge:
        return too_large
    except DeliveryFailed as exc:  # redacted: never the download URL or the token
        logger.warning(
            "hub.telegram.photo_failed", extra={"conversation_id": update.conversation_id, "error": str(exc)}
        )
        return Answer([Reply(text=PHOTO_FAILED_NOTICE)])
    hub = ctx.hub
    conversation_id = await hub.conversation_for(CHANNEL, update.address, update.conversation_id)
    try:
        attachment = await store.put(data, file.mime_type or _photo_type(file_path), conversation_id)
    except ImageTooLarge:
        return too_large
    except UploadRefused as exc:
        logger.info(
            "hub.telegram.photo_refused", extra={"conversation_id": conversation_id, "reason": str(exc)}
        )
        return unsupported
    remembered = await channel.remembered_phone(update.address)
    message = customer_message(update, conversation_id, caption, remembered, (attachment.ref(),))
    replies = await hub.receive(message)
    logger.info("hub.telegram.photo", extra={"conversation_id": conversation_id, "size": attachment.size})
    return Answer(replies)


def _photo_type(file_path: str) -> str:
    """The type a Telegram photo declares: by its file_path's extension (Telegram sends photos as JPEG)."""
    suffix = "." + file_path.rsplit(".", 1)[-1].lower() if "." in file_path else ""
    by_suffix = {ext: content_type for content_type, ext in EXTENSIONS.items()} | {".jpeg": JPEG}
    return by_suffix.get(suffix, JPEG)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


async def _customer_text(channel: TelegramChannel, update: TelegramUpdate) -> str | None:
    """The text the customer means: a pressed button's payload, or what they wrote; None for a button
    whose stored payload has expired."""
    if update.kind == "callback":
        return await channel.resolve_callback(update.text)
    return update.text


async def _over_limit(text: str, chat: str, settings: Settings, limiter: RateLimiter) -> Reply | None:
    """The notice for a message over the limits every channel has (length, messages per minute per
    Telegram chat), or None."""
    if len(text) > settings.max_message_chars:
        return Reply(text=TOO_LONG_NOTICE.format(limit=settings.max_message_chars))
    try:
        await limiter.check("messages", chat, settings.messages_per_minute, 60)
    except TooManyRequests as exc:
        return Reply(text=RATE_LIMITED_NOTICE.format(seconds=exc.retry_after))
    return None


async def acknowledge_button(
    channel: TelegramChannel, callback_query_id: str | None, text: str | None = None
) -> None:
    """Answer a button press (stops its spinner; `text` shows briefly); a failure is only logged."""
    if not callback_query_id:
        return
    try:
        await channel.answer_callback(callback_query_id, text)
    except DeliveryFailed as exc:
        logger.warning("hub.telegram.answer_failed", extra={"error": str(exc)})
