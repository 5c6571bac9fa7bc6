"""Tickets by email: an agent's reply composed and queued for the customer, and the customer's emailed reply
taken into its ticket and the ticket's conversation.

Threading: the Message-IDs of a ticket's exchange, ours and the customer's, are kept in order, so the
agent's next email answers the customer's last one (In-Reply-To) and carries the thread (References): the
customer's mail client shows one conversation. A customer's reply is taken once per Message-ID, so a
provider posting it again, or a sending server retrying after it lost our answer, adds nothing.

A reply to a proactive message (an order update, handoff/proactive/sender.py) carries that message's
thread instead of a ticket id; it goes to the conversation the update was written to.

Keys, under "hub:email:" beside the outbox's: the thread per ticket (list), the customer's last
Message-ID per ticket (string), and a marker per Message-ID taken (string, expiring).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from typing import Any

from redis.asyncio import Redis

from handoff.channels.email.channel import EmailChannel
from handoff.channels.email.compose import MAX_REFERENCES, Composed, Draft, compose
from handoff.channels.email.inbound import InboundError, InboundReply, NoText
from handoff.channels.email.outbox import PREFIX, EmailStatus
from handoff.errors import NotFoundError
from handoff.hub import Hub
from handoff.inbound import clean_text
from handoff.proactive import unsubscribe
from handoff.proactive.sender import THREAD_PREFIX, thread_of
from handoff.proactive.store import ProactiveStore
from handoff.tickets.model import NewTicket, Ticket
from handoff.tickets.store import CUSTOMER_ACTOR, TicketStore

logger = logging.getLogger(__name__)

CHANNEL = "email"
UPDATE_TICKET_TTL_SECONDS = 60 * 86400  # as long as a reply to the update finds its conversation
MAKING, MAKING_SECONDS, CLAIM_POLLS = "making", 10, 40  # a ticket being made by another worker
SEEN_TTL_SECONDS = 14 * 86400  # longer than any sending server keeps retrying a message (5 days is usual)
# The shape compose accepts in In-Reply-To and References; a customer's id of another shape is not threaded.
MESSAGE_ID = re.compile(r"^<[^<>\s@]{1,200}@[^<>\s@]{1,200}>\Z")


class UnknownTicket(InboundError):
    """The reply's address is genuine but its ticket (or order update) is gone: bounced, so the customer
    learns it did not arrive."""


def update_ticket_key(thread_id: str) -> str:
    """String: the ticket that an order update's email replies go to."""
    return f"{PREFIX}:update_ticket:{thread_id}"


def thread_key(ticket_id: str) -> str:
    """List: the Message-IDs of the ticket's emails, both ways, oldest first (the newest MAX_REFERENCES)."""
    return f"{PREFIX}:thread:{ticket_id}"


def last_inbound_key(ticket_id: str) -> str:
    """String: the Message-ID of the customer's last email on the ticket (the next reply's In-Reply-To)."""
    return f"{PREFIX}:inbound:{ticket_id}"


def seen_key(message_id: str) -> str:
    """String: an inbound Message-ID taken lately (a digest: the id is the sender's text, of any length)."""
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{PREFIX}:seen:{digest}"


# -- the thread ----------------------------------------------------------------------------------------


async def remember(redis: Redis, ticket_id: str, message_id: str, inbound: bool) -> None:
    """Add a Message-ID to the ticket's thread; `inbound`: the customer's, which the next reply answers."""
    message_id = message_id.strip()
    if not MESSAGE_ID.match(message_id):
        return
    client: Any = redis
    async with client.pipeline(transaction=True) as pipe:
        pipe.rpush(thread_key(ticket_id), message_id)
        pipe.ltrim(thread_key(ticket_id), -MAX_REFERENCES, -1)
        if inbound:
            pipe.set(last_inbound_key(ticket_id), message_id)
        await pipe.execute()


async def thread(redis: Redis, ticket_id: str) -> tuple[str | None, list[str]]:
    """(the customer's last Message-ID or None, the thread's Message-IDs oldest first)."""
    client: Any = redis
    async with client.pipeline(transaction=False) as pipe:
        pipe.get(last_inbound_key(ticket_id))
        pipe.lrange(thread_key(ticket_id), 0, -1)
        last, ids = await pipe.execute()
    return last, list(ids)


# -- an agent's reply ------------------------------------------------------------------------------------


async def compose_reply(redis: Redis, email: EmailChannel, ticket: Ticket, text: str) -> Composed:
    """The email of an agent's reply, threaded after the ticket's earlier ones; ValueError naming the field
    when it cannot be made (no customer email, a header that would not be safe)."""
    if not ticket.customer_email:
        raise ValueError("customer_email: the ticket has no email address")
    in_reply_to, references = await thread(redis, ticket.id)
    draft = Draft(
        ticket_id=ticket.id,
        to=ticket.customer_email,
        text=text,
        language=ticket.language,
        ticket_subject=ticket.subject,
        in_reply_to=in_reply_to,
        references=references,
    )
    return compose(draft, email.settings.from_header, email.tokens)


async def queue_reply(redis: Redis, email: EmailChannel, composed: Composed) -> EmailStatus:
    """Queue the email in the outbox (stored before this returns) and add it to the ticket's thread."""
    await email.outbox.enqueue(composed)
    await remember(redis, composed.ticket_id, str(composed.message["Message-ID"]), inbound=False)
    status = await email.outbox.status(composed.message_id)
    if status is None:  # enqueue stores the record before it returns; nothing deletes a queued one
        raise RuntimeError(f"email {composed.message_id} is not in the outbox after queueing it")
    return status


# -- the customer's reply ------------------------------------------------------------------------------


async def take_reply(ctx: Any, reply: InboundReply) -> None:
    """Take a customer's emailed reply (`ctx`: the app's context, with `tickets`, `hub` and `redis`).

    Into the ticket's conversation (shown to agents, not sent to the assistant) and its history, the ticket
    open again and announced so consoles refresh; its Message-ID becomes the next reply's In-Reply-To.
    UnknownTicket or NoText (InboundError) when it cannot be taken; a repeat of a Message-ID taken before
    does nothing. Any other error leaves the reply to be taken when it is sent again.
    """
    if reply.ticket_id.startswith(unsubscribe.PREFIX):
        await _unsubscribe(ctx, reply)
        return
    text = clean_text(reply.text).strip()
    if not text:
        raise NoText("the email has no text to show")
    if reply.ticket_id.startswith(THREAD_PREFIX):
        await _take_update_reply(ctx, reply, text)
        return
    store: TicketStore = ctx.tickets
    try:
        ticket = await store.get(reply.ticket_id)
    except NotFoundError:
        raise UnknownTicket(f"ticket {reply.ticket_id} does not exist") from None
    if not await _first_time(ctx.redis, reply.message_id):
        logger.info("hub.email.reply_repeated", extra={"ticket_id": ticket.id})
        return
    try:
        if ticket.conversation_id:
            hub: Hub = ctx.hub
            await hub.customer_reply_outside(ticket.conversation_id, text, channel=CHANNEL)
        await store.record_customer_reply(ticket.id, text, reply.truncated, CHANNEL, reply.from_address)
        if reply.message_id:
            await remember(ctx.redis, ticket.id, reply.message_id, inbound=True)
    except BaseException:
        await _forget(ctx.redis, reply.message_id)
        raise
    logger.info("hub.email.reply_taken", extra={"ticket_id": ticket.id, "truncated": reply.truncated})


async def _unsubscribe(ctx: Any, reply: InboundReply) -> None:
    """Mail to a proactive email's List-Unsubscribe address: the customer hears no more proactive
    messages, on any channel."""
    customer_id = await unsubscribe.customer_of(ctx.redis, reply.ticket_id)
    if customer_id is None:
        raise UnknownTicket("this unsubscribe address is too old; reply to a recent email instead")
    store: ProactiveStore = ctx.proactive_store
    await store.opt_out(customer_id)
    logger.info("hub.proactive.opt_out", extra={"customer_id": customer_id, "by": "email"})


async def _take_update_reply(ctx: Any, reply: InboundReply, text: str) -> None:
    """A reply to an order update: into the conversation the update was written to, and into a ticket for
    the team (one per update, made by its first reply), since nobody is in that chat to read it; the ticket
    answers by email to the address the customer wrote from."""
    about = await thread_of(ctx.redis, reply.ticket_id)
    conversation_id = (about or {}).get("conversation_id")
    if not about or not conversation_id:
        raise UnknownTicket("the order update this answers is too old to be answered by email")
    if not await _first_time(ctx.redis, reply.message_id):
        return
    try:
        hub: Hub = ctx.hub
        await hub.customer_reply_outside(conversation_id, text, channel=CHANNEL)
        ticket_id = await _update_ticket(ctx, reply, about)
        store: TicketStore = ctx.tickets
        await store.record_customer_reply(ticket_id, text, reply.truncated, CHANNEL, reply.from_address)
        if reply.message_id:
            await remember(ctx.redis, ticket_id, reply.message_id, inbound=True)
    except BaseException:
        await _forget(ctx.redis, reply.message_id)
        raise
    logger.info(
        "hub.email.update_reply_taken", extra={"conversation_id": conversation_id, "ticket_id": ticket_id}
    )


async def _update_ticket(ctx: Any, reply: InboundReply, about: dict[str, str]) -> str:
    """The ticket of an order update's replies: made by the first, found by the later ones. The maker
    claims the key first, so two replies taken at once by two workers make one ticket."""
    key = update_ticket_key(reply.ticket_id)
    for _ in range(CLAIM_POLLS):
        if await ctx.redis.set(key, MAKING, nx=True, ex=MAKING_SECONDS):
            break
        existing = await ctx.redis.get(key)
        if existing and existing != MAKING:
            return str(existing)
        await asyncio.sleep(MAKING_SECONDS / CLAIM_POLLS)
    else:
        raise RuntimeError("another worker is still making this update's ticket")  # the sender retries
    try:
        ticket = await _new_update_ticket(ctx, reply, about)
    except BaseException:
        await ctx.redis.delete(key)
        raise
    await ctx.redis.set(key, ticket.id, ex=UPDATE_TICKET_TTL_SECONDS)
    return ticket.id


async def _new_update_ticket(ctx: Any, reply: InboundReply, about: dict[str, str]) -> Ticket:
    store: TicketStore = ctx.tickets
    hub: Hub = ctx.hub
    order_id = about.get("order_id") or ""
    language = await hub.language(about["conversation_id"])
    subject = f"关于订单 {order_id} 的邮件回复" if language == "zh" else f"Email reply about order {order_id}"
    new = NewTicket(
        subject=subject,
        description=f"The customer answered the order update about {order_id} by email.",
        conversation_id=about["conversation_id"],
        customer_id=about.get("customer_id") or None,
        language=language,
        customer_email=reply.from_address,
    )
    return await store.create(new, actor=CUSTOMER_ACTOR)


async def _first_time(redis: Any, message_id: str | None) -> bool:
    """Claim the Message-ID; False if it was taken before. An email without one cannot be recognised."""
    if not message_id:
        return True
    return bool(await redis.set(seen_key(message_id), "1", nx=True, ex=SEEN_TTL_SECONDS))


async def _forget(redis: Any, message_id: str | None) -> None:
    """Release the claim of a reply that could not be taken, so that its next delivery is."""
    if message_id:
        await redis.delete(seen_key(message_id))
