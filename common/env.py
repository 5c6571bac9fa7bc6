"""Reading settings from the environment: each reader validates one variable and names it in its error, so
a service refuses to start with a one-line explanation instead of failing later."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """A setting has a value the service cannot run with; the message names the variable."""


def processes_per_core_pair() -> int:
    """The default number of worker processes of a service (HUB_WORKERS, ACTION_PROCESSES, RASA_PROCESSES):
    one per two cores, since each is busy about one core under load and the other services need the rest."""
    return max(1, (os.cpu_count() or 1) // 2)


def read_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return _read_number(env, name, default, low, high, int, "an integer")


def read_float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return _read_number(env, name, default, low, high, float, "a number")


def _read_number(
    env: Mapping[str, str], name: str, default: N, low: N, high: N, parse: Callable[[str], N], kind: str
) -> N:
    raw = env.get(name, str(default))
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not {kind}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is outside {low}..{high}")
    return value


def read_url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = env.get(name, default).rstrip("/")
    try:
        parts = urlsplit(value)
        # A Unix socket URL names a path, not a host (unix:///run/redis.sock).
        usable = parts.scheme in schemes and bool(parts.path if parts.scheme == "unix" else parts.hostname)
        _ = parts.port  # raises ValueError for a port that is not a number in 0..65535
    except ValueError:  # a malformed address, such as an unclosed IPv6 bracket or a bad port
        usable = False
    if not usable:
        raise SettingsError(f"{name}={redact(value)!r} is not a {'/'.join(schemes)} URL")
    return value


def redact(url: str) -> str:
    """The URL without what may carry a password: anything before the last "@" after the scheme (malformed
    URLs included) and the query (redis-py reads `?password=`)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    if "?" in rest:
        rest = rest.split("?", 1)[0] + "?***"
    return f"{scheme}{sep}{rest}"


def read_bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw not in ("", "0", "1", "true", "false", "yes", "no"):
        raise SettingsError(f"{name} must be 1 or 0 (got {raw!r})")
    return raw in ("1", "true", "yes")


def read_secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if len(value) < 16:
        raise SettingsError(f"{name} must be set to a secret of at least 16 characters")
    return value


def read_optional_secret(env: Mapping[str, str], name: str) -> str | None:
    """Unset (or empty) is None; a value that is set must be a real secret."""
    return read_secret(env, name) if env.get(name) else None
