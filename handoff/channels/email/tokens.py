"""Signed reply addresses: `reply+<token>@<reply domain>`, where the token carries a ticket id and an HMAC of
it, so a customer's reply finds its ticket without any lookup and nobody can forge an address for a ticket
they were not written from.

The token is lower-case base32 without padding (`<ticket id>-<signature>`): mail systems may change the case
of a local part, and base32 reads the same either way. The signature is HMAC-SHA256 truncated to 80 bits,
which is far past what guessing by sending mail can reach. With the ticket id limited to 24 bytes the local
part stays within SMTP's 64 characters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

LOCAL_PREFIX = "reply+"
SIGNATURE_BYTES = 10
MAX_TICKET_ID_BYTES = 24
_PURPOSE = b"hub-email-reply:v1:"  # a signature made for anything else never verifies here
_SIGNATURE_CHARS = len(base64.b32encode(bytes(SIGNATURE_BYTES)))


class TokenError(ValueError):
    """The reply token is malformed or its signature does not match."""


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    upper = text.upper()
    return base64.b32decode(upper + "=" * (-len(upper) % 8))


class ReplyTokens:
    def __init__(self, secret: str, domain: str) -> None:
        if len(secret) < 16:
            raise ValueError("the reply token secret must be at least 16 characters")
        self._key = secret.encode("utf-8")
        self.domain = domain.strip().lower()

    def _signature(self, ticket_id: bytes) -> str:
        digest = hmac.new(self._key, _PURPOSE + ticket_id, hashlib.sha256).digest()
        return _b32(digest[:SIGNATURE_BYTES])

    def token(self, ticket_id: str) -> str:
        raw = ticket_id.encode("utf-8")
        if not raw or len(raw) > MAX_TICKET_ID_BYTES:
            raise ValueError(f"ticket_id must be 1..{MAX_TICKET_ID_BYTES} bytes (got {len(raw)})")
        return f"{_b32(raw)}-{self._signature(raw)}"

    def address(self, ticket_id: str) -> str:
        return f"{LOCAL_PREFIX}{self.token(ticket_id)}@{self.domain}"

    def verify(self, token: str) -> str:
        """The ticket id the token was made for; TokenError if it is malformed or altered."""
        encoded, sep, signature = token.strip().lower().rpartition("-")
        if not sep or not encoded or len(signature) != _SIGNATURE_CHARS:
            raise TokenError("not a reply token")
        try:
            raw = _unb32(encoded)
            ticket_id = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            raise TokenError("not a reply token") from None
        if len(raw) > MAX_TICKET_ID_BYTES or _b32(raw) != encoded:  # one spelling per ticket id
            raise TokenError("not a reply token")
        if not hmac.compare_digest(self._signature(raw), signature):
            raise TokenError("the reply token's signature does not match")
        return ticket_id

    def token_in(self, address: str) -> str | None:
        """The token of `address` if it is one of our reply addresses (any case), else None."""
        local, at, domain = address.strip().rpartition("@")
        if not at or domain.lower().rstrip(".") != self.domain:
            return None
        local = local.lower()
        if not local.startswith(LOCAL_PREFIX) or len(local) == len(LOCAL_PREFIX):
            return None
        return local[len(LOCAL_PREFIX) :]
