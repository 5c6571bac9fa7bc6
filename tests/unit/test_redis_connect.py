"""Redis Sentinel settings (common/redis_connect.py): parsing, validation and the messages that name the
setting at fault, and how each service reads them. The failover itself: tests/integration/
test_redis_failover.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import yaml

from common.env import SettingsError
from common.redis_connect import (
    DEFAULT_MASTER,
    ReplicaWait,
    SentinelConfig,
    async_client,
    data_node_options,
    find_master,
    parse_sentinels,
    read_replica_wait,
    read_sentinel,
    sync_client,
)
from tests.redis_server import free_port

SENTINELS = {"REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26380,[::1]:26381"}


def test_sentinels_are_host_port_pairs() -> None:
    assert parse_sentinels("10.0.0.1:26379, sentinel-b.internal:26380,[::1]:26381") == (
        ("10.0.0.1", 26379),
        ("sentinel-b.internal", 26380),
        ("::1", 26381),
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "REDIS_SENTINELS is set but names no sentinel"),
        (" , ", "REDIS_SENTINELS is set but names no sentinel"),
        ("a:1,,b:2", "REDIS_SENTINELS='a:1,,b:2' has an empty entry"),
        ("a:1,", "has an empty entry"),
        ("sentinel-a", "REDIS_SENTINELS: 'sentinel-a' is not host:port"),
        (":26379", "REDIS_SENTINELS: ':26379' is not host:port"),
        ("sentinel-a:port", "REDIS_SENTINELS: 'sentinel-a:port' has a port that is not a number"),
        ("sentinel-a:", "REDIS_SENTINELS: 'sentinel-a:' has a port that is not a number"),
        ("sentinel-a:0", "has a port that is not a number from 1 to 65535"),
        ("sentinel-a:65536", "has a port that is not a number from 1 to 65535"),
        ("sentinel-a:２６３７９", "has a port that is not a number"),  # full-width digits
        ("::1:26379", "needs its IPv6 address in brackets"),
        ("[]:26379", "does not name a host"),
        ("user@host:26379", "does not name a host"),
        ("a:1,a:1", "REDIS_SENTINELS names 'a:1' twice"),
    ],
)
def test_a_malformed_sentinel_list_is_named(raw: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_sentinels(raw)


def test_without_sentinels_nothing_changes() -> None:
    assert read_sentinel({}) is None
    assert read_sentinel({"REDIS_URL": "unix:///run/redis.sock", "REDIS_SENTINEL_MASTER": "x y"}) is None
    assert read_replica_wait({}, None) == ReplicaWait(replicas=0, timeout_ms=200)


def test_sentinel_settings_with_their_defaults() -> None:
    config = read_sentinel(SENTINELS)
    assert config == SentinelConfig(
        (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381)), DEFAULT_MASTER
    )
    assert config.master == "storefront"
    assert config.password is None
    assert config.addresses_text() == "10.0.0.1:26379,10.0.0.2:26380,[::1]:26381"
    assert read_replica_wait(SENTINELS, config) == ReplicaWait(replicas=1, timeout_ms=200)


def test_the_sentinels_password_is_kept_but_never_shown() -> None:
    config = read_sentinel(
        {**SENTINELS, "REDIS_SENTINEL_MASTER": "shop-1", "REDIS_SENTINEL_PASSWORD": "s3cret"}
    )
    assert config is not None
    assert (config.master, config.password) == ("shop-1", "s3cret")
    assert "s3cret" not in repr(config) and "s3cret" not in config.describe()
    assert read_sentinel({**SENTINELS, "REDIS_SENTINEL_PASSWORD": ""}).password is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_SENTINEL_MASTER": "shop one"}, "REDIS_SENTINEL_MASTER='shop one' must be 1 to 64 letters"),
        ({"REDIS_SENTINEL_MASTER": "m" * 65}, "REDIS_SENTINEL_MASTER="),
        ({"REDIS_URL": "unix:///run/redis.sock"}, "REDIS_URL='unix:///run/redis.sock' must be a redis://"),
        ({"REDIS_URL": "http://:pw@cache/0"}, "its host and port are ignored"),
        ({"REDIS_WAIT_REPLICAS": "many"}, "REDIS_WAIT_REPLICAS='many' is not an integer"),
        ({"REDIS_WAIT_REPLICAS": "17"}, "REDIS_WAIT_REPLICAS=17 is outside 0..16"),
        ({"REDIS_WAIT_TIMEOUT_MS": "0"}, "REDIS_WAIT_TIMEOUT_MS=0 is outside 1..10000"),
    ],
)
def test_bad_sentinel_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        read_replica_wait({**SENTINELS, **env}, read_sentinel({**SENTINELS, **env}))


def test_a_bad_redis_url_is_refused_without_its_password() -> None:
    with pytest.raises(SettingsError) as raised:
        read_sentinel({**SENTINELS, "REDIS_URL": "http://:hunter2-password@cache/0"})
    assert "hunter2" not in str(raised.value)


def test_the_url_gives_the_data_nodes_credentials_db_and_tls_not_the_address() -> None:
    assert data_node_options("redis://:p%40ss@ignored:6390/3") == {"password": "p@ss", "db": 3}
    options = data_node_options("rediss://svc:pw@ignored/2?ssl_cert_reqs=none")
    assert options == {"username": "svc", "password": "pw", "db": 2, "ssl": True, "ssl_cert_reqs": "none"}


def connection_kwargs(client: Any) -> dict[str, Any]:
    return dict(client.connection_pool.connection_kwargs)


def test_without_sentinels_the_client_is_the_urls_as_before() -> None:
    client = sync_client("redis://:pw@cache.internal:6390/2", None, decode_responses=True, socket_timeout=2)
    kwargs = connection_kwargs(client)
    assert type(client) is redis.Redis
    expected = {"host": "cache.internal", "port": 6390, "db": 2, "password": "pw"}
    assert {key: kwargs[key] for key in expected} == expected
    assert kwargs["decode_responses"] is True and kwargs["socket_timeout"] == 2
    client.close()


async def test_with_sentinels_the_client_follows_their_master_with_the_callers_options() -> None:
    config = read_sentinel({**SENTINELS, "REDIS_SENTINEL_PASSWORD": "sentinel-pw"})
    client = async_client(
        "redis://:node-pw@ignored:1/4",
        config,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
    )
    try:
        assert isinstance(client, redis.asyncio.Redis)
        pool: Any = client.connection_pool
        assert pool.service_name == "storefront" and pool.is_master
        kwargs = connection_kwargs(client)
        assert "host" not in kwargs and "port" not in kwargs  # they come from the sentinels
        expected = {
            "password": "node-pw",
            "db": 4,
            "decode_responses": True,
            "socket_timeout": 5,
            "socket_connect_timeout": 2,
            "health_check_interval": 30,
        }
        assert {key: kwargs[key] for key in expected} == expected
        sentinels = pool.sentinel_manager.sentinels
        addresses = [
            (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in sentinels
        ]
        assert addresses == [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381)]
        sentinel_kwargs = sentinels[0].connection_pool.connection_kwargs
        assert sentinel_kwargs["password"] == "sentinel-pw"  # the sentinels' own, not the data nodes'
        assert sentinel_kwargs["socket_timeout"] <= 1 and sentinel_kwargs["socket_connect_timeout"] <= 1
    finally:
        await client.aclose()


def test_tls_in_the_url_reaches_the_master_connections() -> None:
    config = read_sentinel(SENTINELS)
    client = sync_client("rediss://:pw@ignored/0", config)
    assert "SSL" in client.connection_pool.connection_class.__name__
    client.close()


def test_no_reachable_sentinel_stops_the_start_naming_redis_sentinels() -> None:
    config = SentinelConfig((("127.0.0.1", free_port()), ("127.0.0.1", free_port())))
    with pytest.raises(SettingsError, match=r"^REDIS_SENTINELS: no sentinel answered \(127\.0\.0\.1:"):
        find_master(config, timeout=0.5)


# -- the services read them ---------------------------------------------------------------------------


def test_the_hub_reads_sentinels_and_the_replica_wait() -> None:
    from handoff.settings import Settings

    env = {
        "RASA_CHANNEL_TOKEN": "x" * 32,
        "HUB_SERVICE_TOKEN": "y" * 32,
        "HUB_ADMIN_TOKEN": "z" * 32,
        "RASA_AUTH_TOKEN": "w" * 32,
        "HUB_WIDGET_SECRET": "v" * 32,
        "HUB_IDENTITY_SECRET": "storefront-identity-key-0123",
    }
    plain = Settings.from_env(env)
    assert (plain.redis_sentinel, plain.redis_wait_replicas) == (None, 0)
    settings = Settings.from_env({**env, **SENTINELS, "REDIS_WAIT_TIMEOUT_MS": "50"})
    assert settings.redis_sentinel == read_sentinel(SENTINELS)
    assert (settings.redis_wait_replicas, settings.redis_wait_timeout_ms) == (1, 50)
    with pytest.raises(SettingsError, match="REDIS_SENTINELS"):
        Settings.from_env({**env, "REDIS_SENTINELS": "sentinel-a"})


def test_the_action_server_reads_sentinels() -> None:
    from actions.settings import ActionSettings

    env = {"ACTIONS_TOKEN": "a" * 32, "HUB_SERVICE_TOKEN": "h" * 32}
    assert ActionSettings.from_env(env).redis_sentinel is None
    assert ActionSettings.from_env({**env, **SENTINELS}).redis_sentinel == read_sentinel(SENTINELS)
    with pytest.raises(SettingsError, match="REDIS_SENTINELS"):
        ActionSettings.from_env({**env, "REDIS_SENTINELS": ","})


def endpoints(sentinel: SentinelConfig | None) -> dict[str, Any]:
    from bot.serve import ROOT, redis_settings, resolve_template, retention_seconds, tracker_store_settings

    env = {
        **redis_settings("redis://:node-pw@ignored:6379/0", sentinel),
        **tracker_store_settings({}),
        "ACTIONS_URL": "http://127.0.0.1:5055",
        "ACTIONS_TOKEN": "t" * 20,
        "RASA_TRACKER_RETENTION_SECONDS": str(retention_seconds({})),
    }
    loaded: dict[str, Any] = yaml.safe_load(resolve_template((ROOT / "endpoints.yml").read_text(), env))
    return loaded


def test_rasas_stores_get_the_sentinels_from_endpoints_yml() -> None:
    config = sentinel_config_with_password()
    for store in ("tracker_store", "lock_store"):
        section = endpoints(config)[store]
        assert section["sentinels"] == "10.0.0.1:26379,10.0.0.2:26380,[::1]:26381"
        assert (section["sentinel_master"], section["sentinel_password"]) == ("shop-1", 'pw "with" quotes')
        assert section["password"] == "node-pw"
    assert endpoints(config)["lock_store"]["type"] == "bot.lock_store.SentinelRedisLockStore"
    for store in ("tracker_store", "lock_store"):  # without sentinels: empty, so host and port are used
        section = endpoints(None)[store]
        assert (section["sentinels"], section["sentinel_master"], section["sentinel_password"]) == (
            "",
            "",
            "",
        )
        assert (section["url"], section["port"]) == ("ignored", 6379)


def sentinel_config_with_password() -> SentinelConfig:
    config = read_sentinel(
        {**SENTINELS, "REDIS_SENTINEL_MASTER": "shop-1", "REDIS_SENTINEL_PASSWORD": 'pw "with" quotes'}
    )
    assert config is not None
    return config


def test_rasa_refuses_bad_sentinel_settings_before_starting() -> None:
    from bot.serve import ConfigError, sentinel_settings

    assert sentinel_settings({}) is None
    with pytest.raises(ConfigError, match="REDIS_SENTINELS: 'sentinel-a' is not host:port"):
        sentinel_settings({"REDIS_SENTINELS": "sentinel-a"})
    with pytest.raises(ConfigError, match="RASA_TRACKER_STORE=rasa cannot follow a failover"):
        sentinel_settings({**SENTINELS, "RASA_TRACKER_STORE": "rasa"})
    with pytest.raises(ConfigError, match="REDIS_SENTINELS: no sentinel answered"):
        sentinel_settings({"REDIS_SENTINELS": f"127.0.0.1:{free_port()}"})


def test_a_lock_store_that_cannot_be_loaded_stops_rasas_start(tmp_path: Path) -> None:
    from bot.rasa_main import check_tracker_store

    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: redis\nlock_store:\n  type: bot.no_such_module.Store\n")
    with pytest.raises(
        SystemExit, match=r"^rasa: the lock store bot\.no_such_module\.Store cannot be loaded"
    ):
        check_tracker_store(str(endpoints))
    endpoints.write_text("lock_store:\n  type: redis\n")
    check_tracker_store(str(endpoints))  # Rasa's own stores are Rasa's to check
