"""The conversation hub: store each customer message first, then deliver it and record the replies."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.language import detect_language
from handoff.bot_client import Bot, BotReply, BotUnavailable
from handoff.conversations import ConversationStore, Owner, Queued
from handoff.notices import notice
from handoff.transcript import Message, TranscriptStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    text: str | None
    buttons: list[dict[str, Any]] | None = None
    custom: dict[str, Any] | None = None


class Hub:
    def __init__(self, transcripts: TranscriptStore, conversations: ConversationStore, bot: Bot) -> None:
        self._transcripts = transcripts
        self._conversations = conversations
        self._bot = bot

    async def customer_message(
        self, conversation_id: str, text: str, channel: str, metadata: dict[str, Any] | None = None
    ) -> list[Reply]:
        """Handle one customer message; it is durably stored before anything else happens."""
        await self._transcripts.append(
            conversation_id, Message(author="customer", text=text, channel=channel)
        )
        if await self._conversations.owner(conversation_id) is not Owner.BOT:
            return []  # a person owns the conversation: the message waits in the transcript for them
        meta = {**(metadata or {}), "channel": channel}
        try:
            bot_replies = await self._bot.send(conversation_id, text, meta)
        except BotUnavailable:
            language = detect_language(text) or "en"
            apology = Reply(text=notice("bot_unavailable", language))
            await self._transcripts.append(
                conversation_id, Message(author="system", text=apology.text or "", channel=channel)
            )
            logger.warning("hub.bot.fallback", extra={"conversation_id": conversation_id})
            return [apology]
        replies = [_to_reply(r) for r in bot_replies]
        for reply in replies:
            await self._transcripts.append(
                conversation_id,
                Message(author="bot", text=reply.text or "", channel=channel, buttons=reply.buttons),
            )
        return replies

    async def handoff(self, conversation_id: str, packet: dict[str, Any]) -> Queued:
        """Take the conversation from the bot and queue it for a person, with its context packet."""
        queued = await self._conversations.enqueue_handoff(conversation_id, packet)
        note = f"handoff requested: {packet.get('reason', 'unspecified')}"
        await self._transcripts.append(
            conversation_id, Message(author="system", text=note, channel=str(packet.get("channel", "")))
        )
        logger.info(
            "hub.handoff.queued", extra={"conversation_id": conversation_id, "position": queued.position}
        )
        return queued

    async def history(self, conversation_id: str, after: str = "-") -> list[Message]:
        return await self._transcripts.read(conversation_id, after=after)


def _to_reply(reply: BotReply) -> Reply:
    return Reply(text=reply.text, buttons=reply.buttons, custom=reply.custom)
