"""Redis clients for every service: one Redis named by REDIS_URL, or the master that Redis Sentinel names.

With REDIS_SENTINELS set, clients ask the sentinels where the master is before each new connection, so
they follow a failover; REDIS_URL then supplies only what the data nodes need (username, password,
database, TLS and its query options), and its host and port are ignored. Importable from the Rasa
server's environment (Python 3.10, redis-py 4.6) as well as the others' (Python 3.11, redis-py 8).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.connection import parse_url
from redis.retry import Retry

from common.env import SettingsError, read_int, redact

DEFAULT_MASTER = "storefront"
DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: Sentinels answer from memory: a longer wait only delays finding the master when one is down.
SENTINEL_TIMEOUT = 1.0
#: After a failover a client's pooled connections lead to the old primary: a command that fails on one is
#: tried again on a new connection (to the master the sentinels name now) rather than failing the request.
#: redis-py 8 retries by default; 4.6 (the Rasa server's) only the errors named in retry_on_error.
RETRIES = 3
RETRY_BACKOFF = ExponentialBackoff(cap=1.0, base=0.1)
RETRY_ON = (redis.ConnectionError, redis.TimeoutError)
DEFAULT_WAIT_TIMEOUT_MS = 200
MASTER_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class SentinelConfig:
    """REDIS_SENTINELS, REDIS_SENTINEL_MASTER and REDIS_SENTINEL_PASSWORD (the sentinels' own)."""

    addresses: tuple[tuple[str, int], ...]
    master: str = DEFAULT_MASTER
    password: str | None = field(default=None, repr=False)

    def addresses_text(self) -> str:
        """The addresses as REDIS_SENTINELS writes them."""
        return ",".join(_join_address(host, port) for host, port in self.addresses)

    def describe(self) -> str:
        """For messages: where the master is looked up, without the password."""
        return f"master {self.master!r} of REDIS_SENTINELS={self.addresses_text()}"


@dataclass(frozen=True)
class ReplicaWait:
    """After storing what a person wrote, wait until `replicas` replicas have it (WAIT), at most
    `timeout_ms`; 0 replicas: do not wait."""

    replicas: int = 0
    timeout_ms: int = DEFAULT_WAIT_TIMEOUT_MS


def parse_sentinels(raw: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port` (IPv6 in brackets: `[::1]:26379`) as pairs; SettingsError names
    REDIS_SENTINELS and the entry at fault."""
    entries = [entry.strip() for entry in raw.split(",")]
    if not any(entries):
        raise SettingsError("REDIS_SENTINELS is set but names no sentinel (host:port, comma-separated)")
    addresses: list[tuple[str, int]] = []
    for entry in entries:
        if not entry:
            raise SettingsError(f"REDIS_SENTINELS={raw!r} has an empty entry (host:port, comma-separated)")
        host, sep, port = entry.rpartition(":")
        if not sep or not host:
            raise SettingsError(f"REDIS_SENTINELS: {entry!r} is not host:port (such as 10.0.0.1:26379)")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        elif ":" in host:
            raise SettingsError(
                f"REDIS_SENTINELS: {entry!r} needs its IPv6 address in brackets ([::1]:26379)"
            )
        if not host or any(c.isspace() or c in "/@[]" for c in host):
            raise SettingsError(f"REDIS_SENTINELS: {entry!r} does not name a host")
        if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"REDIS_SENTINELS: {entry!r} has a port that is not a number from 1 to 65535")
        if (host, int(port)) in addresses:
            raise SettingsError(f"REDIS_SENTINELS names {entry!r} twice")
        addresses.append((host, int(port)))
    return tuple(addresses)


def sentinel_config(addresses: str, master: str = "", password: str | None = None) -> SentinelConfig:
    """A validated SentinelConfig from the settings' text (an empty master name is the default one)."""
    master = master or DEFAULT_MASTER
    if not MASTER_NAME.fullmatch(master):
        raise SettingsError(
            f"REDIS_SENTINEL_MASTER={master!r} must be 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return SentinelConfig(parse_sentinels(addresses), master, password or None)


def read_sentinel(env: Mapping[str, str]) -> SentinelConfig | None:
    """The sentinel settings, or None when REDIS_SENTINELS is not in the environment (set but empty is
    refused: it would quietly fall back to the single Redis of REDIS_URL)."""
    if "REDIS_SENTINELS" not in env:
        return None
    config = sentinel_config(
        env["REDIS_SENTINELS"], env.get("REDIS_SENTINEL_MASTER", ""), env.get("REDIS_SENTINEL_PASSWORD")
    )
    url = env.get("REDIS_URL", DEFAULT_URL)
    if urlsplit(url).scheme not in ("redis", "rediss"):
        raise SettingsError(
            f"REDIS_URL={redact(url)!r} must be a redis:// or rediss:// URL when REDIS_SENTINELS is set "
            "(it gives the data nodes' password, database and TLS; its host and port are ignored)"
        )
    return config


def read_replica_wait(env: Mapping[str, str], sentinel: SentinelConfig | None) -> ReplicaWait:
    """REDIS_WAIT_REPLICAS (1 with sentinels, else 0) and REDIS_WAIT_TIMEOUT_MS (200)."""
    return ReplicaWait(
        replicas=read_int(env, "REDIS_WAIT_REPLICAS", 1 if sentinel else 0, 0, 16),
        timeout_ms=read_int(env, "REDIS_WAIT_TIMEOUT_MS", DEFAULT_WAIT_TIMEOUT_MS, 1, 10_000),
    )


def data_node_options(url: str) -> dict[str, Any]:
    """What REDIS_URL says about the data nodes beyond where they are: username, password, db, TLS and
    any query options (`?ssl_cert_reqs=none`)."""
    options: dict[str, Any] = dict(parse_url(url))  # type: ignore[no-untyped-call]  # unannotated
    for key in ("host", "port", "path"):
        options.pop(key, None)
    if options.pop("connection_class", None) is not None:  # only rediss:// sets one: TLS
        options["ssl"] = True
    return options


def _sentinel_kwargs(config: SentinelConfig, options: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        name: min(float(options.get(name) or SENTINEL_TIMEOUT), SENTINEL_TIMEOUT)
        for name in ("socket_timeout", "socket_connect_timeout")
    }
    if config.password:
        kwargs["password"] = config.password
    return kwargs


class _SentinelMaster(redis.Redis):
    """The master's client; closing it also closes its connections to the sentinels."""

    def close(self) -> None:
        super().close()
        self.connection_pool.disconnect()  # redis-py 4.6 leaves a pool it was given open
        manager: Any = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in manager.sentinels if manager else ():
            sentinel.connection_pool.disconnect()


class _AsyncSentinelMaster(redis.asyncio.Redis):
    """The master's asyncio client; closing it also closes its connections to the sentinels (asyncio
    connections left open warn when collected)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        closing: Any = getattr(super(), "aclose", None) or super().close  # redis-py 4.6: close
        await closing(close_connection_pool)
        await self.connection_pool.disconnect()
        manager: Any = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in manager.sentinels if manager else ():
            await sentinel.connection_pool.disconnect()


# redis-py leaves its Sentinel classes unannotated.
_SYNC_SENTINEL: Any = redis.sentinel.Sentinel
_ASYNC_SENTINEL: Any = redis.asyncio.sentinel.Sentinel


def sync_master(config: SentinelConfig, **options: Any) -> redis.Redis:
    """A client of the master the sentinels name; `options` are the data nodes' connection options."""
    options.setdefault("retry", Retry(RETRY_BACKOFF, RETRIES))
    options.setdefault("retry_on_error", list(RETRY_ON))
    manager = _SYNC_SENTINEL(config.addresses, sentinel_kwargs=_sentinel_kwargs(config, options))
    client: redis.Redis = manager.master_for(config.master, redis_class=_SentinelMaster, **options)
    return client


def async_master(config: SentinelConfig, **options: Any) -> redis.asyncio.Redis:
    """The asyncio client of the master the sentinels name."""
    options.setdefault("retry", AsyncRetry(RETRY_BACKOFF, RETRIES))
    options.setdefault("retry_on_error", list(RETRY_ON))
    manager = _ASYNC_SENTINEL(config.addresses, sentinel_kwargs=_sentinel_kwargs(config, options))
    client: redis.asyncio.Redis = manager.master_for(
        config.master, redis_class=_AsyncSentinelMaster, **options
    )
    return client


def sync_client(url: str, sentinel: SentinelConfig | None = None, **options: Any) -> redis.Redis:
    """The client every service uses: REDIS_URL's Redis, or with sentinels their master. As with
    `Redis.from_url`, options in the URL's query win over `options`."""
    if sentinel is None:
        return redis.Redis.from_url(url, **options)
    return sync_master(sentinel, **{**options, **data_node_options(url)})


def async_client(url: str, sentinel: SentinelConfig | None = None, **options: Any) -> redis.asyncio.Redis:
    """`sync_client` for asyncio."""
    if sentinel is None:
        return redis.asyncio.Redis.from_url(url, **options)
    return async_master(sentinel, **{**options, **data_node_options(url)})


def find_master(config: SentinelConfig, timeout: float = SENTINEL_TIMEOUT) -> tuple[str, int]:
    """Ask the sentinels where the master is (SENTINEL GET-MASTER-ADDR-BY-NAME), each within `timeout`.
    A start-up check: SettingsError names the setting at fault when no sentinel knows the master."""
    unknown: list[str] = []
    refused: list[str] = []
    unreachable: list[str] = []
    for host, port in config.addresses:
        where = _join_address(host, port)
        client: Any = redis.Redis(  # Any: execute_command is unannotated
            host=host,
            port=port,
            password=config.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            answer = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", config.master)
        except redis.AuthenticationError:  # also a missing password (NOAUTH)
            refused.append(where)
            continue
        except redis.RedisError as exc:  # down, or not a sentinel ("unknown command")
            unreachable.append(f"{where}: {exc}")
            continue
        finally:
            client.close()
        if not answer:
            unknown.append(where)
            continue
        master_host, master_port = (_text(part) for part in answer)
        return master_host, int(master_port)
    if unknown:
        raise SettingsError(
            f"REDIS_SENTINEL_MASTER={config.master!r} is not a master the sentinels know "
            f"(asked {', '.join(unknown)})"
        )
    if refused and config.password:
        raise SettingsError(f"REDIS_SENTINEL_PASSWORD was refused by the sentinels at {', '.join(refused)}")
    if refused:
        raise SettingsError(
            f"the sentinels at {', '.join(refused)} need a password: set REDIS_SENTINEL_PASSWORD"
        )
    raise SettingsError(f"REDIS_SENTINELS: no sentinel answered ({'; '.join(unreachable)})")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
