"""Bot API calls over the app's shared HTTP client. The URLs hold the bot token: it is never logged, and
every error is redacted before it becomes a DeliveryFailed."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from handoff.channels.base import DeliveryFailed
from handoff.channels.telegram.settings import TelegramSettings

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 10.0
MAX_RETRY_AFTER_SECONDS = 10.0  # a longer 429 back-off is not waited out inside a request

# getFile's file_path, as Telegram makes it ("photos/file_12.jpg"): never a way out of the bot's files.
_FILE_PATH = re.compile(r"^(?!.*\.\.)[A-Za-z0-9_-][A-Za-z0-9_./-]{0,255}\Z")


class FileTooLarge(Exception):
    """A customer's file over the attachment limit (Telegram's figure, or the bytes themselves)."""

    def __init__(self, size: int | None = None) -> None:
        super().__init__(f"the file is {size} bytes" if size is not None else "the file is too large")
        self.size = size


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
