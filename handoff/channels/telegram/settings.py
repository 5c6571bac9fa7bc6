"""The Telegram channel's settings (TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET, TELEGRAM_API_URL)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from common.env import SettingsError

DEFAULT_API_URL = "https://api.telegram.org"

_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{35,}\Z")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}\Z")


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
