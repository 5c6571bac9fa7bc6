"""Opening hours in the routing configuration: parsing with clear errors, and open/closed in a time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handoff.routing.config import ConfigError, Hours, RoutingConfig

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).timestamp()


def test_open_and_closed_follow_the_teams_time_zone() -> None:
    hours = Hours.parse(
        {
            "timezone": "Asia/Shanghai",
            "open": {"mon-fri": "09:00-21:00", "sat": ["10:00-12:30", "13:30-18:00"]},
        }
    )
    assert hours.is_open(at(2026, 11, 27, 9))  # Friday 09:00 in Shanghai
    assert not hours.is_open(at(2026, 11, 27, 21))  # the end is exclusive
    assert not hours.is_open(at(2026, 11, 27, 8, 59))
    assert hours.is_open(at(2026, 11, 28, 12, 29)) and not hours.is_open(at(2026, 11, 28, 13))  # lunch
    assert not hours.is_open(at(2026, 11, 29, 12))  # Sunday is closed
    # 02:00 UTC on a Monday is 10:00 in Shanghai
    assert hours.is_open(datetime(2026, 11, 30, 2, tzinfo=ZoneInfo("UTC")).timestamp())


def test_a_whole_day_can_be_open() -> None:
    hours = Hours.parse({"timezone": "UTC", "open": {"mon-sun": "00:00-24:00"}})
    assert hours.is_open(datetime(2026, 11, 29, 23, 59, tzinfo=ZoneInfo("UTC")).timestamp())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"timezone": "Mars/Base", "open": {"mon": "09:00-18:00"}}, "unknown time zone"),
        ({"timezone": "UTC", "open": {}}, "hours.open must map"),
        ({"timezone": "UTC", "open": {"monday": "09:00-18:00"}}, "hours.open.monday"),
        ({"timezone": "UTC", "open": {"fri-mon": "09:00-18:00"}}, "run forward"),
        ({"timezone": "UTC", "open": {"mon": "9-18"}}, "spans look like"),
        ({"timezone": "UTC", "open": {"mon": "18:00-09:00"}}, "end after it starts"),
        ({"timezone": "UTC", "open": {"mon": 9}}, "spans look like"),
        ({"timezone": "UTC", "open": {"mon": "09:00-18:00"}, "holidays": []}, "hours must be"),
    ],
)
def test_bad_hours_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Hours.parse(raw)


def test_hours_are_optional_in_the_routing_file() -> None:
    assert RoutingConfig.parse({}).hours is None
    config = RoutingConfig.parse({"hours": {"timezone": "UTC", "open": {"mon": "09:00-17:00"}}})
    assert config.hours is not None and config.hours.spans == {0: ((540, 1020),)}
