"""Bearer-token checks shared by the blueprints."""

from __future__ import annotations

import hmac

from sanic.request import Request

from handoff.errors import Unauthorized


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""


def require_token(request: Request, expected: str) -> None:
    if not hmac.compare_digest(bearer(request).encode(), expected.encode()):
        raise Unauthorized("a valid 'Authorization: Bearer <token>' header is required")
