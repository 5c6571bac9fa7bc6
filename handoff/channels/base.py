"""The channel adapter interface, both directions.

Inbound, every channel turns what its customer sent into a `CustomerMessage`: the arguments of
`Hub.customer_message`, which the channel's code then makes. Parsing the channel's own payload has no
shared signature (a WebSocket frame, a REST body, a Telegram update each come with different context);
what they all keep to is the result:
- `text` normalised (`handoff.inbound.normalise_text`, or `check_message` with the length limit);
- `metadata` built by channel code (`handoff.inbound.assistant_metadata` or the channel's own builder):
  `client_address` always, `customer_id` / `verified_phone` with `verified_by` only when the channel itself
  vouches for them (a signed storefront identity, the REST token, a contact Telegram verified), never
  copied from what the customer sent;
- `address` where the channel reaches the customer, `client_id` the client's id for the message (re-sends
  are stored once), `attachments` references to photos already in the attachment store.

Outbound, the hub calls `PushChannel.deliver` for messages that do not come back in the response to the
customer's own request (agent replies, queue updates, the survey), and logs `DeliveryFailed` while the
message stays in the transcript. Only push channels implement it; the others read the transcript.

What each channel implements:
- widget (`handoff.channels.widget`, name `web`): inbound, socket frames (address = the conversation, with
  the widget's `client_id`; photos come by upload, handoff.blueprints.attachments); outbound, pull: its
  socket sends what the transcript fan-out announces.
- REST (`handoff.channels.rest`, `rest`): inbound, webhook bodies (no address); outbound, pull: the
  webhook's response carries the replies, later messages are polled.
- Telegram (`handoff.channels.telegram`, `telegram`): inbound, webhook updates (address = the chat id,
  photos as attachments); outbound, push: `TelegramChannel.deliver` (`sendMessage`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from handoff.transcript import Message


class DeliveryFailed(Exception):
    """The channel did not accept the message; it stays in the transcript."""


@dataclass(frozen=True)
class CustomerMessage:
    """One customer message as a channel hands it to `Hub.customer_message` (same names, same meaning)."""

    conversation_id: str
    text: str
    channel: str
    metadata: dict[str, Any]
    address: str | None = None
    client_id: str | None = None
    attachments: tuple[Mapping[str, Any], ...] = ()


class PushChannel(Protocol):
    """A channel the hub delivers to; `name` is the `channel` its messages are stored under."""

    name: str

    async def deliver(self, address: str, messages: list[Message]) -> None:
        """Send messages to the customer at `address` (the channel's own id, e.g. a Telegram chat id)."""
        ...
