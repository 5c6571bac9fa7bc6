"""REST channel with the request and reply shape of Rasa's REST channel, so existing clients work.

Who may call: a caller with `HUB_REST_TOKEN` (`Authorization: Bearer`) is trusted and may name the
customer (`metadata.customer_id`, passed to the assistant with `verified_by: "rest_token"`). Without the
token the channel answers only when `HUB_REST_OPEN=1`, and such callers stay anonymous.

Senders live in their own namespace: sender `S` writes to conversation `rest-S`, so a REST caller can
never write into a widget (`web-…`) or Telegram (`telegram-…`) conversation. Replies keep
`recipient_id: S` as the client sent it.

Limits: bodies up to `HUB_MAX_BODY_BYTES` (413 beyond, read no further), messages per conversation
(`HUB_MESSAGES_PER_MINUTE`) and per client address (`HUB_MESSAGES_PER_MINUTE_PER_ADDRESS`).

Modules: `inbound` who may call and a body made into a `CustomerMessage`, `outbound` the replies (a pull
channel: the webhook's response, and later messages by polling), `routes` the Sanic blueprint. Its
settings (`HUB_REST_TOKEN`, `HUB_REST_OPEN`) are in `handoff.settings`.
"""
