"""`python -m handoff`: check the configuration, then serve; with a command (`user`, `demo-team`), manage
console users (handoff/cli.py)."""

from __future__ import annotations

import logging
import socket
import sys
from functools import partial

from sanic import Sanic
from sanic.worker.loader import AppLoader

from common.env import SettingsError
from common.preflight import PreflightError, check_port_free, check_redis
from handoff.app import create_app
from handoff.settings import Settings


def main() -> int:
    if len(sys.argv) > 1:
        from handoff import cli

        return cli.main(sys.argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
        check_port_free(settings.host, settings.port, "HUB_PORT")
        check_redis(settings.redis_url, sentinel=settings.redis_sentinel)
    except (SettingsError, PreflightError) as exc:
        print(f"handoff: {exc}", file=sys.stderr)
        return 2
    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()
    app.prepare(host=settings.host, port=settings.port, workers=settings.workers, access_log=False)
    if settings.workers == 1:
        # One process: a clean Ctrl-C, without the multi-worker manager's shutdown noise.
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    sys.exit(main())
