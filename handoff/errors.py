"""Domain errors mapped to HTTP in one place: clients get a JSON message, never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse, json

logger = logging.getLogger(__name__)


class BadRequest(Exception):
    """The request is malformed; the message names the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Unauthorized(Exception):
    """Missing or wrong credentials."""


class Forbidden(Exception):
    """Valid credentials without the right to do this."""


class TooManyRequests(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFoundError(Exception):
    """An id in the path or body that does not exist."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Unavailable(Exception):
    """A dependency (the knowledge base, the assistant) cannot serve the request right now."""


class Conflict(Exception):
    """The request is valid but the current state does not allow it; `code` is stable for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object ({} when empty), or a 400 that says what is wrong."""
    try:
        body = request.json if request.body else {}
    except Exception:  # Sanic raises its own BadRequest subclass on malformed JSON
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def register_error_handlers(app: Sanic) -> None:  # type: ignore[type-arg]
    @app.exception(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> HTTPResponse:
        body = {"error": "bad_request", "message": str(exc)}
        if exc.field:
            body["field"] = exc.field
        return json(body, status=400)

    @app.exception(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> HTTPResponse:
        return json({"error": "unauthorized", "message": str(exc)}, status=401)

    @app.exception(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> HTTPResponse:
        return json({"error": "forbidden", "message": str(exc)}, status=403)

    @app.exception(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> HTTPResponse:
        return json({"error": exc.code, "message": str(exc)}, status=404)

    @app.exception(TooManyRequests)
    async def too_many(request: Request, exc: TooManyRequests) -> HTTPResponse:
        return json(
            {"error": "rate_limited", "message": str(exc), "retry_after": exc.retry_after},
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> HTTPResponse:
        return json({"error": "unavailable", "message": str(exc)}, status=503)

    @app.exception(Conflict)
    async def conflict(request: Request, exc: Conflict) -> HTTPResponse:
        return json({"error": exc.code, "message": str(exc)}, status=409)

    @app.exception(SanicException)
    async def sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
        status = exc.status_code or 500
        return json({"error": type(exc).__name__, "message": str(exc)}, status=status)

    @app.exception(Exception)
    async def unexpected(request: Request, exc: Exception) -> HTTPResponse:
        logger.exception("hub.http.unexpected_error", extra={"path": request.path})
        return json(
            {"error": "internal_error", "message": "internal error, logged on the server"}, status=500
        )
