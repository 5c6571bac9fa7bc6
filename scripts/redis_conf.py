"""Writes the embedded Redis's configuration file (mode 600): `python scripts/redis_conf.py [PATH]`.

redis-server reads its password from this file, so it never appears on a command line (which every
user of the machine can read in /proc/<pid>/cmdline). Settings come from the environment run.sh prepared:
REDIS_PASSWORD (var/secrets.env), REDIS_PORT (6379), REDIS_DATA_DIR (var/redis), REDIS_MAXMEMORY
(512mb). `maxmemory-policy noeviction`: conversation state, tickets and Rasa's trackers must never be
dropped silently; a full Redis refuses writes with an error instead. PATH defaults to
$REDIS_DATA_DIR/redis.conf. A bad value ends with one line naming the variable.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scripts.make_secrets import write_private  # mode 600 from the first byte, then moved into place

PASSWORD_PATTERN = re.compile(r"[A-Za-z0-9._~-]{16,}")  # needs no escaping in a URL or in redis.conf
MAXMEMORY_PATTERN = re.compile(r"(?i)([0-9]+)(b|k|kb|m|mb|g|gb)?")
DEFAULT_MAXMEMORY = "512mb"
PERSISTENCE = (
    "appendonly yes",
    "appendfsync everysec",
    "save 900 1",
    "save 300 10",
    "save 60 10000",
)
NO_PERSISTENCE = ("appendonly no", 'save ""')


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class RedisConf:
    port: int
    data_dir: Path
    password: str
    maxmemory: str = DEFAULT_MAXMEMORY
    persistent: bool = True


def check_password(password: str) -> str:
    if not PASSWORD_PATTERN.fullmatch(password):
        raise ConfigError(
            "REDIS_PASSWORD must be at least 16 characters from A-Z a-z 0-9 . _ ~ - "
            "(delete it from var/secrets.env to have a new one generated)"
        )
    return password


def check_maxmemory(value: str) -> str:
    match = MAXMEMORY_PATTERN.fullmatch(value.strip())
    if not match or int(match.group(1)) == 0:
        raise ConfigError(
            f"REDIS_MAXMEMORY={value!r} must be a size such as 512mb or 2gb (0, no limit, is refused)"
        )
    return value.strip().lower()


def check_port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"REDIS_PORT={value!r} is not a port number")
    return int(value)


def from_env(env: Mapping[str, str]) -> RedisConf:
    return RedisConf(
        port=check_port(env.get("REDIS_PORT", "6379")),
        data_dir=Path(env.get("REDIS_DATA_DIR") or "var/redis").resolve(),
        password=check_password(env.get("REDIS_PASSWORD", "")),
        maxmemory=check_maxmemory(env.get("REDIS_MAXMEMORY") or DEFAULT_MAXMEMORY),
    )


def render(conf: RedisConf) -> str:
    lines = [
        "# Written by scripts/redis_conf.py at every start; holds the password, so mode 600.",
        "bind 127.0.0.1",
        f"port {conf.port}",
        "protected-mode yes",
        f'dir "{conf.data_dir}"',
        *(PERSISTENCE if conf.persistent else NO_PERSISTENCE),
        f'requirepass "{check_password(conf.password)}"',
        f"maxmemory {check_maxmemory(conf.maxmemory)}",
        "maxmemory-policy noeviction",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    try:
        conf = from_env(os.environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    conf.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    conf.data_dir.chmod(0o700)  # a directory made by an earlier version may be readable by others
    path = Path(argv[1]) if len(argv) > 1 else conf.data_dir / "redis.conf"
    write_private(path, render(conf))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
