"""Rasa's Redis lock store, following the master of Redis Sentinel when sentinels are configured.

Rasa 3.6's RedisLockStore connects to one host and port; a failover would leave every conversation's lock
on a dead or demoted node. Here, with `sentinels` set in endpoints.yml's lock_store, its client is
replaced by one for the master the sentinels name (common/redis_connect.py), which asks them again
whenever it reconnects. Without sentinels it is Rasa's store as it is.
"""

from __future__ import annotations

from typing import Any

from rasa.core.lock_store import DEFAULT_SOCKET_TIMEOUT_IN_SECONDS, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from common.redis_connect import sentinel_config, sync_master

#: The keys this store takes beyond RedisLockStore's.
SENTINEL_KEYS = ("sentinels", "sentinel_master", "sentinel_password")
SSL_KEYS = ("ssl_certfile", "ssl_keyfile", "ssl_ca_certs")


class SentinelRedisLockStore(RedisLockStore):
    """RedisLockStore whose client finds the master through the sentinels, when there are any."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        # Rasa builds a custom lock store from its endpoint configuration alone: `url` is the host.
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        sentinels, master, sentinel_password = (str(kwargs.pop(key, None) or "") for key in SENTINEL_KEYS)
        super().__init__(**kwargs)  # a plain client, which connects on first use only
        if sentinels:
            options: dict[str, Any] = {
                "db": int(kwargs.get("db", 1)),  # RedisLockStore's own defaults
                "username": kwargs.get("username") or None,
                "password": kwargs.get("password") or None,
                "socket_timeout": kwargs.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT_IN_SECONDS),
            }
            if kwargs.get("use_ssl"):  # a plain connection refuses the ssl_* options
                options["ssl"] = True
                options.update({key: kwargs.get(key) for key in SSL_KEYS})
            config = sentinel_config(sentinels, master, sentinel_password or None)
            self.red = sync_master(config, **options)
