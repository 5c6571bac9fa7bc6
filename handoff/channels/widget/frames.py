"""The widget's WebSocket frames: what a client frame may hold, and what the server sends. No I/O.

Inbound, a message frame becomes a `CustomerMessage` (its text checked like every channel's, its
`client_id` one the widget could have made); anything else a client sends that the server cannot use is a
`FrameRefused` carrying the error frame to answer with.
"""

from __future__ import annotations

import json
import re
from typing import Any

from handoff.channels.base import CustomerMessage
from handoff.inbound import InvalidText, check_message
from handoff.transcript import Message

CHANNEL = "web"
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


class FrameRefused(Exception):
    """A client frame the server answers with `frame`, an error frame; the socket stays open."""

    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(frame["message"])
        self.frame = frame


def parse_frame(raw: str | bytes) -> dict[str, Any]:
    """A client frame: a JSON object (a binary frame is decoded as UTF-8)."""
    try:
        frame = json.loads(raw)  # UnicodeDecodeError is a ValueError
        if not isinstance(frame, dict):
            raise ValueError
    except (ValueError, RecursionError):
        raise FrameRefused(
            {"type": "error", "code": "bad_frame", "message": "frames are JSON objects"}
        ) from None
    return frame


def customer_message(
    frame: dict[str, Any], conversation_id: str, metadata: dict[str, Any], max_chars: int
) -> CustomerMessage:
    """The hub's call for a message frame; its address is the conversation the session names."""
    text, client_id = frame.get("text"), frame.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID.match(client_id)):
        raise FrameRefused(
            {"type": "error", "code": "bad_frame", "message": "client_id: 1-64 of A-Z a-z 0-9 _ -"}
        )
    try:
        text = check_message(text, max_chars=max_chars)
    except InvalidText as exc:
        raise FrameRefused(
            {"type": "error", "code": "bad_message", "client_id": client_id, "message": str(exc)}
        ) from None
    return CustomerMessage(
        conversation_id, text, CHANNEL, metadata, address=conversation_id, client_id=client_id
    )


def echoable_client_id(frame: dict[str, Any]) -> str | None:
    """The frame's client id if it is one the widget could have made (safe to echo)."""
    value = frame.get("client_id")
    return value if isinstance(value, str) and CLIENT_ID.match(value) else None


def message_frame(message: Message) -> dict[str, Any]:
    """A transcript message as the widget shows it."""
    frame = {
        "type": "message",
        "id": message.id,
        "author": message.author,
        "text": message.text,
        "buttons": message.buttons,
        "ts": message.ts,
        "client_id": message.client_id,
    }
    if message.attachments:
        frame["attachments"] = [
            {k: a.get(k) for k in ("id", "content_type", "size")}
            for a in message.attachments
            if isinstance(a, dict)
        ]
    return frame
