"""A small inbound SMTP receiver (aiosmtpd) for deployments whose mail provider has no inbound webhook: the
reply domain's MX points at it, and it takes mail for valid reply addresses only.

Recipients are checked at RCPT: anything but a reply address of ours with a verifying token is refused with
550, so the receiver relays nothing and spam to guessed addresses is turned away before its body is sent.
Each accepted message is parsed (handoff.channels.email.inbound) and handed to the callback, in the
running event loop. Refusals follow what the sender should do: a reply that cannot be taken is bounced (5xx,
the customer's mail server tells them), an automatic reply is accepted and dropped (bouncing it could loop
with the other side's autoresponder), and a callback that fails (Redis away) gets 451, so the sending
server keeps the message and tries again: a reply is never lost silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from handoff.channels.email.inbound import MAX_RAW_BYTES, AutoReply, InboundError, InboundReply, parse_reply
from handoff.channels.email.tokens import ReplyTokens, TokenError

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 10
Callback = Callable[[InboundReply], Awaitable[None]]


class ReplyHandler:
    """aiosmtpd's handler hooks: RCPT checks the address, DATA parses and hands the reply on."""

    def __init__(self, tokens: ReplyTokens, callback: Callback) -> None:
        self._tokens = tokens
        self._callback = callback

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        token = self._tokens.token_in(address)
        if token is None:
            return f"550 5.1.1 Only replies to {self._tokens.domain} are accepted here"
        try:
            self._tokens.verify(token)
        except TokenError:
            return "550 5.1.1 Unknown reply address"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw or "").encode("utf-8", "surrogateescape")
        try:
            reply = parse_reply(raw, self._tokens, envelope.rcpt_tos)
        except AutoReply:
            logger.info("hub.email.inbound_auto_reply_dropped", extra={"sender": envelope.mail_from})
            return "250 OK"
        except InboundError as error:
            logger.info(
                "hub.email.inbound_refused", extra={"sender": envelope.mail_from, "reason": str(error)}
            )
            return f"550 5.6.0 {error}"
        try:
            await self._callback(reply)
        except InboundError as error:  # the reply is genuine but has nowhere to go (its ticket is gone)
            logger.info(
                "hub.email.inbound_refused", extra={"sender": envelope.mail_from, "reason": str(error)}
            )
            return f"550 5.1.1 {error}"
        except Exception:
            logger.exception("hub.email.inbound_callback_failed", extra={"ticket_id": reply.ticket_id})
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 OK"


class InboundSmtpServer:
    """The receiver in the running event loop (`start`, `stop`); `port` is the bound one (0 picks a free
    port)."""

    def __init__(
        self, tokens: ReplyTokens, callback: Callback, host: str = "127.0.0.1", port: int = 2525
    ) -> None:
        self._handler = ReplyHandler(tokens, callback)
        self._hostname = tokens.domain
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    def _protocol(self) -> Any:
        # hostname given: aiosmtpd would otherwise call socket.getfqdn(), a DNS lookup, per connection.
        return SMTP(self._handler, hostname=self._hostname, data_size_limit=MAX_RAW_BYTES, timeout=60)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # reuse_port: every hub worker process listens on the one port, and the kernel spreads connections
        self._server = await loop.create_server(
            self._protocol, self.host, self.port, reuse_port=self.port != 0
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
