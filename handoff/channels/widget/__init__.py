"""The storefront widget channel: a session endpoint, the WebSocket the widget talks over, the embeddable
script and a demo storefront page at `/`.

WebSocket protocol (JSON frames):
  client → {"type": "hello", "token": SESSION, "after": LAST_MESSAGE_ID | null}   first frame
           {"type": "message", "text": ..., "client_id": ...}   {"type": "typing"}   {"type": "ping"}
           {"type": "leave"}   stop waiting for a person (the request is kept as a ticket)
  server → {"type": "ready", "conversation_id": ...}   {"type": "message", "id", "author", "text", ...}
           {"type": "ack", "client_id"}   {"type": "status", "owner", "position", ...}
           {"type": "typing", "author"}   {"type": "error", "code", "message"}   {"type": "pong"}
After a reconnect the widget sends the last message id it showed: the server replays what came after it,
and re-sent customer messages are recognised by `client_id`, so nothing is lost or shown twice.
Photos are not sent over the socket: the widget uploads them over HTTP with its session token
(handoff/blueprints/attachments.py), and the stored message comes back as a message frame whose
`attachments` list `{id, content_type, size}`; the widget fetches each with the same token.

A frame the server cannot use (not JSON, not UTF-8, a message with a lone surrogate or nothing visible)
gets an error frame and the socket stays open: closing it would make the widget reconnect and re-send the
same message forever. An error frame that names a `client_id` tells the widget to stop re-sending it.
The assistant learns who is writing only from the signed session (`customer_id` with `verified_by:
"storefront"`) and the connection (`client_address`); nothing in a frame can set them.

Modules: `frames` the frames (inbound parsing into a `CustomerMessage`, what the server sends; no I/O),
`sessions` the session token and the customer's metadata, `origins` which storefronts may call (CORS),
`connection` one live socket (inbound: frames to the hub; outbound: the transcript, pushed as the fan-out
announces it, and the routing status), `routes` the Sanic blueprint. The widget's settings
(`HUB_WIDGET_SECRET`, `HUB_IDENTITY_SECRET`, `HUB_ALLOWED_ORIGINS`) are in `handoff.settings`.
"""
