"""Signed tokens for the storefront widget.

A *session* token binds a browser to one conversation: the hub issues it, the widget keeps it and shows
it on every connection, and a customer can read nothing else. An *identity* assertion is minted by the
storefront's backend for a logged-in customer (same secret), so that their chats on every device and
channel share one conversation. Both are `base64url(JSON).base64url(HMAC-SHA256)`.

    python -m handoff.widget_tokens identity CUSTOMER_ID [--email E]   # for storefront integrators
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from typing import Any

from handoff.errors import Unauthorized

SESSION_TTL = 30 * 86400
IDENTITY_TTL = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, kind: str, claims: dict[str, Any], ttl: int) -> str:
    payload = {**claims, "kind": kind, "exp": int(time.time()) + ttl}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), f"{kind}.{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(secret: str, kind: str, token: str) -> dict[str, Any]:
    """The claims of a valid, unexpired token of `kind`; Unauthorized otherwise."""
    try:
        body, mac = token.split(".")
        expected = hmac.new(secret.encode(), f"{kind}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise ValueError("bad signature")
        claims = json.loads(_unb64(body))
    except (ValueError, TypeError):
        raise Unauthorized(f"the {kind} token is not valid") from None
    if not isinstance(claims, dict) or claims.get("kind") != kind:
        raise Unauthorized(f"the {kind} token is not valid")
    if int(claims.get("exp", 0)) < time.time():
        raise Unauthorized(f"the {kind} token has expired")
    return claims


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff.widget_tokens")
    sub = parser.add_subparsers(dest="command", required=True)
    identity = sub.add_parser("identity", help="mint an identity assertion for a logged-in customer")
    identity.add_argument("customer_id")
    identity.add_argument("--email")
    args = parser.parse_args(argv)
    secret = os.environ.get("HUB_IDENTITY_SECRET", "")
    if len(secret) < 16:
        print("widget_tokens: set HUB_IDENTITY_SECRET (see var/secrets.env)", file=sys.stderr)
        return 2
    claims = {"sub": args.customer_id, **({"email": args.email} if args.email else {})}
    print(sign(secret, "identity", claims, IDENTITY_TTL))
    return 0


if __name__ == "__main__":
    sys.exit(main())
