"""Telegram Bot API channel (see docs/channels-telegram.md).

Inbound, Telegram posts updates to the webhook in `routes`, which parses them with `updates` and takes
them through the hub with `inbound` (a `CustomerMessage` per update; address = the chat id). Outbound,
`channel.TelegramChannel` is the hub's push channel: `deliver` sends the hub's messages (laid out by
`messages`) with `sendMessage` through `api.BotApi`, over the app's shared HTTP client. `settings` reads
the environment (the channel is off without TELEGRAM_BOT_TOKEN), `notices` holds what the customer is
told when an update cannot be taken, and `python -m handoff.channels.telegram` (`cli`) manages the webhook.
"""
