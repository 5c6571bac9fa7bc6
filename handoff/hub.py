"""The conversation hub: store each customer message first, then deliver it to whoever owns the
conversation (assistant, queue, agent), and carry answers back on the customer's channel.

Channels hand the hub text they have normalised (handoff.inbound.normalise_text) and metadata they built
themselves; the hub passes on only the metadata keys of the assistant's contract, and sends a slash text
as an intent payload only when the assistant offered it (handoff.inbound.text_for_assistant).

Photos: a customer message may carry stored photos (`attachments`, references from the attachment store)
with or without text. It is stored like any message; while the assistant owns the conversation it gets
only the text (the caption), and the hub tells the customer the photo is kept for the team; a photo without
text does not reach the assistant at all, so a form's pending question stays pending. While the team has the
conversation (queued, offered, agent), order numbers, photos and, while the customer waits, what they
said update the stored handoff packet (handoff.packet.apply_updates), and a handoff's packet lists the
photos the customer sent in the day before it (`photos`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from common.language import detect_language
from handoff import keys
from handoff.analytics.feed import AnalyticsFeed, fact, short
from handoff.bot_client import Bot, BotReply, BotUnavailable
from handoff.channels.base import CustomerMessage, DeliveryFailed, PushChannel
from handoff.conversations import ConversationStore, Owner
from handoff.inbound import offered_payloads, remember_payloads, text_for_assistant, trusted_metadata
from handoff.notices import notice
from handoff.packet import PacketUpdates, customer_updates
from handoff.routing.engine import HandoffStatus
from handoff.studio.inbox import FALLBACK_INTENT, StudioInbox
from handoff.studio.masking import mask
from handoff.transcript import Message, TranscriptStore

logger = logging.getLogger(__name__)

SURVEY_BUTTONS = [{"title": str(n), "payload": str(n)} for n in range(1, 6)]
_FULL_WIDTH = str.maketrans("１２３４５", "12345")
_RATING = re.compile(r"^\s*([1-5])\s*(?:/\s*5|stars?|星|分|颗星)?\s*[.!。！]?\s*$", re.IGNORECASE)
PHOTO_STAND_IN = "[photo]"  # a photo in transcripts shown as text (packets, tickets)
PHOTOS_IN_PACKET = 10  # the latest photos a handoff packet lists
PHOTO_LOOKBACK = 200  # transcript entries searched for them ...
PHOTO_MAX_AGE_SECONDS = 86400.0  # ... and how old they may be: one conversation spans a customer's visits
# Channels whose customers see only the direct answer to what they send (a REST client asks for later
# messages separately): while a person owns the chat they are told, without a transcript entry, that their
# message was passed on. The widget shows the chat live and Telegram pushes it: neither needs it.
ACKNOWLEDGED_CHANNELS = frozenset({"rest"})
# What the last proactive message was about (conversation fields), passed on with the customer's next
# message to the assistant while it is this recent.
PROACTIVE_ORDER, PROACTIVE_TRIGGER, PROACTIVE_AT = "proactive_order", "proactive_trigger", "proactive_at"
PROACTIVE_FIELDS = (PROACTIVE_ORDER, PROACTIVE_TRIGGER, PROACTIVE_AT)
PROACTIVE_CONTEXT_SECONDS = 24 * 3600.0


class AlreadyStored(Exception):
    """The customer message with this client id was stored before (a re-send): nothing more to do."""


@dataclass(frozen=True)
class Reply:
    text: str | None
    buttons: list[dict[str, Any]] | None = None
    custom: dict[str, Any] | None = None


class Experiments(Protocol):
    """handoff.analytics.experiments.ExperimentStore as the hub uses it."""

    async def params_for(self, conversation_id: str, kind: str) -> tuple[str, str, dict[str, Any]] | None: ...


class Router(Protocol):
    async def enqueue(self, conversation_id: str, packet: Mapping[str, Any]) -> HandoffStatus: ...

    async def release(self, conversation_id: str, actor: str | None, new_owner: str) -> tuple[str, str]: ...

    async def rate(self, agent_id: str, stars: int) -> None: ...


def parse_rating(text: str) -> int | None:
    """A survey answer: "4", "４", "4 stars", "4星", "★★★★"; anything else is not an answer."""
    stripped = text.strip().translate(_FULL_WIDTH)
    if stripped and set(stripped) == {"★"} and len(stripped) <= 5:
        return len(stripped)
    match = _RATING.match(stripped)
    return int(match.group(1)) if match else None


class Hub:
    def __init__(
        self,
        transcripts: TranscriptStore,
        conversations: ConversationStore,
        bot: Bot,
        router: Router,
        channels: Mapping[str, PushChannel] | None = None,
        clock: Callable[[], float] = time.time,
        packet_updates: PacketUpdates | None = None,
    ) -> None:
        self._transcripts = transcripts
        self._conversations = conversations
        self._bot = bot
        self._router = router
        self._push = dict(channels or {})
        self._clock = clock
        self._packet_updates = packet_updates
        self._studio_inbox: StudioInbox | None = None
        self._analytics: AnalyticsFeed | None = None
        self._experiments: Experiments | None = None

    def add_channel(self, channel: PushChannel) -> None:
        self._push[channel.name] = channel

    def use_studio_inbox(self, inbox: StudioInbox) -> None:
        """Where messages the assistant was unsure of, or handed off for, go for the studio's editors."""
        self._studio_inbox = inbox

    async def _for_studio(self, capture: Awaitable[Any]) -> None:
        """The editors' inbox is a by-product: a Redis hiccup there never fails the customer's message."""
        try:
            await capture
        except (RedisError, OSError):
            logger.warning("hub.studio.capture_failed", exc_info=True)

    def use_analytics(self, feed: AnalyticsFeed) -> None:
        """Leave facts for the analytical store: events ride along with the transcript writes."""
        self._analytics = feed

    def use_experiments(self, experiments: Experiments) -> None:
        """Running experiments: a handoff in a routing-weights experiment is routed with its variant's."""
        self._experiments = experiments

    async def _variant(self, conversation_id: str, kind: str) -> tuple[str, str, dict[str, Any]] | None:
        """The conversation's variant of the running experiment of `kind`; an experiment store that cannot
        answer leaves the conversation out of it rather than failing the customer's turn."""
        if self._experiments is None:
            return None
        try:
            return await self._experiments.params_for(conversation_id, kind)
        except (RedisError, OSError):
            logger.warning("hub.experiments.unavailable", exc_info=True)
            return None

    @property
    def analytics(self) -> AnalyticsFeed | None:
        return self._analytics

    def use_packet_updates(self, updates: PacketUpdates) -> None:
        """Where what a waiting customer adds goes (without it, the packet stays as handed off)."""
        self._packet_updates = updates

    @property
    def packet_updates_enabled(self) -> bool:
        return self._packet_updates is not None

    # -- customers -----------------------------------------------------------------------------------

    async def customer_message(
        self,
        conversation_id: str,
        text: str,
        channel: str,
        metadata: dict[str, Any] | None = None,
        address: str | None = None,
        client_id: str | None = None,
        attachments: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[Reply]:
        """Handle one customer message; it is durably stored before anything else happens.

        Returns the replies that answer it directly (the assistant's, or the hub's own notices); anything
        that comes later (agents, queue updates) is pushed or fetched from the transcript. A message whose
        `client_id` was stored before raises AlreadyStored. `metadata` is built by channel code; keys
        outside the assistant's contract (handoff.inbound.TRUSTED_KEYS) are dropped. The text is stored
        as typed; a slash text the assistant did not offer reaches it without the slashes. `attachments`
        are references to photos already in the attachment store; the text may then be empty.
        """
        photos = [dict(a) for a in attachments or []]
        message = Message(
            author="customer", text=text, channel=channel, client_id=client_id, attachments=photos or None
        )
        language = detect_language(text) if text.strip() else None
        facts = []
        if self._analytics is not None:
            facts.append(
                fact("customer_message", conversation_id, message.ts, channel=channel, language=language)
            )
        if client_id:
            once_key = keys.client_message(conversation_id, client_id)
            message_id = await self._transcripts.append_once(conversation_id, message, once_key, facts)
            if message_id is None:
                raise AlreadyStored(client_id)
        else:
            message_id = await self._transcripts.append(conversation_id, message, facts)
        await self._conversations.update(
            conversation_id,
            {
                "channel": channel,
                "address": address or conversation_id,
                **({"language": language} if language else {}),
            },
        )
        info = await self._conversations.info(conversation_id)
        if info.get("survey_agent"):
            answered = await self._survey_answer(conversation_id, info, text, channel)
            if answered is not None:
                return answered
        owner = Owner(info.get("owner") or Owner.BOT.value)
        if owner is Owner.CLOSED:
            # A closed case that the customer picks up again goes back to the assistant.
            await self._resume_bot(conversation_id, None, channel)
        elif owner is not Owner.BOT:
            # A person owns the conversation (or will): the message waits in the transcript, and what it
            # adds (an order number, a photo) goes on the agent's context card.
            await self._update_packet(conversation_id, message, photos)
            if channel in ACKNOWLEDGED_CHANNELS:
                return [Reply(text=notice("passed_to_team", info.get("language") or "en"))]
            return []
        if photos and not text.strip():
            # Nothing the assistant can read: the hub answers, and a form's pending question stays pending.
            return await self._acknowledge_photo(conversation_id, channel, info, "photo_received")
        meta = trusted_metadata(metadata, channel)
        kb_variant = await self._variant(conversation_id, "kb_threshold")
        reply_variant = await self._variant(conversation_id, "reply_variant")
        sent: dict[str, Any] = {}
        if kb_variant is not None:  # the knowledge-base action decides with the variant's threshold
            experiment_id, name, params = kb_variant
            sent["kb_threshold"] = {"id": experiment_id, "variant": name, **params}
        if reply_variant is not None:  # the assistant answers with the variant's response variations
            experiment_id, name, params = reply_variant
            sent["reply_variant"] = {"id": experiment_id, "variant": params.get("variant", name)}
        if sent:
            meta["experiments"] = sent
        proactive = self._proactive_context(info)
        if proactive is not None:  # the customer answers the assistant's message about this order
            meta["proactive"] = proactive
            await self._conversations.remove(conversation_id, *PROACTIVE_FIELDS)
        bot_text = text_for_assistant(text, info.get(keys.OFFERED_PAYLOADS), self._clock())
        try:
            bot_replies = await self._bot.send(conversation_id, bot_text, meta)
        except BotUnavailable:
            return await self._bot_unavailable(conversation_id, text, channel, info)
        replies = [_to_reply(r) for r in bot_replies]
        understood = getattr(bot_replies, "understood", None)
        turn = self._bot_turn(
            conversation_id, text, language or info.get("language"), understood, kb_variant, reply_variant
        )
        await self._store_bot_replies(conversation_id, replies, channel, turn)
        if self._studio_inbox is not None:
            await self._for_studio(
                self._studio_inbox.capture_parse(conversation_id, message_id, text, language, understood)
            )
        if photos:  # the assistant answered the caption; the customer still learns where the photo went
            replies += await self._acknowledge_photo(conversation_id, channel, info, "photo_saved")
        return replies

    def _bot_turn(
        self,
        conversation_id: str,
        text: str,
        language: str | None,
        understood: Mapping[str, Any] | None,
        kb_variant: tuple[str, str, dict[str, Any]] | None = None,
        reply_variant: tuple[str, str, dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """The assistant's turn as a fact: what it understood, and the customer's words (masked) only when it
        did not understand them, for the dashboard's list of fallback messages. A knowledge-base answer in
        a threshold experiment names the variant (a miss does, on its handoff); in a reply-variant
        experiment every turn does."""
        if self._analytics is None:
            return []
        understood = understood or {}
        experiments = {}
        if kb_variant is not None and understood.get("kb_article"):
            experiments[kb_variant[0]] = kb_variant[1]
        if reply_variant is not None:  # every turn of the conversation: intention to treat
            experiments[reply_variant[0]] = reply_variant[1]
        intent = understood.get("intent")
        fallback = intent == FALLBACK_INTENT
        affect = understood.get("affect")
        return [
            fact(
                "bot_turn",
                conversation_id,
                self._clock(),
                intent=intent if isinstance(intent, str) else None,
                confidence=understood.get("confidence"),
                fallback=fallback,
                kb_article=understood.get("kb_article"),
                kb_miss=False,
                affect=affect.get("frustration") if isinstance(affect, dict) else None,
                text=short(mask(text).text) if fallback else None,
                language=language,
                experiments=experiments,
            )
        ]

    async def _acknowledge_photo(
        self, conversation_id: str, channel: str, info: Mapping[str, str], name: str
    ) -> list[Reply]:
        text = notice(name, info.get("language") or "en")
        await self._transcripts.append(conversation_id, Message(author="system", text=text, channel=channel))
        return [Reply(text=text)]

    async def receive(self, message: CustomerMessage) -> list[Reply]:
        """`customer_message` for a message a channel built (handoff.channels.base)."""
        return await self.customer_message(
            message.conversation_id,
            message.text,
            message.channel,
            message.metadata,
            address=message.address,
            client_id=message.client_id,
            attachments=message.attachments,
        )

    async def _update_packet(
        self, conversation_id: str, message: Message, photos: list[dict[str, Any]]
    ) -> None:
        if self._packet_updates is None:
            return
        photo_ids = [str(p["id"]) for p in photos if p.get("id")]
        entries = customer_updates(message.text, photo_ids, message.ts)
        if entries:
            await self._packet_updates.add(conversation_id, entries)

    async def _bot_unavailable(
        self, conversation_id: str, text: str, channel: str, info: Mapping[str, str]
    ) -> list[Reply]:
        language = info.get("language") or detect_language(text) or "en"
        apology = notice("bot_unavailable", language)
        await self._transcripts.append(
            conversation_id, Message(author="system", text=apology, channel=channel)
        )
        logger.warning("hub.bot.fallback", extra={"conversation_id": conversation_id})
        recent = await self._transcripts.read(conversation_id)
        packet = {
            "conversation_id": conversation_id,
            "reason": "bot_unavailable",
            "language": language,
            "channel": channel,
            "customer_id": info.get("customer_id"),
            "transcript": [{"author": m.author, "text": _shown_text(m), "ts": m.ts} for m in recent[-20:]],
        }
        await self.handoff(conversation_id, packet, announce=False)
        return [Reply(text=apology)]

    async def _survey_answer(
        self, conversation_id: str, info: Mapping[str, str], text: str, channel: str
    ) -> list[Reply] | None:
        """The answer to the satisfaction survey feeds the agent's rating; any other text skips it."""
        await self._conversations.remove(conversation_id, "survey_agent")
        stars = parse_rating(text)
        if stars is None:
            return None
        agent_id = info["survey_agent"]
        await self._router.rate(agent_id, stars)
        await self._conversations.record_survey(conversation_id, agent_id, stars)
        thanks = notice("survey_thanks", info.get("language") or "en")
        facts = self._facts("csat", conversation_id, agent_id=agent_id, stars=stars)
        await self._transcripts.append(
            conversation_id, Message(author="system", text=thanks, channel=channel), facts
        )
        logger.info("hub.survey.answered", extra={"conversation_id": conversation_id, "stars": stars})
        return [Reply(text=thanks)]

    # -- handoff and agents --------------------------------------------------------------------------

    async def handoff(
        self, conversation_id: str, packet: dict[str, Any], announce: bool = True
    ) -> HandoffStatus:
        """Take the conversation from the bot and queue it for a person, with its context packet (and the
        photos the customer sent before, so the agent sees them on the card)."""
        photos = await self._recent_photos(conversation_id)
        if photos:
            packet = {**packet, "photos": photos}
        variant = await self._variant(conversation_id, "routing_weights")
        if variant is not None:  # the engine routes with these weights and does not store them
            experiment_id, name, params = variant
            exposed = {**(packet.get("experiments") or {}), experiment_id: name}
            packet = {**packet, "experiments": exposed, "routing_weights": params}
        status = await self._router.enqueue(conversation_id, packet)  # also records the customer id
        if self._studio_inbox is not None:
            await self._for_studio(self._studio_inbox.capture_handoff(conversation_id, packet))
        info: Mapping[str, str] = {}
        if announce:
            # The notice needs the channel and address; the routing engine returns them with the status.
            if status.contact is not None:
                info = status.contact
            else:
                info = await self._conversations.info(conversation_id)
        note = f"handoff requested: {packet.get('reason', 'unspecified')}"
        channel = str(packet.get("channel", ""))
        messages = [Message(author="system", text=note, channel=channel, internal=True)]
        if announce:
            text = _queue_notice(status, str(packet.get("language") or "en"))
            messages.append(Message(author="system", text=text, channel=info.get("channel", "")))
        # The agents' note, then the customer's notice (as system_notice writes it), in one write.
        ids = await self._transcripts.append_many(
            conversation_id, messages, self._handoff_facts(conversation_id, packet, status)
        )
        if announce:
            await self._deliver(conversation_id, info, [Message(**{**messages[1].__dict__, "id": ids[1]})])
        logger.info(
            "hub.handoff.queued", extra={"conversation_id": conversation_id, "position": status.position}
        )
        return status

    def _facts(self, kind: str, conversation_id: str, **fields: Any) -> list[dict[str, Any]]:
        return [fact(kind, conversation_id, self._clock(), **fields)] if self._analytics is not None else []

    def _handoff_facts(
        self, conversation_id: str, packet: Mapping[str, Any], status: HandoffStatus
    ) -> list[dict[str, Any]]:
        if self._analytics is None:
            return []
        order = packet.get("order")
        reason = str(packet.get("reason") or "unspecified")
        facts = self._facts(
            "handoff",
            conversation_id,
            reason=reason,
            queue=status.skill or status.queue,
            language=status.language or packet.get("language"),
            order_id=order.get("id") if isinstance(order, Mapping) else None,
            intent=packet.get("intent") if isinstance(packet.get("intent"), str) else None,
            experiments=packet.get("experiments") if isinstance(packet.get("experiments"), dict) else {},
        )
        if reason == "kb_miss":  # the question the knowledge base had no article for
            question = _last_customer_text(packet)
            if question:
                facts += self._facts(
                    "kb_miss",
                    conversation_id,
                    text=short(mask(question).text),
                    language=packet.get("language"),
                )
        return facts

    async def _recent_photos(self, conversation_id: str) -> list[dict[str, Any]]:
        recent = await self._transcripts.read_last(conversation_id, PHOTO_LOOKBACK)
        since = self._clock() - PHOTO_MAX_AGE_SECONDS
        photos = [
            {**photo, "ts": m.ts}
            for m in recent
            if m.author == "customer" and m.ts >= since
            for photo in m.attachments or []
            if isinstance(photo, dict) and photo.get("id")
        ]
        return photos[-PHOTOS_IN_PACKET:]

    async def agent_joined(self, conversation_id: str, agent_name: str) -> None:
        language = await self.language(conversation_id)
        await self.system_notice(conversation_id, notice("agent_joined", language, name=agent_name))

    async def agent_message(self, conversation_id: str, agent_id: str, text: str) -> Message:
        info = await self._conversations.info(conversation_id)
        message = Message(author="agent", text=text, channel=info.get("channel", ""), agent_id=agent_id)
        facts = self._facts("agent_message", conversation_id, agent_id=agent_id)
        entry_id = await self._transcripts.append(conversation_id, message, facts)
        stored = Message(**{**message.__dict__, "id": entry_id})
        await self._deliver(conversation_id, info, [stored])
        return stored

    async def resolve(self, conversation_id: str, actor: str | None) -> None:
        """Done: the assistant takes the conversation back and asks the customer to rate the help."""
        _, holder = await self._router.release(conversation_id, actor, Owner.BOT.value)
        await self._transcripts.append(
            conversation_id,
            Message(author="system", text="resolved", channel="", internal=True),
            self._facts("resolved", conversation_id, agent_id=holder),
        )
        await self._resume_bot(conversation_id, None, "")
        if holder:
            await self._conversations.update(conversation_id, {"survey_agent": holder})
            language = await self.language(conversation_id)
            await self.system_notice(conversation_id, notice("survey_question", language), SURVEY_BUTTONS)

    async def return_to_bot(
        self, conversation_id: str, actor: str | None, intent: str | None, channel: str = ""
    ) -> list[Message]:
        """The agent hands the conversation back; the assistant resumes, optionally into a flow."""
        await self._router.release(conversation_id, actor, Owner.BOT.value)
        messages = await self._resume_bot(conversation_id, intent, channel)
        if messages:
            await self._deliver(conversation_id, await self._conversations.info(conversation_id), messages)
        return messages

    async def close(self, conversation_id: str, actor: str | None) -> None:
        await self._router.release(conversation_id, actor, Owner.CLOSED.value)
        await self._transcripts.append(
            conversation_id,
            Message(author="system", text="closed", channel="", internal=True),
            self._facts("closed", conversation_id, actor=actor),
        )

    # -- outside a live chat --------------------------------------------------------------------------

    async def follow_up(
        self, conversation_id: str, message: Message, facts: Sequence[Mapping[str, Any]] = ()
    ) -> Message:
        """A message written to the conversation outside a live chat (an agent's ticket reply, a proactive
        message). A closed conversation reopens with its history, the assistant answering what the customer
        says next; a push channel gets it now, the widget shows it live or when the customer next opens it."""
        info = await self._conversations.info(conversation_id)
        message = Message(**{**message.__dict__, "channel": message.channel or info.get("channel", "")})
        entries = [message]
        if info.get("owner") == Owner.CLOSED.value:
            await self._conversations.set_owner(conversation_id, Owner.BOT)
            reopened = Message(author="system", text="reopened as a follow-up", channel="", internal=True)
            entries.insert(0, reopened)
        ids = await self._transcripts.append_many(conversation_id, entries, facts)
        stored = Message(**{**message.__dict__, "id": ids[-1]})
        await self._deliver(conversation_id, info, [stored])
        return stored

    async def customer_reply_outside(
        self, conversation_id: str, text: str, channel: str, facts: Sequence[Mapping[str, Any]] = ()
    ) -> Message:
        """A customer's message that came outside the chat (an email reply to a ticket): stored for the team,
        not sent to the assistant."""
        message = Message(author="customer", text=text, channel=channel)
        if not facts:
            facts = self._facts("customer_message", conversation_id, channel=channel, language=None)
        entry_id = await self._transcripts.append(conversation_id, message, facts)
        return Message(**{**message.__dict__, "id": entry_id})

    async def customer_conversation(self, customer_id: str, language: str) -> str:
        """The customer's one conversation (the one their signed-in widget opens); a new widget conversation
        when they have none yet, so what is written to it waits for their next visit."""
        conversation_id = await self._conversations.link_identities(
            {"customer": customer_id}, f"web-{uuid.uuid4().hex}"
        )
        info = await self._conversations.info(conversation_id)
        if not info.get("channel"):
            fields = {"channel": "web", "address": conversation_id, "customer_id": customer_id}
            await self._conversations.update(conversation_id, {**fields, "language": language})
        return conversation_id

    async def proactive_message(
        self, conversation_id: str, text: str, order_id: str, trigger: str, language: str
    ) -> Message:
        """The assistant writes first, about an order; the customer's next message tells the assistant which
        order and why (metadata `proactive`), so "where is it?" needs no order number."""
        channel = (await self._conversations.info(conversation_id)).get("channel", "")
        about = {"order_id": order_id, "trigger": trigger, "channel": channel, "language": language}
        facts = self._facts("proactive", conversation_id, **about)
        message = Message(author="bot", text=text, channel=channel)
        stored = await self.follow_up(conversation_id, message, facts)
        context = {PROACTIVE_ORDER: order_id, PROACTIVE_TRIGGER: trigger, PROACTIVE_AT: repr(self._clock())}
        await self._conversations.update(conversation_id, context)
        return stored

    def _proactive_context(self, info: Mapping[str, str]) -> dict[str, str] | None:
        """What the last proactive message was about, while it is recent enough to be what the customer
        answers."""
        order_id, at = info.get(PROACTIVE_ORDER), info.get(PROACTIVE_AT)
        if not order_id or not at:
            return None
        try:
            if self._clock() - float(at) > PROACTIVE_CONTEXT_SECONDS:
                return None
        except ValueError:
            return None
        return {"order_id": order_id, "trigger": info.get(PROACTIVE_TRIGGER) or ""}

    async def offer_ticket(self, conversation_id: str, ticket_id: str, out_of_hours: bool = False) -> None:
        """Tell a waiting customer their case is kept as a ticket; they may keep waiting or leave."""
        language = await self.language(conversation_id)
        key = "out_of_hours" if out_of_hours else "ticket_offer"
        await self.system_notice(conversation_id, notice(key, language, ticket=ticket_id))

    async def system_notice(
        self, conversation_id: str, text: str, buttons: list[dict[str, Any]] | None = None
    ) -> None:
        """A customer-visible message from the service itself, pushed on push channels."""
        info = await self._conversations.info(conversation_id)
        message = Message(author="system", text=text, channel=info.get("channel", ""), buttons=buttons)
        entry_id = await self._transcripts.append(conversation_id, message)
        await self._deliver(conversation_id, info, [Message(**{**message.__dict__, "id": entry_id})])

    async def _deliver(self, conversation_id: str, info: Mapping[str, str], messages: list[Message]) -> None:
        channel = self._push.get(info.get("channel", ""))
        if channel is None:
            return  # pull channel: the widget and REST clients read the transcript
        try:
            await channel.deliver(info.get("address") or conversation_id, messages)
        except DeliveryFailed as exc:
            logger.warning(
                "hub.delivery.failed",
                extra={"conversation_id": conversation_id, "channel": channel.name, "error": str(exc)},
            )

    async def _resume_bot(self, conversation_id: str, intent: str | None, channel: str) -> list[Message]:
        await self._conversations.set_owner(conversation_id, Owner.BOT)
        try:
            replies = [_to_reply(r) for r in await self._bot.resume(conversation_id, intent)]
        except BotUnavailable:
            logger.warning("hub.bot.resume_failed", extra={"conversation_id": conversation_id})
            return []
        return await self._store_bot_replies(conversation_id, replies, channel)

    async def _store_bot_replies(
        self,
        conversation_id: str,
        replies: list[Reply],
        channel: str,
        facts: Sequence[Mapping[str, Any]] = (),
    ) -> list[Message]:
        payloads = [p for reply in replies for p in offered_payloads(reply.buttons)]
        if payloads:  # before the replies are visible: a quick click must find its payload recorded
            await self._remember_payloads(conversation_id, payloads)
        messages = [
            Message(author="bot", text=reply.text or "", channel=channel, buttons=reply.buttons)
            for reply in replies
        ]
        if not messages and not facts:
            return []
        ids = await self._transcripts.append_many(conversation_id, messages, facts)  # one round trip
        return [Message(**{**m.__dict__, "id": i}) for m, i in zip(messages, ids, strict=True)]

    async def _remember_payloads(self, conversation_id: str, payloads: list[str]) -> None:
        previous = (await self._conversations.info(conversation_id)).get(keys.OFFERED_PAYLOADS)
        record = remember_payloads(previous, payloads, self._clock())
        await self._conversations.update(conversation_id, {keys.OFFERED_PAYLOADS: record})

    async def already_stored(self, conversation_id: str, client_id: str) -> bool:
        """Whether the customer message with this client id is stored (a re-send after a reconnect)."""
        return await self._transcripts.seen_once(keys.client_message(conversation_id, client_id))

    async def info(self, conversation_id: str) -> dict[str, str]:
        """The conversation's stored state (owner, agents, channel, language, ...); empty when unknown."""
        return await self._conversations.info(conversation_id)

    async def fields(self, conversation_id: str, *names: str) -> dict[str, str | None]:
        """Only the named fields of the conversation's state, None where absent."""
        return await self._conversations.read_fields(conversation_id, *names)

    async def packet(self, conversation_id: str) -> dict[str, Any] | None:
        """The latest handoff packet (the agent's context card); None before any handoff."""
        return await self._conversations.packet(conversation_id)

    async def note_transfer(self, conversation_id: str, note: str, by: str) -> None:
        """The note a transferring agent leaves for the next one (shown on the context card)."""
        await self._conversations.update(conversation_id, {"transfer_note": note, "transfer_by": by})

    async def language(self, conversation_id: str) -> str:
        """The customer's language as last detected (English until known)."""
        return (await self._conversations.info(conversation_id)).get("language") or "en"

    async def conversation_for(self, channel: str, address: str, default: str) -> str:
        """Where a channel address's messages go: its own conversation unless linked to a customer's."""
        return await self._conversations.conversation_for(channel, address, default)

    async def link_identities(
        self,
        identities: dict[str, str],
        candidate: str,
        channel: str | None = None,
        address: str | None = None,
    ) -> str:
        conversation_id = await self._conversations.link_identities(identities, candidate, channel, address)
        if "customer" in identities:
            await self._conversations.update(conversation_id, {"customer_id": identities["customer"]})
        return conversation_id

    async def history(self, conversation_id: str, after: str = "-") -> list[Message]:
        return await self._transcripts.read(conversation_id, after=after)


def _queue_notice(status: HandoffStatus, language: str) -> str:
    if status.owner != "queued" or status.position is None:
        return notice("connecting", language)
    if status.estimated_wait_seconds is None:
        return notice("queued_unknown_wait", language, position=status.position)
    minutes = max(1, round(status.estimated_wait_seconds / 60))
    return notice("queued", language, position=status.position, minutes=minutes)


def _last_customer_text(packet: Mapping[str, Any]) -> str | None:
    transcript = packet.get("transcript")
    for entry in reversed(transcript if isinstance(transcript, list) else []):
        if isinstance(entry, Mapping) and entry.get("author") == "customer" and entry.get("text"):
            return str(entry["text"])
    return None


def _shown_text(message: Message) -> str:
    """A message as text: its photos as stand-ins."""
    stand_ins = [PHOTO_STAND_IN] * len(message.attachments or [])
    return " ".join([message.text, *stand_ins]).strip() if stand_ins else message.text


def _to_reply(reply: BotReply) -> Reply:
    return Reply(text=reply.text, buttons=reply.buttons, custom=reply.custom)
