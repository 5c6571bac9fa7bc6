"""Domain errors mapped to HTTP in one place: clients get a JSON message, never a bare 500."""

from __future__ import annotations

import json as jsonlib
import logging
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.inbound import InboundError

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


class PayloadTooLarge(Exception):
    """The request body is over the route's limit (413); read no further than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class NotFoundError(Exception):
    """An id in the path or body that does not exist."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Unavailable(Exception):
    """A dependency (the knowledge base, the assistant) cannot serve the request right now."""


class Conflict(Exception):
    """The request is valid but the current state does not allow it; `code` is stable for clients.
    `current` is what the client should see instead (an edit based on an old version gets the new one)."""

    def __init__(self, code: str, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.current = current


def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object ({} when empty), or a 400 that says what is wrong."""
    try:
        body = request.json if request.body else {}
    except Exception:  # Sanic raises its own BadRequest subclass on malformed JSON
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _object_from(raw: bytes | str) -> dict[str, Any]:
    try:
        body = jsonlib.loads(raw) if raw else {}
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or PayloadTooLarge once it is over `limit` bytes. On a route declared with
    `stream=True` nothing beyond the limit is kept in memory; on others Sanic has read the body already."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    body = bytearray(request.body or b"")
    stream: Any = request.stream  # HTTP/1.1 and ASGI streams both iterate over body chunks
    if not body and stream is not None:
        async for chunk in stream:
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(limit)
    if len(body) > limit:
        raise PayloadTooLarge(limit)
    return bytes(body)


async def json_object_within(request: Request, limit: int) -> dict[str, Any]:
    """`json_object` for public routes: PayloadTooLarge (413) past `limit` bytes."""
    return _object_from(await read_body(request, limit))


def register_error_handlers(app: Sanic) -> None:  # type: ignore[type-arg]
    @app.exception(BadRequest, InboundError)
    async def bad_request(request: Request, exc: BadRequest | InboundError) -> HTTPResponse:
        body = {"error": "bad_request", "message": str(exc)}
        if exc.field:
            body["field"] = exc.field
        return json(body, status=400)

    @app.exception(UnicodeError)
    async def not_unicode(request: Request, exc: UnicodeError) -> HTTPResponse:
        # Only client text reaches an encoder unchecked (a JSON "\ud800" on a route that does not
        # normalise its text): a 400 that says so, never a 500.
        logger.warning("hub.http.not_unicode", extra={"path": request.path, "error": str(exc)})
        message = "the request holds text that is not valid Unicode (a lone UTF-16 surrogate)"
        return json({"error": "bad_request", "message": message}, status=400)

    @app.exception(PayloadTooLarge)
    async def too_large(request: Request, exc: PayloadTooLarge) -> HTTPResponse:
        return json({"error": "payload_too_large", "message": str(exc), "limit_bytes": exc.limit}, status=413)

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
        body: dict[str, Any] = {"error": exc.code, "message": str(exc)}
        if exc.current is not None:
            body["current"] = exc.current
        return json(body, status=409)

    @app.exception(SanicException)
    async def sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
        status = exc.status_code or 500
        return json({"error": type(exc).__name__, "message": str(exc)}, status=status)

    @app.exception(RedisConnectionError, RedisTimeoutError, ReadOnlyError)
    async def storage_unavailable(request: Request, exc: Exception) -> HTTPResponse:
        # Redis unreachable or failing over (a replica being promoted): a few seconds, worth a retry.
        logger.warning("hub.redis.unavailable", extra={"path": request.path, "error": type(exc).__name__})
        return json(
            {"error": "unavailable", "message": "storage is briefly unavailable, please retry"},
            status=503,
            headers={"Retry-After": "2"},
        )

    @app.exception(Exception)
    async def unexpected(request: Request, exc: Exception) -> HTTPResponse:
        logger.exception("hub.http.unexpected_error", extra={"path": request.path})
        return json(
            {"error": "internal_error", "message": "internal error, logged on the server"}, status=500
        )
