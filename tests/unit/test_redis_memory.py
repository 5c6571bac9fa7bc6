"""Redis memory: the limit and policy the embedded Redis is configured with, and the usage alert."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from handoff.redis_memory import memory_usage, redis_memory, watch_redis_memory
from scripts.redis_conf import ConfigError, RedisConf, check_maxmemory, from_env, render

MB = 1024 * 1024


class FakeRedis:
    """Answers INFO memory from a list of readings (the last one repeats); a reading may be an error.
    With `stopping`, sets it once asked `calls` times, so a watcher ends after a known number of checks."""

    def __init__(
        self, *readings: Mapping[str, Any] | Exception, stopping: asyncio.Event | None = None, calls: int = 0
    ) -> None:
        self.readings = list(readings)
        self.sections: list[str] = []
        self.stopping = stopping
        self.calls = calls

    async def info(self, section: str) -> Mapping[str, Any]:
        self.sections.append(section)
        if self.stopping is not None and len(self.sections) >= self.calls:
            self.stopping.set()
        reading = self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]
        if isinstance(reading, Exception):
            raise reading
        return reading


def info(used: int, maximum: int, policy: str = "noeviction") -> dict[str, Any]:
    return {"used_memory": used, "maxmemory": maximum, "maxmemory_policy": policy, "used_memory_human": "x"}


async def test_usage_is_read_from_info_memory() -> None:
    fake = FakeRedis(info(100 * MB, 512 * MB))
    usage = await redis_memory(fake)
    assert fake.sections == ["memory"]
    assert (usage.used_bytes, usage.max_bytes, usage.policy) == (100 * MB, 512 * MB, "noeviction")
    assert usage.ratio == pytest.approx(100 / 512)
    assert not usage.high and not usage.evicts


@pytest.mark.parametrize(
    ("used", "threshold", "high"),
    [(435 * MB, 0.85, False), (436 * MB, 0.85, True), (512 * MB, 0.85, True), (300 * MB, 0.5, True)],
)
def test_high_from_the_threshold_of_maxmemory(used: int, threshold: float, high: bool) -> None:
    assert memory_usage(info(used, 512 * MB), threshold).high is high


def test_no_limit_is_never_high_and_an_evicting_policy_is_flagged() -> None:
    unlimited = memory_usage(info(10_000 * MB, 0))
    assert unlimited.ratio is None and not unlimited.high
    assert memory_usage(info(1, 2, "allkeys-lru")).evicts


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5])
def test_a_threshold_outside_0_to_1_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        memory_usage(info(1, 2), threshold)


async def test_the_watcher_warns_while_high_and_stops_when_told(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="handoff.redis_memory")
    stopping = asyncio.Event()
    readings = (info(10 * MB, 100 * MB), ConnectionError("down"), info(90 * MB, 100 * MB))
    fake = FakeRedis(*readings, stopping=stopping, calls=5)
    await asyncio.wait_for(watch_redis_memory(fake, stopping, interval=0.01), 1)
    messages = [r.getMessage() for r in caplog.records]
    assert len(fake.sections) == 5
    assert messages == ["hub.redis.memory_check_failed"] + ["hub.redis.memory_high"] * 3  # every high reading
    high = next(r for r in caplog.records if r.getMessage() == "hub.redis.memory_high")
    assert (high.used_bytes, high.max_bytes, high.ratio) == (90 * MB, 100 * MB, 0.9)  # type: ignore[attr-defined]


async def test_an_evicting_redis_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="handoff.redis_memory")
    stopping = asyncio.Event()
    fake = FakeRedis(info(1 * MB, 100 * MB, "allkeys-lru"), stopping=stopping, calls=3)
    await asyncio.wait_for(watch_redis_memory(fake, stopping, interval=0.01), 1)
    assert len(fake.sections) == 3
    assert [r.getMessage() for r in caplog.records] == ["hub.redis.evicting_policy"]


def test_the_embedded_redis_config_has_a_password_a_limit_and_never_evicts(tmp_path: Path) -> None:
    env = {"REDIS_PASSWORD": "p" * 20, "REDIS_PORT": "6390", "REDIS_DATA_DIR": str(tmp_path)}
    text = render(from_env(env))
    lines = text.splitlines()
    assert f'requirepass "{"p" * 20}"' in lines
    assert "maxmemory 512mb" in lines
    assert "maxmemory-policy noeviction" in lines
    assert "port 6390" in lines and "bind 127.0.0.1" in lines and "appendonly yes" in lines
    assert "maxmemory 2gb" in render(from_env({**env, "REDIS_MAXMEMORY": "2GB"})).splitlines()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_PASSWORD", "short"),
        ("REDIS_PASSWORD", 'has"quote-0123456789'),
        ("REDIS_PASSWORD", "a b" * 8),
        ("REDIS_MAXMEMORY", "0"),
        ("REDIS_MAXMEMORY", "lots"),
        ("REDIS_MAXMEMORY", "-1mb"),
        ("REDIS_PORT", "70000"),
    ],
)
def test_a_bad_redis_setting_is_named(name: str, value: str) -> None:
    env = {"REDIS_PASSWORD": "p" * 20, name: value}
    with pytest.raises(ConfigError, match=name):
        from_env(env)


def test_maxmemory_units_are_what_redis_accepts() -> None:
    given = ("512mb", "1G", "100000000", " 64kb ")
    assert [check_maxmemory(v) for v in given] == ["512mb", "1g", "100000000", "64kb"]
    assert 'save ""' in render(RedisConf(1, Path("/x"), "p" * 16, persistent=False))
