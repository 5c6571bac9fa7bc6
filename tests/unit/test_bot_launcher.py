import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.serve import (
    ROOT,
    ConfigError,
    RedactTokens,
    redis_settings,
    resolve_template,
    retention_seconds,
    tracker_store_settings,
)

ENDPOINTS = Path("endpoints.yml").read_text(encoding="utf-8")
LauncherEnv = Callable[[str], dict[str, str]]


def endpoints_for(redis_url: str) -> dict[str, Any]:
    env = {
        **redis_settings(redis_url),
        "ACTIONS_URL": "http://127.0.0.1:5055",
        "ACTIONS_TOKEN": "t" * 20,
        "RASA_TRACKER_RETENTION_SECONDS": str(retention_seconds({})),
        **tracker_store_settings({}),
    }
    return yaml.safe_load(resolve_template(ENDPOINTS, env))


@pytest.fixture
def launcher_env() -> Iterator[Callable[[str], dict[str, str]]]:
    """The launcher's environment for a token; the endpoints files it writes are removed afterwards."""
    from tests.redis_server import free_port

    ports: list[str] = []

    def make(token: str) -> dict[str, str]:
        ports.append(str(free_port()))
        return {
            "RASA_AUTH_TOKEN": token,
            "RASA_CHANNEL_TOKEN": "c" * 20,
            "ACTIONS_TOKEN": "a" * 20,
            "RASA_PORT": ports[-1],
            "RASA_MODEL": "models/any.tar.gz",
            "REDIS_URL": "redis://:redis-password-0123456789@127.0.0.1:6390/0",
        }

    yield make
    for port in ports:
        (ROOT / "var" / "run" / f"endpoints-{port}.yml").unlink(missing_ok=True)


def test_redis_url_becomes_typed_tracker_store_settings() -> None:
    env = redis_settings("rediss://svc:s%40cret@cache.internal:6380/2")
    assert env == {
        "RASA_REDIS_HOST": "cache.internal",
        "RASA_REDIS_PORT": "6380",
        "RASA_REDIS_DB": "2",
        "RASA_REDIS_USERNAME": "svc",
        "RASA_REDIS_PASSWORD": "s@cret",
        "RASA_REDIS_SSL": "true",
        "RASA_REDIS_SENTINELS": "",
        "RASA_REDIS_SENTINEL_MASTER": "",
        "RASA_REDIS_SENTINEL_PASSWORD": "",
    }


def test_bad_redis_url_is_explained_without_its_password() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL") as raised:
        redis_settings("redis://:hunter2-secret@cache.internal:6379/zero")
    assert "hunter2-secret" not in str(raised.value)
    with pytest.raises(ConfigError, match="REDIS_URL"):
        redis_settings("localhost:6379")


def test_endpoints_template_resolves_to_typed_yaml() -> None:
    endpoints = endpoints_for("redis://127.0.0.1:6379/0")
    assert endpoints["tracker_store"]["use_ssl"] is False
    assert endpoints["tracker_store"]["port"] == 6379
    assert endpoints["action_endpoint"]["headers"]["Authorization"] == "Bearer " + "t" * 20
    for store in ("tracker_store", "lock_store"):
        assert not endpoints[store]["password"]  # empty: redis-py then sends no AUTH
        assert not endpoints[store]["username"]


@pytest.mark.parametrize("password", ["plain-generated_Token-0123", 'p@ss"wo#rd: \\x ${HOME}', "12345", "-x"])
def test_the_redis_password_reaches_both_stores_verbatim(password: str) -> None:
    from urllib.parse import quote

    endpoints = endpoints_for(f"redis://:{quote(password, safe='')}@127.0.0.1:6379/0")
    assert endpoints["tracker_store"]["password"] == password
    assert endpoints["lock_store"]["password"] == password


def test_idle_trackers_expire_after_the_retention() -> None:
    assert endpoints_for("redis://127.0.0.1:6379/0")["tracker_store"]["record_exp"] == 30 * 86400
    assert retention_seconds({"RASA_TRACKER_RETENTION_DAYS": "7"}) == 7 * 86400
    for bad in ("0", "-1", "week", "4000"):
        with pytest.raises(ConfigError, match="RASA_TRACKER_RETENTION_DAYS"):
            retention_seconds({"RASA_TRACKER_RETENTION_DAYS": bad})


def test_the_tracker_store_is_the_windowed_one_unless_asked() -> None:
    store = endpoints_for("redis://127.0.0.1:6379/0")["tracker_store"]
    assert store["type"] == "bot.tracker_store.WindowedRedisTrackerStore"
    assert store["window_turns"] == 10
    assert tracker_store_settings({"RASA_TRACKER_STORE": "rasa"})["RASA_TRACKER_STORE_TYPE"] == "redis"
    assert tracker_store_settings({"RASA_TRACKER_WINDOW_TURNS": "25"})["RASA_TRACKER_WINDOW_TURNS"] == "25"
    with pytest.raises(ConfigError, match="RASA_TRACKER_STORE="):
        tracker_store_settings({"RASA_TRACKER_STORE": "mongo"})
    for bad in ("0", "3", "ten", "5000"):
        with pytest.raises(ConfigError, match="RASA_TRACKER_WINDOW_TURNS"):
            tracker_store_settings({"RASA_TRACKER_WINDOW_TURNS": bad})


def test_missing_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="ACTIONS_TOKEN"):
        resolve_template("token: ${ACTIONS_TOKEN}", {})


def test_a_template_that_breaks_yaml_is_named_without_the_value() -> None:
    with pytest.raises(ConfigError, match="line 1") as raised:
        resolve_template("password: ${SECRET}", {"SECRET": "[unclosed-secret-value"})
    assert "unclosed-secret-value" not in str(raised.value)


def test_a_token_starting_with_a_dash_reaches_rasa_intact(launcher_env: LauncherEnv) -> None:
    from bot.serve import rasa_arguments

    arguments = rasa_arguments(launcher_env("-starts-with-a-dash-0123456789"))
    assert "--auth-token=-starts-with-a-dash-0123456789" in arguments


def test_the_written_endpoints_file_is_private_and_holds_the_redis_password(
    launcher_env: LauncherEnv,
) -> None:
    from bot.serve import rasa_arguments

    env = launcher_env("r" * 20)
    arguments = rasa_arguments(env)
    endpoints = Path(arguments[arguments.index("--endpoints") + 1])
    assert endpoints.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(endpoints.read_text())["lock_store"]["password"] == "redis-password-0123456789"
    assert env["SANIC_ACCESS_LOG"] == "false"  # Sanic's access log prints the API's ?token= URLs


def record_process_starts(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every way this process could start another one, recorded (argv as strings) instead of run."""
    started: list[list[str]] = []

    def recorder(argv_at: int) -> Callable[..., None]:
        def record(*args: Any, **kwargs: Any) -> None:
            argv = args[argv_at] if len(args) > argv_at else kwargs.get("args", [])
            started.append([str(a) for a in ([argv] if isinstance(argv, str | bytes) else argv)])

        return record

    for name in ("execv", "execve", "execvp", "execvpe", "posix_spawn", "posix_spawnp"):
        monkeypatch.setattr(os, name, recorder(1))
    for name in ("spawnv", "spawnve", "spawnvp", "spawnvpe"):
        monkeypatch.setattr(os, name, recorder(2))
    monkeypatch.setattr(subprocess.Popen, "__init__", lambda self, *a, **k: recorder(0)(*a, **k))
    return started


def test_rasa_gets_the_token_in_process_and_no_process_argv_holds_it(
    monkeypatch: pytest.MonkeyPatch, launcher_env: LauncherEnv
) -> None:
    import bot.rasa_main
    import bot.serve

    token = "launcher-secret-token-0123456789"
    env = launcher_env(token)
    monkeypatch.setattr(os, "environ", {**os.environ, **env})  # main() adds Rasa's settings to it
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.chdir(Path.cwd())
    started = record_process_starts(monkeypatch)
    seen: dict[str, Any] = {}

    def fake_rasa_main() -> None:  # what Rasa's own parser would read
        seen["argv"] = list(sys.argv)
        seen["cmdline"] = Path("/proc/self/cmdline").read_bytes().decode(errors="replace")

    monkeypatch.setattr(bot.rasa_main, "main", fake_rasa_main)
    assert bot.serve.main() == 0

    assert seen["argv"][:2] == ["rasa", "run"]
    assert f"--auth-token={token}" in seen["argv"]
    assert token not in seen["cmdline"]  # the kernel's argv of the Rasa server process
    assert all(token not in " ".join(argv) for argv in started)
    assert os.environ["RASA_REDIS_PASSWORD"] == "redis-password-0123456789"


def test_sanic_error_lines_lose_the_api_token() -> None:
    record = logging.LogRecord(
        "sanic.error", logging.ERROR, __file__, 1,
        "Exception occurred while handling uri: %s",
        ("'http://127.0.0.1:5005/conversations/c1/tracker/events?token=api-secret-0123&x=1'",), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert "api-secret-0123" not in record.getMessage()
    assert "token=***&x=1" in record.getMessage()


def test_a_tracker_store_that_cannot_be_loaded_stops_the_start(tmp_path: Path) -> None:
    from bot.rasa_main import check_tracker_store

    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: bot.no_such_module.Store\n")
    with pytest.raises(SystemExit, match=r"bot\.no_such_module\.Store cannot be loaded"):
        check_tracker_store(str(endpoints))
    endpoints.write_text("tracker_store:\n  type: redis\n")
    check_tracker_store(str(endpoints))  # Rasa's own stores are Rasa's to check
