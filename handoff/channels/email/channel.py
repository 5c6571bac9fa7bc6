"""The email channel as the hub holds it: settings, the signed reply addresses and the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handoff.channels.email.outbox import Outbox
from handoff.channels.email.settings import EmailSettings
from handoff.channels.email.tokens import ReplyTokens


@dataclass(frozen=True)
class EmailChannel:
    settings: EmailSettings
    tokens: ReplyTokens
    outbox: Outbox

    @classmethod
    def open(
        cls, redis: Any, settings: EmailSettings, wait_replicas: int = 0, wait_timeout_ms: int = 200
    ) -> EmailChannel:
        tokens = ReplyTokens(settings.token_secret, settings.reply_domain)
        outbox = Outbox(redis, settings, wait_replicas=wait_replicas, wait_timeout_ms=wait_timeout_ms)
        return cls(settings=settings, tokens=tokens, outbox=outbox)
