"""An agent's reply (or a proactive message) as an RFC 5322 email in the customer's language.

Reply-To is the ticket's signed reply address, so whatever client the customer uses, answering the email
reaches the ticket. Message-ID, In-Reply-To and References keep the exchange in one thread in the
customer's mailbox. Every header value is checked for line breaks before it is set: a customer name or
subject taken from a conversation must never add a header (a Bcc) to the message.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from handoff.channels.email.tokens import ReplyTokens

MAX_SUBJECT_CHARS = 150
MAX_REFERENCES = 20  # the newest; a long thread must not grow the header without bound
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\x85]")  # tab is the one allowed
_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>\Z")


class HeaderInjection(ValueError):
    """A header value has a line break or control character; the message is refused, not cleaned."""


@dataclass(frozen=True)
class Template:
    greeting: str
    greeting_named: str
    continue_line: str
    subject: str
    subject_untitled: str


TEMPLATES = {
    "en": Template(
        greeting="Hello,",
        greeting_named="Hello {name},",
        continue_line="To continue, simply reply to this email. Your reply goes straight to ticket {ticket}.",
        subject="Re: {subject} [Ticket {ticket}]",
        subject_untitled="Your request [Ticket {ticket}]",
    ),
    "zh": Template(
        greeting="您好：",
        greeting_named="{name}，您好：",
        continue_line="如需继续沟通，请直接回复此邮件，您的回复会送达工单 {ticket}。",
        subject="回复：{subject} [工单 {ticket}]",
        subject_untitled="您的咨询 [工单 {ticket}]",
    ),
}


@dataclass(frozen=True)
class NoticeTemplate:
    subject: str
    closing: str
    stop: str  # how to stop these messages: {address}
    stop_link: str  # ... or {link}


# A proactive message about an order: replies reach the team (handoff/proactive/sender.py).
NOTICE_TEMPLATES = {
    "en": NoticeTemplate(
        subject="About your order {order}",
        closing="Questions? Simply reply to this email, or write to us in the chat on our website.",
        stop="Don't want order updates? Send any email to {address} and we'll stop them.",
        stop_link="Don't want order updates? Stop them here: {link}",
    ),
    "zh": NoticeTemplate(
        subject="关于您的订单 {order}",
        closing="如有疑问，直接回复此邮件，或在我们网站的在线客服中留言。",
        stop="不想再收到订单提醒？发送任意邮件至 {address} 即可退订。",
        stop_link="不想再收到订单提醒？点此退订：{link}",
    ),
}


def template_for(language: str | None) -> Template:
    """zh for any Chinese tag (zh, zh-CN, zh-Hans), English otherwise."""
    return TEMPLATES["zh"] if (language or "").lower().startswith("zh") else TEMPLATES["en"]


@dataclass(frozen=True)
class Draft:
    """What to send: the ticket it belongs to, the customer, and the agent's text."""

    ticket_id: str
    to: str  # the customer's address
    text: str
    language: str = "en"
    ticket_subject: str = ""
    customer_name: str = ""
    in_reply_to: str | None = None  # the Message-ID this answers: the customer's last email, if any
    references: Sequence[str] = ()  # the thread's earlier Message-IDs, oldest first


@dataclass(frozen=True)
class Composed:
    ticket_id: str
    message: EmailMessage
    message_id: str  # the outbox id: the Message-ID's left part
    recipient: str  # the envelope recipient (addr-spec)


def check_header(name: str, value: str) -> str:
    if _CONTROL.search(value):
        raise HeaderInjection(f"{name} must not contain line breaks or control characters")
    return value


def _recipient(value: str) -> str:
    check_header("to", value)
    name, addr = parseaddr(value)
    if name or addr != value.strip() or not addr.isascii() or addr.count("@") != 1:
        raise ValueError("to must be one plain address (user@example.com)")
    local, _, domain = addr.partition("@")
    if not local or "." not in domain or "," in addr:
        raise ValueError("to must be one plain address (user@example.com)")
    return addr


def _message_ids(field: str, values: Sequence[str]) -> list[str]:
    out = []
    for value in values:
        check_header(field, value)
        if not _MESSAGE_ID.match(value.strip()):
            raise ValueError(f"{field} must hold Message-IDs such as <id@host> (got {value[:80]!r})")
        out.append(value.strip())
    return out


def new_message_id() -> str:
    return uuid.uuid4().hex


def _body_text(text: str) -> str:
    """`text` with every line break a newline, trimmed; ValueError if nothing is left."""
    plain = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not plain:
        raise ValueError("text must not be empty")
    return plain


def _addressed(
    *,
    sender: str,
    to: str | Address,
    reply_to: str,
    subject: str,
    message_id: str,
    tokens: ReplyTokens,
    now: float | None,
) -> EmailMessage:
    """A message with the headers every email carries, in this order; Reply-To is `reply_to`'s signed
    address. The values must already be checked (check_header, _recipient)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Reply-To"] = tokens.address(reply_to)
    message["Subject"] = subject
    message["Date"] = formatdate(time.time() if now is None else now, usegmt=True)
    message["Message-ID"] = f"<{message_id}@{tokens.domain}>"
    return message


def compose(
    draft: Draft,
    sender: str,
    tokens: ReplyTokens,
    message_id: str | None = None,
    now: float | None = None,
) -> Composed:
    """The email for `draft`, from `sender` (EMAIL_FROM); ValueError naming the field for bad input."""
    recipient = _recipient(draft.to)
    check_header("from", sender)
    subject_text = " ".join(check_header("ticket_subject", draft.ticket_subject).split())
    name = " ".join(check_header("customer_name", draft.customer_name).split())
    check_header("ticket_id", draft.ticket_id)
    in_reply_to = _message_ids("in_reply_to", [draft.in_reply_to] if draft.in_reply_to else [])
    references = _message_ids("references", draft.references)
    text = _body_text(draft.text)
    template = template_for(draft.language)
    if len(subject_text) > MAX_SUBJECT_CHARS:
        subject_text = subject_text[: MAX_SUBJECT_CHARS - 1].rstrip() + "…"
    subject = (
        template.subject.format(subject=subject_text, ticket=draft.ticket_id)
        if subject_text
        else template.subject_untitled.format(ticket=draft.ticket_id)
    )
    outbox_id = message_id or new_message_id()
    thread = [*references, *(i for i in in_reply_to if i not in references)][-MAX_REFERENCES:]

    message = _addressed(
        sender=sender,
        to=Address(display_name=name, addr_spec=recipient) if name else recipient,
        reply_to=draft.ticket_id,
        subject=subject,
        message_id=outbox_id,
        tokens=tokens,
        now=now,
    )
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to[0]
    if thread:
        message["References"] = " ".join(thread)
    greeting = template.greeting_named.format(name=name) if name else template.greeting
    body = f"{greeting}\n\n{text}\n\n{template.continue_line.format(ticket=draft.ticket_id)}\n"
    message.set_content(body, charset="utf-8")
    return Composed(ticket_id=draft.ticket_id, message=message, message_id=outbox_id, recipient=recipient)


def compose_notice(
    to: str,
    text: str,
    language: str,
    order_id: str,
    thread_id: str,
    sender: str,
    tokens: ReplyTokens,
    message_id: str,
    now: float | None = None,
    unsubscribe_id: str | None = None,
    unsubscribe_link: str | None = None,
) -> Composed:
    """A proactive message about `order_id` as an email; Reply-To is `thread_id`'s signed address. With
    `unsubscribe_id` (a token id whose address opts the customer out) and optionally an https
    `unsubscribe_link`, the email says how to stop these messages and carries List-Unsubscribe."""
    recipient = _recipient(to)
    check_header("from", sender)
    check_header("order_id", order_id)
    body_text = _body_text(text)
    template = NOTICE_TEMPLATES["zh" if language.lower().startswith("zh") else "en"]
    greeting = template_for(language).greeting
    message = _addressed(
        sender=sender,
        to=recipient,
        reply_to=thread_id,
        subject=template.subject.format(order=order_id),
        message_id=message_id,
        tokens=tokens,
        now=now,
    )
    footer = [template.closing]
    if unsubscribe_id is not None:
        address = tokens.address(unsubscribe_id)
        choices = [f"<mailto:{address}?subject=unsubscribe>"]
        if unsubscribe_link:
            check_header("unsubscribe_link", unsubscribe_link)
            choices.insert(0, f"<{unsubscribe_link}>")
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            footer.append(template.stop_link.format(link=unsubscribe_link))
        else:
            footer.append(template.stop.format(address=address))
        message["List-Unsubscribe"] = ", ".join(choices)
    body = "\n\n".join([greeting, body_text, *footer])
    message.set_content(body + "\n", charset="utf-8")
    return Composed(ticket_id=thread_id, message=message, message_id=message_id, recipient=recipient)
