"""Container health check: asks the service this container runs for its health endpoint.

One image runs several services (the app image: hub, action server, model watcher, index build), so the
service is read from the container's command (/proc/1/cmdline, after docker-init when `init: true`):

- hub (`-m handoff`): GET /health answers and Redis is up. A 503 that only reports Rasa or the action
  server down is healthy: the hub then hands conversations to people itself, and restarting it would not
  bring the assistant back.
- action server (`-m actions.server`): GET /health is 200.
- Rasa (`-m bot.processes`, or one `-m bot.serve`): GET / is 200 on at least one of its RASA_PROCESSES
  servers (RASA_PORT on): the hub sends conversations to those that answer, and bot.processes restarts the
  others. Rasa loads its model before it listens.
- anything else (the model watcher, a one-shot job): healthy while it runs; it has no endpoint.

Exit status 0 is healthy, 1 unhealthy (Docker's convention). Standard library only: it runs in both images.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

TIMEOUT_SECONDS = 4.0
# module -> (host variable, port variable, default port, path)
ENDPOINTS = {
    "handoff": ("HUB_HOST", "HUB_PORT", "8000", "/health"),
    "actions.server": ("ACTIONS_HOST", "ACTIONS_PORT", "5055", "/health"),
    "bot.serve": ("RASA_HOST", "RASA_PORT", "5005", "/"),
    "bot.processes": ("RASA_HOST", "RASA_PORT", "5005", "/"),
}


def service_module(argv: Sequence[str]) -> str | None:
    """The module a `python -m MODULE` command runs, when it is one of the services with an endpoint."""
    for index, arg in enumerate(argv[:-1]):
        if arg == "-m" and argv[index + 1] in ENDPOINTS:
            return argv[index + 1]
    return None


def endpoint_urls(module: str, env: Mapping[str, str]) -> list[str]:
    host_var, port_var, default_port, path = ENDPOINTS[module]
    host = env.get(host_var, "")
    # A wildcard listen address is reached on loopback from inside the container.
    if host in ("", "0.0.0.0", "::"):  # noqa: S104
        host = "127.0.0.1"
    port, count = int(env.get(port_var, default_port)), 1
    if module == "bot.processes":
        from bot.processes import read_settings  # the Rasa image's code, on PYTHONPATH

        count = read_settings(env)[0]
    return [f"http://{host}:{port + number}{path}" for number in range(count)]


def healthy(module: str, status: int, body: bytes) -> bool:
    if status == 200:
        return True
    if module != "handoff" or status != 503:
        return False
    try:
        state = json.loads(body)
    except ValueError:
        return False
    return isinstance(state, dict) and state.get("redis") == "up"


def probe_url(module: str, url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (http only)
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except OSError as exc:
        return False, f"{url}: {exc}"
    return healthy(module, status, body), f"{url}: {status}"


def probe(module: str, env: Mapping[str, str]) -> tuple[bool, str]:
    """Healthy when one of the service's servers is (there is more than one only for bot.processes)."""
    try:
        urls = endpoint_urls(module, env)
    except Exception as exc:  # a bad setting: the service cannot be running as configured either
        return False, f"{type(exc).__name__}: {exc}"
    results = [probe_url(module, url) for url in urls]
    return any(ok for ok, _ in results), "; ".join(detail for _, detail in results)


def container_command() -> list[str]:
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def main() -> int:
    module = service_module(sys.argv[1:] or container_command())
    if module is None:
        print("no health endpoint: healthy while running")
        return 0
    ok, detail = probe(module, os.environ)
    print(detail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
