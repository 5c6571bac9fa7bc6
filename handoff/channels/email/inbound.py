"""A customer's emailed reply → the ticket it answers and the new text alone.

The ticket comes from the signed reply address (handoff.channels.email.tokens) in the envelope recipients,
To, Cc or Delivered-To, never from the subject or the sender: anyone can write a subject, and a customer may
write from another address. The text is the plain part (or the HTML part turned to text when there is no
plain one), decoded from its transfer encoding and charset (GB2312 is read as GB18030, its superset, since
Chinese mail clients label GBK text GB2312), with the quoted earlier message and signatures removed so the
agent reads what is new.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from handoff.channels.email.tokens import ReplyTokens, TokenError

# Addresses where the mail itself is the message, with text or none: unsubscribing (proactive/unsubscribe.py)
TEXTLESS_PREFIX = "u:"

MAX_RAW_BYTES = 10 * 1024 * 1024  # a larger reply is refused whole (attachments are not taken yet)
MAX_TEXT_CHARS = 4000  # the hub's default message limit; longer text is cut and marked
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030"}


class InboundError(ValueError):
    """The email cannot be threaded into a ticket; the message says why."""


class NoReplyAddress(InboundError):
    """None of the recipients is a reply address of ours."""


class InvalidToken(InboundError):
    """A reply address of ours whose token does not verify (altered, or made with another secret)."""


class NoText(InboundError):
    """Nothing new to show the agent: no text part, or only the quoted message."""


class AutoReply(InboundError):
    """An out-of-office reply or a delivery report, not the customer writing: dropped, so two autoresponders
    cannot loop."""


class TooLarge(InboundError):
    """The raw message is over MAX_RAW_BYTES."""


@dataclass(frozen=True)
class InboundReply:
    ticket_id: str
    from_address: str
    text: str
    message_id: str | None  # for de-duplication and for In-Reply-To on the agent's answer
    truncated: bool = False


def parse_reply(
    raw: bytes,
    tokens: ReplyTokens,
    envelope_recipients: Sequence[str] = (),
    max_chars: int = MAX_TEXT_CHARS,
) -> InboundReply:
    """The reply in `raw` (an RFC 822 message as received); InboundError saying why it cannot be taken."""
    if len(raw) > MAX_RAW_BYTES:
        raise TooLarge(f"the email is {len(raw)} bytes; at most {MAX_RAW_BYTES} are taken")
    message = message_from_bytes(raw, policy=policy.default)
    ticket_id = _ticket(message, tokens, envelope_recipients)
    if _automatic(message):
        raise AutoReply("an automatic reply or delivery report")
    from_address = _header_addresses(message, "From")
    if not from_address or "@" not in from_address[0]:
        raise InboundError("the email has no From address")
    text = strip_quoted(body_text(message))
    if not text and not ticket_id.startswith(TEXTLESS_PREFIX):
        raise NoText("the email has no text besides the quoted message")
    truncated = len(text) > max_chars
    if truncated:
        text = text[: max_chars - 1].rstrip() + "…"
    message_id = _header(message, "Message-ID").strip() or None
    return InboundReply(
        ticket_id=ticket_id,
        from_address=from_address[0].lower(),
        text=text,
        message_id=message_id,
        truncated=truncated,
    )


# -- the ticket ------------------------------------------------------------------------------------------


def _raw_headers(message: Message, name: str) -> list[str]:
    """The header's values as received, unfolded: parsing them into objects can fail on malformed mail,
    and addresses and ids need no decoding."""
    wanted = name.lower()
    return [re.sub(r"\r?\n[ \t]", " ", str(v)) for k, v in message.raw_items() if k.lower() == wanted]


def _header(message: Message, name: str) -> str:
    values = _raw_headers(message, name)
    return values[0] if values else ""


def _header_addresses(message: Message, name: str) -> list[str]:
    return [addr for _, addr in getaddresses(_raw_headers(message, name)) if addr]


def _ticket(message: Message, tokens: ReplyTokens, envelope_recipients: Sequence[str]) -> str:
    candidates = [parseaddr(r)[1] or r for r in envelope_recipients]
    for name in RECIPIENT_HEADERS:
        candidates += _header_addresses(message, name)
    found = [token for token in (tokens.token_in(a) for a in candidates) if token is not None]
    if not found:
        raise NoReplyAddress(f"no recipient is a reply address at {tokens.domain}")
    for token in found:
        try:
            return tokens.verify(token)
        except TokenError:
            continue
    raise InvalidToken("the reply address's token does not verify")


def _automatic(message: Message) -> bool:
    auto = _header(message, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return True
    if message.get_content_type() == "multipart/report":
        return True
    return any(_header(message, h) for h in ("X-Autoreply", "X-Autorespond")) or _header(
        message, "Precedence"
    ).strip().lower() in ("auto_reply", "bulk", "junk")


# -- the text --------------------------------------------------------------------------------------------


def decode_part(part: Message) -> str:
    """A text part's content: transfer encoding undone, then its charset (unknown ones read as UTF-8)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = (part.get_content_charset() or "utf-8").lower()
    charset = _CHARSET_ALIASES.get(charset, charset)
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _text_parts(message: Message, subtype: str) -> Iterable[Message]:
    for part in message.walk():
        if part.get_content_maintype() == "multipart" or part.get_content_disposition() == "attachment":
            continue
        if part.get_content_type() == f"text/{subtype}":
            yield part


def body_text(message: Message) -> str:
    """The first plain text part, else the first HTML part as text; "" when there is neither."""
    for part in _text_parts(message, "plain"):
        return _normalise(decode_part(part))
    for part in _text_parts(message, "html"):
        return _normalise(html_to_text(decode_part(part)))
    return ""


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").replace("\u3000", " ")
    return re.sub(r"[\u200b\u200c\u200d\ufeff]", "", text)


class _HtmlText(HTMLParser):
    """Visible text of an HTML email, with block elements as line breaks. Quoted parts (blockquote, Gmail's
    gmail_quote, Outlook's divRplyFwdMsg/appendonsend, QQ Mail's original) are left out: their text is the
    earlier message."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table"})
    HIDDEN = frozenset({"style", "script", "head", "title"})
    VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr", "source"})
    QUOTE_CLASSES = ("gmail_quote", "gmail_attr", "yahoo_quoted", "moz-cite-prefix")
    QUOTE_IDS = ("divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._stack: list[bool] = []  # per open element: whether it hides its content
        self._hidden = 0
        self._cut = False  # after Outlook's reply header everything is the earlier message

    def _hides(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if tag in self.HIDDEN or tag == "blockquote":
            return True
        values = {k: (v or "").lower() for k, v in attrs}
        classes = values.get("class", "")
        ident = values.get("id", "")
        if ident in self.QUOTE_IDS:
            self._cut = True
            return True
        return any(c in classes.split() for c in self.QUOTE_CLASSES)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS and not self._hidden:
            self.out.append("\n")
        if tag in self.VOID:
            return
        hides = self._hides(tag, attrs)
        self._stack.append(hides)
        self._hidden += hides

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID or not self._stack:
            return
        self._hidden -= self._stack.pop()
        if tag in self.BLOCKS and not self._hidden:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden and not self._cut:
            self.out.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# -- quoted text and signatures ---------------------------------------------------------------------------

# A line where the earlier message starts: everything from it on is cut.
_SEPARATORS = [
    re.compile(r"^on\b.{0,300}\bwrote:\s*$", re.IGNORECASE),  # Gmail, Apple Mail, Thunderbird
    re.compile(r"^(在|于).{0,300}写道[:：]\s*$"),  # Gmail and QQ Mail in Chinese
    re.compile(r"^-{2,}\s*(original message|原始邮件|原始郵件|original)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^-{5,}\s*(forwarded message|转发的邮件)\s*-{5,}\s*$", re.IGNORECASE),
    re.compile(r"^_{20,}\s*$"),  # Outlook's rule above its From:/Sent: block
]
# Outlook's block without a rule: a From: line followed shortly by a Sent:/Date: line.
_FROM = re.compile(r"^\*?(from|发件人|寄件者)\s*\*?\s*[:：]", re.IGNORECASE)
_SENT = re.compile(r"^\*?(sent|date|发送时间|日期|寄件日期)\s*\*?\s*[:：]", re.IGNORECASE)
# A signature starts here: everything from it on is cut.
_SIGNATURES = [
    re.compile(r"^--\s*$"),
    re.compile(r"^(sent from my|sent from mail for|get outlook for|sent from outlook)\b", re.IGNORECASE),
    re.compile(r"^(发自我的|来自我的|从我的).{0,40}$"),
]


def _first_cut(lines: list[str]) -> tuple[int, int]:
    """Where the quoted message or signature starts, and how many lines its separator takes."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if any(p.match(stripped) for p in _SEPARATORS) or any(p.match(stripped) for p in _SIGNATURES):
            return i, 1
        # Gmail wraps a long attribution: "On Mon, 3 Mar 2025 at 10:00, Support <" / "reply+…> wrote:".
        if i + 1 < len(lines) and any(p.match(f"{stripped} {lines[i + 1].strip()}") for p in _SEPARATORS[:2]):
            return i, 2
        if _FROM.match(stripped) and any(_SENT.match(n.strip()) for n in lines[i + 1 : i + 4]):
            return i, 1
    return len(lines), 0


def _tidy(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def strip_quoted(text: str) -> str:
    """The new text of a reply: cut at the earlier message's attribution, a forwarded/original header or a
    signature, with ">" quoted lines dropped. When that leaves nothing (an answer written below the quote,
    between its lines), the text is the unquoted lines below the attribution."""
    lines = text.split("\n")
    cut, taken = _first_cut(lines)
    new = _tidy([line for line in lines[:cut] if not _quoted(line)])
    if new or not taken:
        return new
    below = [line for line in lines[cut + taken :] if not _quoted(line)]
    return _tidy(below[: _first_cut(below)[0]])


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")
