"""Waits until the handoff service reports every dependency up, prints the URLs, then stays running.

Runs as a Procfile process: honcho stops the whole stack when any process exits, so it never exits on
success and only gives up (exit 1) after STARTUP_TIMEOUT seconds.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("HUB_PORT", "8000")
    host = os.environ.get("HUB_HOST", "127.0.0.1")
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    base = f"http://{shown}:{port}"
    deadline = time.monotonic() + float(os.environ.get("STARTUP_TIMEOUT", "300"))
    state: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=3) as response:  # noqa: S310
                state = json.load(response)
                if response.status == 200:
                    break
        except urllib.error.HTTPError as exc:
            state = json.load(exc)
        except (OSError, ValueError):
            pass
        time.sleep(1)
    else:
        print(f"stack did not become healthy in time: {state}", file=sys.stderr)
        return 1
    print(
        "\n"
        "  Stack is up.\n"
        f"    Storefront (widget)  : {base}/\n"
        f"    Agent console        : {base}/console\n"
        f"    Studio (editors)     : {base}/studio\n"
        f"    API docs             : {base}/docs\n"
        f"    REST channel         : POST {base}/webhooks/rest/webhook\n"
        f"    Health               : {base}/health\n"
        "  Press Ctrl-C to stop everything.\n",
        flush=True,
    )
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    sys.exit(main())
