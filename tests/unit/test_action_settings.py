"""The action server's settings: defaults, and a clear refusal naming the variable for a bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from actions.settings import MAX_BODY_BYTES, ActionSettings
from common.env import SettingsError

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"ACTIONS_TOKEN": "a" * 24, "HUB_SERVICE_TOKEN": "h" * 24}


def test_defaults_need_only_the_two_secrets() -> None:
    settings = ActionSettings.from_env(SECRETS)
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 5055, 1)
    assert settings.max_body_bytes == MAX_BODY_BYTES
    assert settings.hub_url == "http://127.0.0.1:8000"
    assert (settings.attempts.per_conversation, settings.attempts.per_address) == (3, 10)
    assert settings.order_seed == ROOT / "data" / "orders" / "orders.yml"


def test_values_from_the_environment() -> None:
    env = {**SECRETS, "ACTIONS_PORT": "6000", "ORDER_CHECK_MAX_PER_ADDRESS": "50", "ORDER_DB": "var/o.db"}
    settings = ActionSettings.from_env(env)
    assert (settings.port, settings.attempts.per_address, settings.order_db) == (6000, 50, Path("var/o.db"))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ACTIONS_TOKEN", "short", "ACTIONS_TOKEN must be set to a secret of at least 16 characters"),
        ("HUB_SERVICE_TOKEN", "", "HUB_SERVICE_TOKEN must be set to a secret of at least 16 characters"),
        ("ACTIONS_PORT", "http", "ACTIONS_PORT='http' is not an integer"),
        ("ACTIONS_MAX_BODY_BYTES", "1000", "ACTIONS_MAX_BODY_BYTES=1000 is outside"),
        ("ORDER_CHECK_MAX_PER_CONVERSATION", "0", "ORDER_CHECK_MAX_PER_CONVERSATION=0 is outside"),
        ("HUB_URL", "ftp://hub", "HUB_URL='ftp://hub' is not a http/https URL"),
        ("REDIS_URL", "redis://user:pw@[::1", "REDIS_URL='redis://***@[::1' is not a"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        ActionSettings.from_env({**SECRETS, name: value})
    assert str(refused.value).startswith(message)
    assert "pw" not in str(refused.value)


def test_the_server_refuses_to_start_with_the_variable_named() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "actions.server"],
        cwd=ROOT,
        env={"ACTIONS_TOKEN": "a" * 24, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "HUB_SERVICE_TOKEN must be set" in done.stderr
    assert "Traceback" not in done.stderr
