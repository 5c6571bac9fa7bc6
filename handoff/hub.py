"""The conversation hub: store each customer message first, then deliver it and record the replies."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.language import detect_language
from handoff.bot_client import Bot, BotReply, BotUnavailable
from handoff.conversations import ConversationStore, Owner
from handoff.notices import notice
from handoff.routing.engine import HandoffStatus
from handoff.transcript import Message, TranscriptStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    text: str | None
    buttons: list[dict[str, Any]] | None = None
    custom: dict[str, Any] | None = None


class Router(Protocol):
    async def enqueue(self, conversation_id: str, packet: Mapping[str, Any]) -> HandoffStatus: ...

    async def release(self, conversation_id: str, actor: str | None, new_owner: str) -> tuple[str, str]: ...


class Hub:
    def __init__(
        self, transcripts: TranscriptStore, conversations: ConversationStore, bot: Bot, router: Router
    ) -> None:
        self._transcripts = transcripts
        self._conversations = conversations
        self._bot = bot
        self._router = router

    async def customer_message(
        self, conversation_id: str, text: str, channel: str, metadata: dict[str, Any] | None = None
    ) -> list[Reply]:
        """Handle one customer message; it is durably stored before anything else happens."""
        await self._transcripts.append(
            conversation_id, Message(author="customer", text=text, channel=channel)
        )
        owner = await self._conversations.owner(conversation_id)
        if owner is Owner.CLOSED:
            # A closed case that the customer picks up again goes back to the assistant.
            await self._resume_bot(conversation_id, None, channel)
        elif owner is not Owner.BOT:
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

    async def handoff(self, conversation_id: str, packet: dict[str, Any]) -> HandoffStatus:
        """Take the conversation from the bot and queue it for a person, with its context packet."""
        queued = await self._router.enqueue(conversation_id, packet)
        note = f"handoff requested: {packet.get('reason', 'unspecified')}"
        await self._transcripts.append(
            conversation_id, Message(author="system", text=note, channel=str(packet.get("channel", "")))
        )
        logger.info(
            "hub.handoff.queued", extra={"conversation_id": conversation_id, "position": queued.position}
        )
        return queued

    async def return_to_bot(
        self, conversation_id: str, actor: str | None, intent: str | None, channel: str = ""
    ) -> list[Reply]:
        """The agent hands the conversation back; the assistant resumes, optionally into a flow."""
        await self._router.release(conversation_id, actor, Owner.BOT.value)
        return await self._resume_bot(conversation_id, intent, channel)

    async def close(self, conversation_id: str, actor: str | None) -> None:
        await self._router.release(conversation_id, actor, Owner.CLOSED.value)
        await self._transcripts.append(
            conversation_id, Message(author="system", text="conversation resolved", channel="")
        )

    async def _resume_bot(self, conversation_id: str, intent: str | None, channel: str) -> list[Reply]:
        await self._conversations.set_owner(conversation_id, Owner.BOT)
        try:
            replies = [_to_reply(r) for r in await self._bot.resume(conversation_id, intent)]
        except BotUnavailable:
            logger.warning("hub.bot.resume_failed", extra={"conversation_id": conversation_id})
            return []
        for reply in replies:
            await self._transcripts.append(
                conversation_id,
                Message(author="bot", text=reply.text or "", channel=channel, buttons=reply.buttons),
            )
        return replies

    async def history(self, conversation_id: str, after: str = "-") -> list[Message]:
        return await self._transcripts.read(conversation_id, after=after)


def _to_reply(reply: BotReply) -> Reply:
    return Reply(text=reply.text, buttons=reply.buttons, custom=reply.custom)
