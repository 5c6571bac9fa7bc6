"""`python -m actions.server`: the rasa-sdk action server, bound to loopback and token-protected.

rasa-sdk's own runner listens on every interface and accepts any caller; custom actions can change
orders, so only the Rasa server (which sends the shared token) may call them.

- Every path but `/health` needs the token, checked on the normalised path (trailing and repeated
  slashes removed), so no spelling of `/webhook` or `/actions` gets past the check.
- Request bodies are capped (ACTIONS_MAX_BODY_BYTES, default 1 MiB), also after deflate.
- Errors are JSON: 401 without the token, 400 for a malformed call, 404 for an unknown path, 405 for
  a wrong method, 413 for a body over the cap; only a fault in an action itself is a 500, and its
  answer never echoes the request.
"""

from __future__ import annotations

import hmac
import json as jsonlib
import logging
import re
import sys
import zlib
from collections.abc import Mapping
from functools import partial
from typing import Any

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic.worker.loader import AppLoader

from actions.settings import MAX_BODY_BYTES, action_settings
from common.env import SettingsError

OPEN_PATHS = frozenset({"/health"})
ERROR_MESSAGES = {
    401: "unauthorized",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
}
logger = logging.getLogger(__name__)


class BadActionCall(Exception):
    """The body is not an action call: answered with 400, or 413 when it inflates past the cap."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def normalise_path(path: str) -> str:
    """`//webhook//` → `/webhook`: the form the token rule is decided on."""
    collapsed = re.sub(r"/{2,}", "/", path)
    return collapsed.rstrip("/") or "/"


def needs_token(path: str) -> bool:
    return normalise_path(path) not in OPEN_PATHS


def token_matches(authorization: str, token: str) -> bool:
    return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())


def inflate(body: bytes, limit: int) -> bytes:
    """Undo Rasa's optional deflate (COMPRESS_ACTION_SERVER_REQUEST) without inflating past `limit`."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(body, limit)
    except zlib.error:
        raise BadActionCall("the body is not valid deflate data") from None
    if inflater.unconsumed_tail:
        raise BadActionCall(f"request body too large once inflated (limit {limit} bytes)", 413)
    return data


def check_action_call(call: Any) -> None:
    """The shape rasa-sdk relies on; anything else would surface as a 500 from inside the SDK."""
    if not isinstance(call, dict):
        raise BadActionCall("the body must be a JSON object")
    if not isinstance(call.get("next_action"), str) or not call["next_action"]:
        raise BadActionCall("next_action must be a non-empty string")
    for field in ("tracker", "domain"):
        if call.get(field) is not None and not isinstance(call[field], dict):
            raise BadActionCall(f"{field} must be a JSON object")
    if call.get("version") is not None and not isinstance(call["version"], str):
        raise BadActionCall("version must be a string")


def parse_action_call(body: bytes, headers: Mapping[str, str], limit: int) -> None:
    """Raises BadActionCall unless `body` is an action call that fits in `limit` bytes."""
    if headers.get("content-encoding", "").lower() == "deflate":
        body = inflate(body, limit)
    try:
        call = jsonlib.loads(body)
    except ValueError:
        raise BadActionCall("the body is not valid JSON") from None
    check_action_call(call)


def read_action_call(request: Request, limit: int) -> None:
    """parse_action_call for a request; a plain JSON body is parsed once, through Sanic's cache that
    rasa-sdk's handler reads again (a tracker can be tens of kilobytes)."""
    if request.headers.get("content-encoding", "").lower() == "deflate":
        parse_action_call(request.body, request.headers, limit)
        return
    try:
        call = request.json
    except (SanicException, ValueError):
        raise BadActionCall("the body is not valid JSON") from None
    check_action_call(call)


def is_webhook_call(request: Request) -> bool:
    route = request.route
    return route is not None and route.path.strip("/") == "webhook" and request.method == "POST"


class JsonErrors(ErrorHandler):
    """Every error answer is JSON; server faults are logged here and never echo the request."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        status = exception.status_code if isinstance(exception, SanicException) else 500
        if status >= 500:
            logger.error("actions.server.error %s %s", request.method, request.path, exc_info=exception)
            return json({"error": "internal error"}, status=500)
        message = ERROR_MESSAGES.get(status) or str(exception) or "bad request"
        return json({"error": message}, status=status, headers=getattr(exception, "headers", None))


async def warm_up_knowledge_base() -> None:
    """Load the encoders and index in the background, so the first customer question is not slow."""
    from actions.products import product_search
    from actions.providers import knowledge_base

    try:
        kb = knowledge_base()
        for language, query in (("en", "shipping cost"), ("zh", "运费")):
            await kb.search(query, language, top_k=1)
        # The catalogue's vectors are built on first use too (about 2 s).
        for language, need in (("en", "headphones"), ("zh", "耳机")):
            await product_search().recommend(need, language)
        logger.info("actions.kb.warm")
    except Exception:
        logger.warning("actions.kb.warmup_failed", exc_info=True)


def build_app(token: str, warm_up: bool = True, max_body_bytes: int = MAX_BODY_BYTES) -> Sanic:  # type: ignore[type-arg]
    executor = ActionExecutor()
    executor.register_package("actions")
    app: Sanic = create_app(executor, cors_origins=[])  # type: ignore[type-arg]
    # rasa-sdk's catch-all handler answers 500 for unknown paths and echoes the request body back.
    app.error_handler = JsonErrors()
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_MAX_SIZE = max_body_bytes

    async def require_token(request: Request) -> HTTPResponse | None:
        if needs_token(request.path) and not token_matches(request.headers.get("authorization", ""), token):
            return json({"error": ERROR_MESSAGES[401]}, status=401)
        return None

    # Before any other middleware (rasa-sdk's CORS answers preflights from one), also for unrouted paths.
    app.register_middleware(require_token, "request", priority=1000)

    @app.signal("http.lifecycle.exception")
    async def note_failure(request: Request, exception: BaseException) -> None:
        # Sanic runs the request middleware again before its error handler: a body cut short at the
        # size cap must be answered 413 by the handler, not judged as a malformed call.
        request.ctx.failed = True

    @app.on_request
    async def reject_malformed_calls(request: Request) -> HTTPResponse | None:
        if getattr(request.ctx, "failed", False) or not is_webhook_call(request):
            return None
        try:
            read_action_call(request, max_body_bytes)
        except BadActionCall as exc:
            return json({"error": exc.message}, status=exc.status)
        return None

    if warm_up:

        @app.after_server_start
        async def start_warm_up(app: Sanic) -> None:  # type: ignore[type-arg]
            app.add_task(warm_up_knowledge_base())

    return app


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from common.preflight import PreflightError, check_port_free

    try:
        settings = action_settings()
        check_port_free(settings.host, settings.port, "ACTIONS_PORT")
    except (SettingsError, PreflightError) as exc:
        print(f"actions: {exc}", file=sys.stderr)
        return 2
    loader = AppLoader(factory=partial(build_app, settings.token, max_body_bytes=settings.max_body_bytes))
    app = loader.load()
    app.prepare(host=settings.host, port=settings.port, workers=settings.workers, access_log=False)
    if settings.workers == 1:
        Sanic.serve_single(primary=app)  # a clean Ctrl-C, without the multi-worker manager
    else:
        Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
