"""Which storefronts may call the widget's HTTP routes and open its socket from a browser
(HUB_ALLOWED_ORIGINS), and the CORS headers they get."""

from __future__ import annotations

from urllib.parse import urlsplit

from sanic.request import Request
from sanic.response import HTTPResponse

from handoff.errors import Forbidden


def cors(
    request: Request, response: HTTPResponse, methods: str = "POST, OPTIONS", headers: str = "Content-Type"
) -> HTTPResponse:
    """CORS headers for a configured storefront (HUB_ALLOWED_ORIGINS); none for any other origin."""
    origin = request.headers.get("origin")
    if origin and origin in request.app.ctx.settings.allowed_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = headers
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def check_origin(request: Request) -> None:
    """Browsers send Origin on cross-site requests: only the configured storefronts may embed us."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    # Same host is our own page (the scheme may differ behind a TLS-terminating proxy).
    if urlsplit(origin).netloc != request.host and origin not in request.app.ctx.settings.allowed_origins:
        raise Forbidden(f"origin {origin} is not allowed (HUB_ALLOWED_ORIGINS)")
