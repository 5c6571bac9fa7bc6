"""Telegram webhook: verify the secret header, parse the update, store it through the hub, answer it.

Telegram retries an update until it gets a 2xx, so the response says whether the message is safe:
200 once the hub has stored it (or when the update is a retry of one already stored, or one we ignore),
503 when the hub failed (Telegram retries later), 400/401/413 for requests that are not ours to process.

A genuine update the customer cannot have meant (nothing readable, too long, too many per minute) gets
200 and a notice in the chat instead of a 4xx: Telegram would retry a 4xx and hold up the chat's next
updates, while the customer can simply write again.

A contact the customer shared with the `/share_contact` button verifies the chat's phone number: it is
remembered for the chat, sent to the hub as the customer's message with `verified_phone` /
`verified_by`, and the answer takes the contact keyboard away.

A photo (or an image sent as a file) is fetched from Telegram (its size checked first), checked and kept
by the attachment store exactly as a widget upload is, and posted as the customer's message with the
photo as its attachment and the caption as its text. A file that is too large, not a JPEG/PNG/WebP
picture, or that Telegram cannot give gets 200 and a notice in the chat.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Protocol

from redis.exceptions import RedisError
from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from handoff import keys
from handoff.attachments import ACCEPTED, EXTENSIONS, JPEG, AttachmentStore, ImageTooLarge, UploadRefused
from handoff.blueprints.attachments import UPLOAD_WINDOW_SECONDS, UPLOADS_PER_CONVERSATION
from handoff.channels.base import DeliveryFailed
from handoff.channels.telegram import (
    CHANNEL,
    EXPIRED_BUTTON_NOTICE,
    PHOTO_FAILED_NOTICE,
    PHOTO_TOO_LARGE_NOTICE,
    PHOTO_UNSUPPORTED_NOTICE,
    RATE_LIMITED_NOTICE,
    TEXT_ONLY_NOTICE,
    TOO_LONG_NOTICE,
    UNREADABLE_TEXT_NOTICE,
    FileTooLarge,
    TelegramChannel,
    TelegramSettings,
    TelegramUpdate,
    UpdateError,
    parse_update,
    pick_photo,
    readable_text,
)
from handoff.errors import BadRequest, TooManyRequests, Unauthorized, read_body
from handoff.hub import Hub, Reply
from handoff.ratelimit import RateLimiter
from handoff.settings import Settings
from handoff.transcript import Message

logger = logging.getLogger(__name__)

bp = Blueprint("telegram_channel")

PATH = "/webhooks/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_BODY_BYTES = 1_000_000
DONE_TTL_SECONDS = 24 * 3600  # Telegram stops retrying an update long before this
PROCESSING_TTL_SECONDS = 120  # a worker that died mid-update frees it for Telegram's next retry
_redacted_tokens: set[str] = set()


class _AppContext(Protocol):
    """What the webhook uses of `app.ctx` (created per worker at startup)."""

    hub: Hub
    settings: Settings
    limiter: RateLimiter
    attachment_store: AttachmentStore


@dataclass(frozen=True)
class _Answer:
    """What goes back to the chat: the replies, and whether they take the contact keyboard away."""

    replies: list[Reply] = field(default_factory=list)
    remove_keyboard: bool = False


def update_key(update_id: int) -> str:
    """Redis string per update: "processing" while the hub handles it, then "done" (dedupes retries)."""
    return f"{keys.PREFIX}:telegram:update:{update_id}"


def register(app: Sanic, settings: TelegramSettings) -> TelegramChannel:  # type: ignore[type-arg]
    """Serve the webhook on `app` and return its push channel, already added to the hub at startup."""
    channel = TelegramChannel(settings, app.ctx)
    app.ctx.telegram = channel
    app.blueprint(bp)
    _redact_token_in_http_logs(settings.bot_token)

    async def add_telegram_channel(app: Sanic) -> None:  # type: ignore[type-arg]
        # after_server_start: app.ctx.hub exists whatever the order the listeners were registered in.
        app.ctx.hub.add_channel(channel)

    app.register_listener(add_telegram_channel, "after_server_start")
    return channel


@bp.post(PATH, stream=True)
async def webhook(request: Request) -> HTTPResponse:
    channel: TelegramChannel = request.app.ctx.telegram
    _check_secret(request, channel.settings.webhook_secret)  # before the body is read
    body = await read_body(request, MAX_BODY_BYTES)  # PayloadTooLarge (413) past the limit
    try:
        update = parse_update(json.loads(body))
    except UpdateError as exc:
        raise BadRequest(str(exc)) from None
    except ValueError:
        raise BadRequest("the body must be a JSON Telegram Update") from None
    except RecursionError:
        raise BadRequest("the body is nested too deeply to be a Telegram Update") from None
    if update.kind == "ignored":
        if update.callback_query_id:
            await _answer(channel, update.callback_query_id)
        logger.info("hub.telegram.ignored", extra={"update_id": update.update_id, "reason": update.reason})
        return json_response({"ok": True, "ignored": update.reason})

    redis = request.app.ctx.redis
    key = update_key(update.update_id)
    try:
        claimed = await redis.set(key, "processing", nx=True, ex=PROCESSING_TTL_SECONDS)
        state = None if claimed else await redis.get(key)
    except RedisError:
        logger.exception("hub.telegram.dedupe_failed", extra={"update_id": update.update_id})
        return _unavailable()
    if not claimed:
        if state == "done":
            return json_response({"ok": True, "duplicate": True})
        return _unavailable()  # another worker is still on it: Telegram retries, and finds it done

    try:
        answer = await _process(request.app.ctx, channel, update)
    except Exception:
        logger.exception("hub.telegram.update_failed", extra={"update_id": update.update_id})
        with contextlib.suppress(RedisError):
            await redis.delete(key)  # Telegram's retry processes it again
        return _unavailable()
    try:
        await redis.set(key, "done", ex=DONE_TTL_SECONDS)
    except RedisError:
        logger.warning("hub.telegram.dedupe_not_recorded", extra={"update_id": update.update_id})

    messages = [
        Message(author="bot", text=reply.text or "", channel=CHANNEL, buttons=reply.buttons)
        for reply in answer.replies
    ]
    try:
        await channel.deliver(update.address, messages, remove_keyboard=answer.remove_keyboard)
    except DeliveryFailed as exc:
        # Stored in the transcript already; a retry of the update would only duplicate the message.
        logger.warning(
            "hub.telegram.reply_failed",
            extra={"conversation_id": update.conversation_id, "error": str(exc)},
        )
    return json_response({"ok": True})


async def _process(ctx: _AppContext, channel: TelegramChannel, update: TelegramUpdate) -> _Answer:
    """Hand the update to the hub; what answers it directly comes back."""
    if update.kind == "unsupported":
        return _Answer([Reply(text=TEXT_ONLY_NOTICE)])
    if update.kind == "photo":
        return await _photo(ctx, channel, update)
    raw = await _customer_text(channel, update)
    # Stops the button's loading spinner (or says the button expired) whatever happens next.
    await _answer(channel, update.callback_query_id, EXPIRED_BUTTON_NOTICE if raw is None else None)
    if raw is None:
        return _Answer()
    text = readable_text(raw)
    if text is None:
        return _Answer([Reply(text=UNREADABLE_TEXT_NOTICE)])
    refusal = await _over_limit(text, update.conversation_id, ctx.settings, ctx.limiter)
    if refusal is not None:
        return _Answer([refusal])
    hub = ctx.hub
    conversation_id = await hub.conversation_for(CHANNEL, update.address, update.conversation_id)
    if update.verified_phone:
        await channel.remember_phone(update.address, update.verified_phone)
        # The customer known by this phone on another channel continues their one conversation here.
        conversation_id = await hub.link_identities(
            {"phone": update.verified_phone}, conversation_id, CHANNEL, update.address
        )
    remembered = update.verified_phone or await channel.remembered_phone(update.address)
    replies = await hub.customer_message(
        conversation_id, text, CHANNEL, update.metadata(remembered), address=update.address
    )
    return _Answer(replies, remove_keyboard=update.verified_phone is not None)


async def _photo(ctx: _AppContext, channel: TelegramChannel, update: TelegramUpdate) -> _Answer:
    """Fetch, check and keep the customer's photo, then post it into the conversation as their message
    (the caption as its text) through the hub, as the widget upload does."""
    store = ctx.attachment_store
    too_large = _Answer([Reply(text=PHOTO_TOO_LARGE_NOTICE.format(limit=_megabytes(store.max_bytes)))])
    unsupported = _Answer([Reply(text=PHOTO_UNSUPPORTED_NOTICE)])
    file = pick_photo(update.files, store.max_bytes)
    if file is None:
        return too_large
    if file.mime_type is not None and file.mime_type not in ACCEPTED:
        return unsupported  # a GIF, a HEIC...: not downloaded at all
    caption = (readable_text(update.text) or "") if update.text else ""  # an unreadable caption is dropped
    refusal = await _over_limit(caption, update.conversation_id, ctx.settings, ctx.limiter)
    if refusal is None:
        try:
            await ctx.limiter.check(
                "uploads", update.conversation_id, UPLOADS_PER_CONVERSATION, UPLOAD_WINDOW_SECONDS
            )
        except TooManyRequests as exc:
            refusal = Reply(text=RATE_LIMITED_NOTICE.format(seconds=exc.retry_after))
    if refusal is not None:
        return _Answer([refusal])
    try:
        data, file_path = await channel.fetch_file(file, store.max_bytes)
    except FileTooLarge:
        return too_large
    except DeliveryFailed as exc:  # redacted: never the download URL or the token
        logger.warning(
            "hub.telegram.photo_failed", extra={"conversation_id": update.conversation_id, "error": str(exc)}
        )
        return _Answer([Reply(text=PHOTO_FAILED_NOTICE)])
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
    replies = await hub.customer_message(
        conversation_id,
        caption,
        CHANNEL,
        update.metadata(remembered),
        address=update.address,
        attachments=[attachment.ref()],
    )
    logger.info("hub.telegram.photo", extra={"conversation_id": conversation_id, "size": attachment.size})
    return _Answer(replies)


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


async def _answer(channel: TelegramChannel, callback_query_id: str | None, text: str | None = None) -> None:
    if not callback_query_id:
        return
    try:
        await channel.answer_callback(callback_query_id, text)
    except DeliveryFailed as exc:
        logger.warning("hub.telegram.answer_failed", extra={"error": str(exc)})


def _check_secret(request: Request, expected: str) -> None:
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized(f"a valid '{SECRET_HEADER}' header is required")


def _unavailable() -> HTTPResponse:
    return json_response(
        {"error": "unavailable", "message": "the update was not stored; Telegram will retry it"}, status=503
    )


class _RedactToken(logging.Filter):
    """httpx logs every request URL at INFO, and Bot API URLs contain the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg = message.replace(self._token, "<bot-token>")
            record.args = ()
        return True


def _redact_token_in_http_logs(token: str) -> None:
    if token not in _redacted_tokens:
        _redacted_tokens.add(token)
        logging.getLogger("httpx").addFilter(_RedactToken(token))
