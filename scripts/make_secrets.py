"""Creates var/secrets.env with random service tokens on first run; never overwrites existing values."""

from __future__ import annotations

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
)


def ensure(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    existing: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                existing[key.strip()] = value.strip()
    missing = [name for name in NAMES if not existing.get(name)]
    if not missing and path.exists():
        return
    for name in missing:
        existing[name] = secrets.token_urlsafe(32)
    lines = ["# Service tokens, generated locally. Keep this file private; do not commit it."]
    lines += [f"{key}={value}" for key, value in existing.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


if __name__ == "__main__":
    ensure(Path(sys.argv[1] if len(sys.argv) > 1 else "var/secrets.env"))
