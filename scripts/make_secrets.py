"""Creates var/secrets.env with random service tokens on first run; never overwrites existing values.

New names (REDIS_PASSWORD since the embedded Redis needs one) are added to an existing file. The file is
written with mode 600 from its first byte and moved into place, so no reader ever sees it half-written
or world-readable.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

NAMES = (
    "RASA_AUTH_TOKEN",
    "RASA_CHANNEL_TOKEN",
    "ACTIONS_TOKEN",
    "HUB_SERVICE_TOKEN",
    "HUB_ADMIN_TOKEN",
    "HUB_WIDGET_SECRET",
    "HUB_IDENTITY_SECRET",  # the storefront backend signs customers' identity assertions with it
    "HUB_REST_TOKEN",  # the REST channel is closed without it (HUB_REST_OPEN=1 opens it on purpose)
    "ORDER_WEBHOOK_SECRET",  # the shop backend signs order events with it (docs/proactive.md)
    "EMAIL_TOKEN_SECRET",  # signs the reply addresses of emails, once SMTP_HOST turns email on
    "REDIS_PASSWORD",  # URL-safe alphabet: it goes into REDIS_URL and redis.conf unescaped
)


def parse(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def render(values: dict[str, str]) -> str:
    lines = ["# Service tokens, generated locally. Keep this file private; do not commit it."]
    lines += [f"{key}={value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(partial, path)


def ensure(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = parse(path.read_text()) if path.exists() else {}
    missing = [name for name in NAMES if not existing.get(name)]
    if not missing and path.exists():
        path.chmod(0o600)  # a copy restored from elsewhere may have come back readable
        return
    for name in missing:
        existing[name] = secrets.token_urlsafe(32)
    write_private(path, render(existing))


if __name__ == "__main__":
    ensure(Path(sys.argv[1] if len(sys.argv) > 1 else "var/secrets.env"))
