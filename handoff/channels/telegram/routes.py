"""Telegram webhook: verify the secret header, parse the update, take it through the hub (`inbound`),
answer it in the chat.

Telegram retries an update until it gets a 2xx, so the response says whether the message is safe:
200 once the hub has stored it (or when the update is a retry of one already stored, or one we ignore),
503 when the hub failed (Telegram retries later), 400/401/413 for requests that are not ours to process.

A genuine update the customer cannot have meant (nothing readable, too long, too many per minute) gets
200 and a notice in the chat instead of a 4xx: Telegram would retry a 4xx and hold up the chat's next
updates, while the customer can simply write again.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging

from redis.exceptions import RedisError
from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from handoff.channels.base import DeliveryFailed
from handoff.channels.telegram.channel import TelegramChannel
from handoff.channels.telegram.claims import Claim, UpdateClaims
from handoff.channels.telegram.inbound import acknowledge_button, take_update
from handoff.channels.telegram.settings import TelegramSettings
from handoff.channels.telegram.updates import UpdateError, parse_update
from handoff.errors import BadRequest, Unauthorized, read_body

logger = logging.getLogger(__name__)

bp = Blueprint("telegram_channel")

PATH = "/webhooks/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_BODY_BYTES = 1_000_000
_redacted_tokens: set[str] = set()


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
        await acknowledge_button(channel, update.callback_query_id)
        logger.info("hub.telegram.ignored", extra={"update_id": update.update_id, "reason": update.reason})
        return json_response({"ok": True, "ignored": update.reason})

    claims = UpdateClaims(request.app.ctx.redis)
    try:
        claim = await claims.claim(update.update_id)
    except RedisError:
        logger.exception("hub.telegram.dedupe_failed", extra={"update_id": update.update_id})
        return _unavailable()
    if claim is Claim.DONE:
        return json_response({"ok": True, "duplicate": True})
    if claim is Claim.BUSY:
        return _unavailable()  # another worker is still on it: Telegram retries, and finds it done

    try:
        answer = await take_update(request.app.ctx, channel, update)
    except Exception:
        logger.exception("hub.telegram.update_failed", extra={"update_id": update.update_id})
        with contextlib.suppress(RedisError):
            await claims.release(update.update_id)
        return _unavailable()
    try:
        await claims.done(update.update_id)
    except RedisError:
        logger.warning("hub.telegram.dedupe_not_recorded", extra={"update_id": update.update_id})

    try:
        await channel.deliver(update.address, answer.messages(), remove_keyboard=answer.remove_keyboard)
    except DeliveryFailed as exc:
        # Stored in the transcript already; a retry of the update would only duplicate the message.
        logger.warning(
            "hub.telegram.reply_failed",
            extra={"conversation_id": update.conversation_id, "error": str(exc)},
        )
    return json_response({"ok": True})


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
