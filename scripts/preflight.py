"""Checks the stack's configuration before anything starts; each problem is one line, no traceback.

Usage: python scripts/preflight.py   (reads the same environment variables as the services)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.env import SettingsError
from common.preflight import PreflightError, check_port_free, check_redis
from common.redis_connect import SentinelConfig, read_sentinel


def main() -> int:
    env = os.environ
    problems: list[str] = []
    ports = [
        (env.get("HUB_HOST", "127.0.0.1"), env.get("HUB_PORT", "8000"), "HUB_PORT"),
        (env.get("RASA_HOST", "127.0.0.1"), env.get("RASA_PORT", "5005"), "RASA_PORT"),
        (env.get("ACTIONS_HOST", "127.0.0.1"), env.get("ACTIONS_PORT", "5055"), "ACTIONS_PORT"),
    ]
    if env.get("EMBEDDED_REDIS") == "1":
        ports.append(("127.0.0.1", env.get("REDIS_PORT", "6379"), "REDIS_PORT"))
    for host, port, name in ports:
        if not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(f"{name}={port!r} is not a port number")
            continue
        try:
            check_port_free(host, int(port), name)
        except PreflightError as exc:
            problems.append(str(exc))
    sentinel: SentinelConfig | None = None
    try:
        sentinel = read_sentinel(env)
    except SettingsError as exc:
        problems.append(str(exc))
    if sentinel is not None and env.get("EMBEDDED_REDIS") == "1":
        problems.append(
            "REDIS_SENTINELS is set but REDIS_URL is not: set it too (the data nodes' password and database; "
            "its host and port are ignored), the embedded Redis has no replicas to fail over to"
        )
    if env.get("EMBEDDED_REDIS") != "1" and not problems:
        try:
            check_redis(env["REDIS_URL"], wait_seconds=3, sentinel=sentinel)
        except PreflightError as exc:
            problems.append(str(exc))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
