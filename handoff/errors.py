"""Domain errors mapped to HTTP in one place: clients get a JSON message, never a bare 500."""

from __future__ import annotations

import logging

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
