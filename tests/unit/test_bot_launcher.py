from pathlib import Path

import pytest
import yaml

from bot.serve import ConfigError, redis_settings, resolve_template


def test_redis_url_becomes_typed_tracker_store_settings() -> None:
    env = redis_settings("rediss://:s%40cret@cache.internal:6380/2")
    assert env == {
        "RASA_REDIS_HOST": "cache.internal",
        "RASA_REDIS_PORT": "6380",
        "RASA_REDIS_DB": "2",
        "RASA_REDIS_PASSWORD": "s@cret",
        "RASA_REDIS_SSL": "true",
    }


def test_bad_redis_url_is_explained() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        redis_settings("localhost:6379")


def test_endpoints_template_resolves_to_typed_yaml() -> None:
    text = Path("endpoints.yml").read_text(encoding="utf-8")
    env = {
        **redis_settings("redis://127.0.0.1:6379/0"),
        "ACTIONS_URL": "http://127.0.0.1:5055",
        "ACTIONS_TOKEN": "t" * 20,
    }
    endpoints = yaml.safe_load(resolve_template(text, env))
    assert endpoints["tracker_store"]["use_ssl"] is False
    assert endpoints["tracker_store"]["port"] == 6379
    assert endpoints["tracker_store"]["password"] is None
    assert endpoints["action_endpoint"]["headers"]["Authorization"] == "Bearer " + "t" * 20


def test_missing_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="ACTIONS_TOKEN"):
        resolve_template("token: ${ACTIONS_TOKEN}", {})


def test_a_token_starting_with_a_dash_reaches_rasa_intact() -> None:
    from bot.serve import build_command
    from tests.redis_server import free_port

    env = {
        "RASA_AUTH_TOKEN": "-starts-with-a-dash-0123456789",
        "RASA_CHANNEL_TOKEN": "c" * 20,
        "ACTIONS_TOKEN": "a" * 20,
        "RASA_PORT": str(free_port()),
        "RASA_MODEL": "models/any.tar.gz",
    }
    command = build_command(env)
    assert "--auth-token=-starts-with-a-dash-0123456789" in command


def test_rasa_runs_through_the_launcher_that_installs_the_fixes() -> None:
    from bot.serve import build_command
    from tests.redis_server import free_port

    env = {
        "RASA_AUTH_TOKEN": "r" * 20,
        "RASA_CHANNEL_TOKEN": "c" * 20,
        "ACTIONS_TOKEN": "a" * 20,
        "RASA_PORT": str(free_port()),
        "RASA_MODEL": "models/any.tar.gz",
    }
    command = build_command(env)
    assert command[1:4] == ["-m", "bot.rasa_main", "run"]
