"""Start-up checks that turn common misconfiguration into a one-line explanation."""

from __future__ import annotations

import errno
import socket
import time

import redis

from common.env import SettingsError
from common.redis_connect import SentinelConfig, find_master, sync_client


class PreflightError(Exception):
    pass


def check_port_free(host: str, port: int, variable: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PreflightError(f"port {port} on {host} is already in use (set {variable})") from None
            raise PreflightError(f"cannot bind {host}:{port}: {exc.strerror}") from None


def check_redis(url: str, wait_seconds: float = 15.0, sentinel: SentinelConfig | None = None) -> None:
    """Wait briefly for Redis (the embedded one may still be starting), then fail with the URL named. With
    sentinels, they must know the master at once (a short timeout each), then the master must answer."""
    where, credentials = f"REDIS_URL={_redact(url)}", "the credentials"
    if sentinel is not None:
        try:
            find_master(sentinel)
        except SettingsError as exc:
            raise PreflightError(str(exc)) from None
        where, credentials = f"the {sentinel.describe()}", "the credentials in REDIS_URL"
    client = sync_client(url, sentinel, socket_connect_timeout=1, socket_timeout=2)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                client.ping()
                return
            except redis.AuthenticationError as exc:
                raise PreflightError(f"Redis at {where} refused {credentials}: {exc}") from None
            except redis.RedisError as exc:
                if time.monotonic() > deadline:
                    raise PreflightError(f"Redis at {where} is unreachable: {exc}") from None
                time.sleep(0.3)
    finally:
        client.close()


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
