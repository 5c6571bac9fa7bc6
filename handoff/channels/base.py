"""The adapter interface. Inbound, an adapter turns its channel's payload into
`Hub.customer_message(conversation_id, text, channel, metadata, address)`; outbound, the hub calls
`deliver` for messages that do not come back in the response to the customer's own request (agent
replies, queue updates, the survey). Pull channels (the widget's WebSocket, REST polling) read the
transcript instead and need no `deliver`.

An adapter hands the hub text it has normalised (`handoff.inbound.normalise_text`) and metadata it built
itself: `client_address` always, and `customer_id` / `verified_phone` with `verified_by` only when the
channel itself vouches for them (a signed storefront identity, the REST token, a contact Telegram
verified), never copied from what the customer sent.
"""

from __future__ import annotations

from typing import Protocol

from handoff.transcript import Message


class DeliveryFailed(Exception):
    """The channel did not accept the message; it stays in the transcript."""


class PushChannel(Protocol):
    name: str

    async def deliver(self, address: str, messages: list[Message]) -> None:
        """Send messages to the customer at `address` (the channel's own id, e.g. a Telegram chat id)."""
        ...
