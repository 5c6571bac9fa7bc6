"""Order webhook signatures, as Stripe and Shopify sign theirs.

Header `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. The timestamp is inside
the signed text, so a captured request cannot be replayed later with a fresh `t`; within the tolerance a
replay is caught by the event id (the store remembers ids for seven days). Several `v1` entries are
accepted so a backend can sign with the old and the new secret while the secret is being rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import re

HEADER = "X-Signature"
TOLERANCE_SECONDS = 300
MAX_HEADER_LENGTH = 1024
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}\Z")


class SignatureError(ValueError):
    """The signature is missing, malformed, stale or wrong; `reason` is a stable code for logs and clients."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the webhook secret must not be empty")
    return key


def _digest(secret: str | bytes, body: bytes, t: int) -> str:
    return hmac.new(_key(secret), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, t: int) -> str:
    """The header value for `body` sent at unix time `t`."""
    return f"t={t},v1={_digest(secret, body, t)}"


def verify(
    secret: str | bytes, header: str | None, body: bytes, now: float, tolerance: int = TOLERANCE_SECONDS
) -> int:
    """The signed timestamp when `header` signs `body` with `secret` within `tolerance` seconds of `now`;
    SignatureError otherwise (reasons: missing, malformed, stale, mismatch)."""
    _key(secret)  # an empty secret is a deployment error, whatever the request
    if not header:
        raise SignatureError("missing", f"the {HEADER} header is missing")
    if len(header) > MAX_HEADER_LENGTH:
        raise SignatureError("malformed", f"the {HEADER} header is too long")
    stamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed", f"the {HEADER} header must look like t=<seconds>,v1=<hex>")
        if name == "t":
            stamps.append(value)
        elif name == "v1":
            signatures.append(value.lower())
        # other schemes (v0, a future v2) are ignored, as Stripe does
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit():
        raise SignatureError("malformed", f"the {HEADER} header needs one t=<unix seconds>")
    if not signatures or not all(_HEX_DIGEST.match(s) for s in signatures):
        raise SignatureError("malformed", f"the {HEADER} header needs v1=<64 hex digits>")
    t = int(stamps[0])
    if abs(now - t) > tolerance:
        raise SignatureError("stale", f"the signature's timestamp is more than {tolerance} s from now")
    expected = _digest(secret, body, t)
    # compare every candidate, so the time taken does not say which one (or whether any) came close
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise SignatureError("mismatch", "the signature does not match the body")
    return t
