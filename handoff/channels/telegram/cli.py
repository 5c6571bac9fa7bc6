"""Manage the Telegram webhook with the service's environment (TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET,
TELEGRAM_API_URL): `set-webhook URL` registers it with the secret token, `webhook-info` shows Telegram's
view of it, `delete-webhook` stops it. Run as `python -m handoff.channels.telegram`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

import httpx

from common.env import SettingsError
from handoff.channels.base import DeliveryFailed
from handoff.channels.telegram.api import BotApi
from handoff.channels.telegram.settings import TelegramSettings
from handoff.channels.telegram.updates import ALLOWED_UPDATES


async def _run_cli(settings: TelegramSettings, method: str, payload: dict[str, Any]) -> Any:
    async with httpx.AsyncClient() as client:
        return await BotApi(settings, lambda: client).call(method, payload)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m handoff.channels.telegram", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    set_webhook = commands.add_parser("set-webhook", help="point the bot at this service's webhook")
    set_webhook.add_argument("url", help="public HTTPS URL of /webhooks/telegram/webhook")
    set_webhook.add_argument("--drop-pending-updates", action="store_true")
    set_webhook.add_argument("--max-connections", type=int, default=40)
    delete = commands.add_parser("delete-webhook", help="stop sending updates to the webhook")
    delete.add_argument("--drop-pending-updates", action="store_true")
    commands.add_parser("webhook-info", help="show Telegram's view of the webhook (last error, queue)")
    return parser


def _request(args: argparse.Namespace, settings: TelegramSettings) -> tuple[str, dict[str, Any]]:
    """The Bot API method and payload for the command."""
    if args.command == "set-webhook":
        return "setWebhook", {
            "url": args.url,
            "secret_token": settings.webhook_secret,
            "allowed_updates": list(ALLOWED_UPDATES),
            "drop_pending_updates": args.drop_pending_updates,
            "max_connections": args.max_connections,
        }
    if args.command == "delete-webhook":
        return "deleteWebhook", {"drop_pending_updates": args.drop_pending_updates}
    return "getWebhookInfo", {}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = TelegramSettings.from_env()
    except SettingsError as exc:
        print(f"telegram: {exc}", file=sys.stderr)
        return 2
    if settings is None:
        print("telegram: TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    method, payload = _request(args, settings)
    try:
        result = asyncio.run(_run_cli(settings, method, payload))
    except DeliveryFailed as exc:
        print(f"telegram: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0
