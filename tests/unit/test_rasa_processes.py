"""The Rasa process supervisor (bot/processes.py) with stand-in servers: start-up waits for every process
and fails naming the setting, a process that dies is started again, bad settings are refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.stack import consecutive_free_ports
from bot.processes import ConfigError, Supervisor, answers, process_urls, read_settings

STAND_IN = (
    sys.executable,
    str(Path(__file__).resolve().parents[1] / "fixtures" / "rasa_stand_in" / "serve.py"),
)


def env_for(count: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "RASA_PROCESSES": str(count),
        "RASA_PORT": str(consecutive_free_ports(count)),
        **extra,
    }


def test_start_waits_for_every_process_and_a_dead_one_is_started_again() -> None:
    env = env_for(2)
    supervisor = Supervisor(env, STAND_IN)
    try:
        supervisor.start_all()
        urls = process_urls(env)
        assert all(answers(url) for url in urls)
        first = supervisor.children[0]
        assert first.process is not None
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        assert not answers(urls[0]) and answers(urls[1])
        deadline = time.monotonic() + 20
        while not answers(urls[0]) and time.monotonic() < deadline:
            supervisor.watch_once()
            time.sleep(0.2)
        assert answers(urls[0])
        assert first.history == [-signal.SIGKILL] and first.restarts == 1
        assert supervisor.children[1].restarts == 0
    finally:
        supervisor.stop_all(grace=5)
    assert all(c.process is not None and c.process.poll() is not None for c in supervisor.children)


def test_a_process_that_dies_after_it_was_up_while_others_still_start_is_started_again() -> None:
    env = env_for(2)
    env["STAND_IN_SLOW_PORT"] = str(int(env["RASA_PORT"]) + 1)
    urls = process_urls(env)
    supervisor = Supervisor(env, STAND_IN)
    starting = threading.Thread(target=supervisor.start_all)
    try:
        starting.start()
        deadline = time.monotonic() + 10
        while not answers(urls[0]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        first = supervisor.children[0]
        assert first.process is not None
        first.process.send_signal(signal.SIGKILL)  # while the second is still starting
        starting.join(timeout=30)
        assert not starting.is_alive()  # start-up finished without an error
        deadline = time.monotonic() + 20
        while not answers(urls[0]) and time.monotonic() < deadline:
            supervisor.watch_once()
            time.sleep(0.2)
        assert answers(urls[0]) and answers(urls[1])
        assert first.history == [-signal.SIGKILL]
    finally:
        supervisor.stop_all(grace=5)


def test_a_process_that_exits_while_starting_stops_start_up() -> None:
    supervisor = Supervisor(env_for(1, STAND_IN_MODE="exit"), STAND_IN)
    try:
        with pytest.raises(ConfigError, match="exited with code 3 while starting"):
            supervisor.start_all()
    finally:
        supervisor.stop_all(grace=5)


def test_a_process_that_never_answers_stops_start_up_naming_the_setting() -> None:
    supervisor = Supervisor(env_for(1, STAND_IN_MODE="hang", RASA_START_TIMEOUT="2"), STAND_IN)
    started = time.monotonic()
    try:
        with pytest.raises(ConfigError, match="did not become healthy within RASA_START_TIMEOUT=2 seconds"):
            supervisor.start_all()
    finally:
        supervisor.stop_all(grace=5)
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("setting", "value"),
    [("RASA_PROCESSES", "0"), ("RASA_PROCESSES", "many"), ("RASA_PORT", "http"), ("RASA_START_TIMEOUT", "0")],
)
def test_bad_settings_are_refused_naming_the_setting(setting: str, value: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        read_settings({setting: value})


def test_the_command_line_reports_a_bad_setting_and_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.processes"],
        env={**os.environ, "RASA_PROCESSES": "0"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "RASA_PROCESSES='0' must be a number from 1 to 32" in result.stderr


def test_the_default_is_one_process_per_two_cores() -> None:
    count = read_settings({})[0]
    assert count == max(1, (os.cpu_count() or 1) // 2)
    assert process_urls({"RASA_PROCESSES": "3", "RASA_PORT": "7000"}) == [
        "http://127.0.0.1:7000",
        "http://127.0.0.1:7001",
        "http://127.0.0.1:7002",
    ]
