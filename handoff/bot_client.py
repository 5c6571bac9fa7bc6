"""Client for the assistant (Rasa) through its token-protected hub channel.

Rasa 3.6's HTTP API (used to resume a conversation after a person) takes its token only as a `?token=`
query parameter, and URLs travel far: httpx logs every request URL at INFO, and its exceptions quote
the URL. So the `httpx` logger and this module's logger redact every `token=` value, and no URL, nor an
httpx exception text that is not redacted, goes into a log line or an exception of ours.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from handoff.rasa_pool import RasaPool

logger = logging.getLogger(__name__)
TOKEN_VALUE = re.compile(r"(?i)(token=)[^&#\s'\"]+")
REDACTED_LOGGERS = ("httpx", __name__)
CHANNEL_PATH = "/webhooks/hub/webhook"
# The process is gone or not there: nothing reached Rasa, or it died before answering. A timeout is not
# among them: a slow process may still be working on the message.
UNREACHABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def redact_tokens(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`...?token=abc&x=1` → `...?token=***&x=1`; any of `secrets` found elsewhere is replaced too."""
    text = TOKEN_VALUE.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class RedactTokens(logging.Filter):
    """Redacts `token=` values in a record's message, exception and stack text; keeps every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact_tokens(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_tokens(record.stack_info)
        return True


def install_log_redaction() -> None:
    """Attach the filter where the records are made: a logger's filters apply whatever its level,
    handlers or propagation. Idempotent."""
    for name in REDACTED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in target.filters):
            target.addFilter(RedactTokens())


def describe_failure(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """An httpx error as text fit for logs and exception messages: its type and redacted message."""
    detail = redact_tokens(str(exc), secrets).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class BotUnavailable(Exception):
    """Rasa did not answer in time or answered with an error."""


@dataclass(frozen=True)
class BotReply:
    text: str | None
    buttons: list[dict[str, Any]] | None = None
    custom: dict[str, Any] | None = None


class BotReplies(list[BotReply]):
    """The assistant's replies to one message, with what it understood of the message (the hub channel's
    X-Understood header: intent, confidence, ranking, entities, affect) when it said."""

    understood: dict[str, Any] | None = None


UNDERSTOOD_HEADER = "x-understood"
UNDERSTOOD_MAX_BYTES = 8192  # a summary is a few hundred bytes; anything larger is not one


def _understood(response: httpx.Response) -> dict[str, Any] | None:
    raw = response.headers.get(UNDERSTOOD_HEADER)
    if not raw or len(raw) > UNDERSTOOD_MAX_BYTES:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class Bot(Protocol):
    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]: ...

    async def resume(self, sender: str, intent: str | None) -> list[BotReply]: ...


class RasaBot:
    """Talks to bot.channels.hub.HubInput on the Rasa server, or on one of several (handoff.rasa_pool)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str | RasaPool,
        token: str,
        timeout: float,
        api_token: str,
    ) -> None:
        self._client = client
        self.pool = base_url if isinstance(base_url, RasaPool) else RasaPool([base_url])
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self._api_token = api_token  # Rasa's HTTP API (--auth-token), for resuming paused conversations
        install_log_redaction()

    async def _post(
        self, sender: str, path: str, *, secrets: tuple[str, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """POST to the conversation's process; on to its next choice when a process is unreachable or drops
        the connection before answering (it died: the message was not stored there, and the ticket lock it
        may hold expires after Rasa's TICKET_LOCK_LIFETIME)."""
        last: httpx.HTTPError | None = None
        for base in self.pool.order(sender):
            try:
                response = await self._client.post(f"{base}{path}", timeout=self._timeout, **kwargs)
            except UNREACHABLE as exc:
                self.pool.mark_down(base)
                logger.warning(
                    "hub.bot.process_down",
                    extra={"sender": sender, "rasa_process": base, "error": describe_failure(exc, secrets)},
                )
                last = exc
                continue
            self.pool.mark_up(base)
            return response
        assert last is not None
        raise last

    async def parse(self, text: str) -> dict[str, Any]:
        """What the live model makes of `text` (Rasa's POST /model/parse): the studio's "try it" and the
        prediction shown beside a flagged message. Nothing is stored in any conversation."""
        secrets = (self._api_token,)
        try:
            response = await self._post(
                f"parse:{text}",
                "/model/parse",
                secrets=secrets,
                params={"token": self._api_token},
                json={"text": text},
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            reason = describe_failure(exc, secrets)
            logger.warning("hub.bot.parse_failed", extra={"error": reason})
            raise BotUnavailable(reason) from None  # the httpx error holds the URL with the token
        if not isinstance(body, dict):
            raise BotUnavailable("unexpected parse shape from Rasa")
        return body

    async def resume(self, sender: str, intent: str | None) -> list[BotReply]:
        """Un-pause the Rasa conversation after a human; optionally start a flow by triggering an intent."""
        params = {"token": self._api_token}
        path = f"/conversations/{quote(sender, safe='')}"
        secrets = (self._api_token,)
        try:
            response = await self._post(
                sender, f"{path}/tracker/events", secrets=secrets, params=params, json=[{"event": "resume"}]
            )
            response.raise_for_status()
            if intent is None:
                return []
            response = await self._post(
                sender,
                f"{path}/trigger_intent",
                secrets=secrets,
                params=params,  # no output_channel: Rasa returns the messages in the body
                json={"name": intent},
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            reason = describe_failure(exc, secrets)
            logger.warning("hub.bot.resume_failed", extra={"sender": sender, "error": reason})
            raise BotUnavailable(reason) from None  # the httpx error holds the URL with the token
        messages = body.get("messages", []) if isinstance(body, dict) else []
        return [
            BotReply(text=m.get("text"), buttons=m.get("buttons"), custom=m.get("custom"))
            for m in messages
            if isinstance(m, dict)
        ]

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        payload = {"sender": sender, "message": text, "metadata": metadata}
        try:
            response = await self._post(sender, CHANNEL_PATH, json=payload, headers=self._headers)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            reason = describe_failure(exc)
            logger.warning("hub.bot.unavailable", extra={"sender": sender, "error": reason})
            raise BotUnavailable(reason) from exc
        if not isinstance(body, list):
            raise BotUnavailable("unexpected reply shape from Rasa")
        replies = BotReplies(
            BotReply(text=item.get("text"), buttons=item.get("buttons"), custom=item.get("custom"))
            for item in body
            if isinstance(item, dict)
        )
        replies.understood = _understood(response)
        return replies
