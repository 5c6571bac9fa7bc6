"""`python -m actions.server`: the rasa-sdk action server, bound to loopback and token-protected.

rasa-sdk's own runner listens on every interface and accepts any caller; custom actions can change
orders, so only the Rasa server (which sends the shared token) may call them.
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
from functools import partial

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic.worker.loader import AppLoader

PROTECTED_PATHS = ("/webhook", "/actions")
logger = logging.getLogger(__name__)


async def warm_up_knowledge_base() -> None:
    """Load the encoders and index in the background, so the first customer question is not slow."""
    from actions.providers import knowledge_base

    try:
        kb = knowledge_base()
        for language, query in (("en", "shipping cost"), ("zh", "运费")):
            await kb.search(query, language, top_k=1)
        logger.info("actions.kb.warm")
    except Exception:
        logger.warning("actions.kb.warmup_failed", exc_info=True)


def build_app(token: str, warm_up: bool = True) -> Sanic:  # type: ignore[type-arg]
    executor = ActionExecutor()
    executor.register_package("actions")
    app: Sanic = create_app(executor, cors_origins=[])  # type: ignore[type-arg]
    expected = f"Bearer {token}".encode()

    @app.on_request
    async def require_token(request: Request) -> HTTPResponse | None:
        if request.path not in PROTECTED_PATHS:
            return None
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return json({"error": "unauthorized"}, status=401)
        return None

    if warm_up:

        @app.after_server_start
        async def start_warm_up(app: Sanic) -> None:  # type: ignore[type-arg]
            app.add_task(warm_up_knowledge_base())

    return app


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    token = os.environ.get("ACTIONS_TOKEN", "")
    if len(token) < 16:
        print("actions: ACTIONS_TOKEN must be set to a secret of at least 16 characters", file=sys.stderr)
        return 2
    host = os.environ.get("ACTIONS_HOST", "127.0.0.1")
    port = int(os.environ.get("ACTIONS_PORT", "5055"))
    from handoff.preflight import PreflightError, check_port_free

    try:
        check_port_free(host, port, "ACTIONS_PORT")
    except PreflightError as exc:
        print(f"actions: {exc}", file=sys.stderr)
        return 2
    loader = AppLoader(factory=partial(build_app, token))
    app = loader.load()
    workers = int(os.environ.get("ACTIONS_WORKERS", "1"))
    app.prepare(host=host, port=port, workers=workers, access_log=False)
    if workers == 1:
        Sanic.serve_single(primary=app)  # a clean Ctrl-C, without the multi-worker manager
    else:
        Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
