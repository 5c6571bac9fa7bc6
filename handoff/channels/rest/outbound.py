"""What REST callers read back. A pull channel: the webhook answers with the replies to the message it
carried, in Rasa's REST shape; messages that come later (agents, queue updates) are read by polling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handoff.hub import Reply
from handoff.transcript import Message


def rasa_shape(recipient_id: str, reply: Reply) -> dict[str, Any]:
    """One reply as Rasa's REST channel sends it."""
    out: dict[str, Any] = {"recipient_id": recipient_id}
    if reply.text is not None:
        out["text"] = reply.text
    if reply.buttons:
        out["buttons"] = reply.buttons
    if reply.custom:
        out["custom"] = reply.custom
    return out


def later_messages(recipient_id: str, history: Sequence[Message]) -> list[dict[str, Any]]:
    """What the customer did not write and may see, for the polling route."""
    visible = [m for m in history if not m.internal and m.author != "customer"]
    return [
        {"id": m.id, "recipient_id": recipient_id, "author": m.author, "text": m.text, "buttons": m.buttons}
        for m in visible
    ]
