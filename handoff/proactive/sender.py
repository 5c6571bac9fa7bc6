"""Delivers the scheduler's proactive messages: into the customer's conversation (the widget shows it live
or at their next visit, Telegram gets it pushed) and by email, in the customer's language.

A retry after a failure must not repeat what already went out: the email is queued first under an id
made from the event (the outbox takes an id once), and the chat message, the last step, is written once
per delivery id (a Redis key set with it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from handoff.channels.email.channel import EmailChannel
from handoff.channels.email.compose import compose_notice
from handoff.hub import Hub
from handoff.proactive import unsubscribe
from handoff.proactive.scheduler import Proactive

logger = logging.getLogger(__name__)

CHAT_CHANNELS = frozenset({"web", "telegram"})
DELIVERED_TTL_SECONDS = 8 * 86400  # longer than any retry of one message
THREAD_PREFIX = "o:"  # a proactive email's reply address: "o:" and a key to what it was about
THREAD_TTL_SECONDS = 60 * 86400  # how long a reply to it still finds its order and conversation


def delivery_id(message: Proactive) -> str:
    """Stable per message, so every step of a retried delivery recognises its earlier self."""
    raw = f"{message.event_id}:{message.trigger.value}:{message.order_id}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def delivered_key(message_id: str) -> str:
    return f"hub:proactive:delivered:{message_id}"


def thread_key(thread_id: str) -> str:
    """What a proactive email was about: its order, customer and conversation, for the customer's reply."""
    return f"hub:proactive:thread:{thread_id}"


async def thread_of(redis: Any, thread_id: str) -> dict[str, str] | None:
    raw = await redis.get(thread_key(thread_id))
    return json.loads(raw) if raw else None


class HubSender:
    def __init__(
        self,
        hub: Hub,
        redis: Any,
        email: EmailChannel | None,
        public_url: str | None = None,
        link_secret: str = "",
    ) -> None:
        self._hub = hub
        self._redis = redis
        self._email = email
        self._public_url = public_url  # with it, emails carry a one-click unsubscribe link
        self._link_secret = link_secret

    async def send(self, message: Proactive) -> None:
        ident = delivery_id(message)
        conversation_id = await self._hub.customer_conversation(message.customer_id, message.language)
        emailed = await self._send_email(message, ident, conversation_id)
        channel = (await self._hub.info(conversation_id)).get("channel", "")
        chatted = channel in CHAT_CHANNELS and channel in message.channels
        if chatted and await self._redis.set(
            delivered_key(ident), conversation_id, nx=True, ex=DELIVERED_TTL_SECONDS
        ):
            try:
                await self._hub.proactive_message(
                    conversation_id, message.text, message.order_id, message.trigger.value, message.language
                )
            except Exception:
                await self._redis.delete(delivered_key(ident))
                raise
        if not (chatted or emailed):  # the trigger's channels reach neither: nothing a retry would change
            logger.warning("hub.proactive.undeliverable", extra={"order_id": message.order_id})
            return
        logger.info(
            "hub.proactive.delivered",
            extra={
                "order_id": message.order_id,
                "conversation_id": conversation_id,
                "chat": chatted,
                "email": emailed,
            },
        )

    async def _send_email(self, message: Proactive, ident: str, conversation_id: str) -> bool:
        if self._email is None or "email" not in message.channels or not message.email:
            return False
        thread_id = THREAD_PREFIX + ident[:16]
        about = {
            "order_id": message.order_id,
            "customer_id": message.customer_id,
            "conversation_id": conversation_id,
        }
        await self._redis.set(thread_key(thread_id), json.dumps(about), ex=THREAD_TTL_SECONDS)
        unsubscribe_id = await unsubscribe.remember(self._redis, message.customer_id)
        link = (
            unsubscribe.link(self._public_url, self._link_secret, message.customer_id)
            if self._public_url
            else None
        )
        composed = compose_notice(
            to=message.email,
            text=message.text,
            language=message.language,
            order_id=message.order_id,
            thread_id=thread_id,
            sender=self._email.settings.from_header,
            tokens=self._email.tokens,
            message_id=ident,
            unsubscribe_id=unsubscribe_id,
            unsubscribe_link=link,
        )
        await self._email.outbox.enqueue(composed)  # False: queued by an earlier attempt, which is as good
        return True
