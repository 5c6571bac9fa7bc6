"""Bad configuration ends with a one-line explanation, not a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.redis_server import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def run_preflight(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "EMBEDDED_REDIS")}
    ports = {name: str(free_port()) for name in ("HUB_PORT", "RASA_PORT", "ACTIONS_PORT", "REDIS_PORT")}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "preflight.py")],
        env={**base, **ports, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_port_in_use_is_named_with_its_variable() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = run_preflight(HUB_PORT=port, EMBEDDED_REDIS="1")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: port {port} on 127.0.0.1 is already in use (set HUB_PORT)"


def test_an_unreachable_redis_url_is_explained_in_one_line() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = run_preflight(REDIS_URL=url)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: Redis at REDIS_URL={url} is unreachable")


def test_a_reachable_redis_and_free_ports_pass(redis_url: str) -> None:
    result = run_preflight(REDIS_URL=redis_url)
    assert result.returncode == 0, result.stderr


def test_a_bad_port_value_is_named() -> None:
    result = run_preflight(RASA_PORT="http", EMBEDDED_REDIS="1")
    assert result.returncode == 1
    assert "RASA_PORT='http' is not a port number" in result.stderr


def test_missing_python_310_says_how_to_get_one(tmp_path: Path) -> None:
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "find_python310.sh")],
        env={"PATH": str(tmp_path), "HOME": str(tmp_path)},  # no python, pyenv or uv on PATH
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "pyenv install 3.10" in result.stderr and "PYTHON310" in result.stderr


def test_a_wrong_python310_override_is_named(tmp_path: Path) -> None:
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "find_python310.sh")],
        env={"PATH": os.environ["PATH"], "PYTHON310": sys.executable},  # a 3.11 interpreter
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"PYTHON310={sys.executable} is not a working Python 3.10 interpreter" in result.stderr


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("RASA_PROCESSES", "0", "rasa: RASA_PROCESSES='0' must be a number from 1 to 32"),
        ("RASA_START_TIMEOUT", "soon", "rasa: RASA_START_TIMEOUT='soon' must be a number of seconds"),
    ],
)
def test_make_run_stops_at_once_naming_a_bad_process_setting(setting: str, value: str, message: str) -> None:
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "EMBEDDED_REDIS", "RASA_URLS")}
    ports = {name: str(free_port()) for name in ("HUB_PORT", "RASA_PORT", "ACTIONS_PORT", "REDIS_PORT")}
    result = subprocess.run(
        [str(ROOT / "scripts" / "run.sh")],
        env={**base, **ports, setting: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
