"""Settings of the analytical store, shared by the hub (which reads the store) and the writer process
(which fills it): both must agree on the file, the time zone and the definitions."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.env import SettingsError, read_float, read_int

OFF = ("", "off", "0", "false", "no")


@dataclass(frozen=True)
class ServiceLevelTarget:
    """ "80% answered within 20 s": SERVICE_LEVEL_TARGET and SERVICE_LEVEL_SECONDS."""

    share: float = 0.8
    seconds: float = 20.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServiceLevelTarget:
        return cls(
            share=read_float(env, "SERVICE_LEVEL_TARGET", 0.8, 0.01, 1.0),
            seconds=read_float(env, "SERVICE_LEVEL_SECONDS", 20.0, 1.0, 3600.0),
        )


@dataclass(frozen=True)
class AnalyticsSettings:
    db: str = "var/analytics.sqlite"  # ANALYTICS_DB; "off" turns analytics off
    group: str = ""  # ANALYTICS_GROUP: the store's writer group; default the host name
    stream_max: int = 1_000_000  # ANALYTICS_STREAM_MAX: events Redis keeps for a store that is behind
    timezone: str = "UTC"  # ANALYTICS_TIMEZONE: where the dashboard's days start
    idle_minutes: int = 30  # ANALYTICS_IDLE_MINUTES: a contact without activity this long has ended
    target: ServiceLevelTarget = ServiceLevelTarget()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AnalyticsSettings | None:
        """None when ANALYTICS_DB is off."""
        env = os.environ if env is None else env
        db = env.get("ANALYTICS_DB", "var/analytics.sqlite").strip()
        if db.lower() in OFF:
            return None
        return cls(
            db=db,
            group=env.get("ANALYTICS_GROUP", "").strip(),
            stream_max=read_int(env, "ANALYTICS_STREAM_MAX", 1_000_000, 10_000, 100_000_000),
            timezone=_timezone(env, "ANALYTICS_TIMEZONE"),
            idle_minutes=read_int(env, "ANALYTICS_IDLE_MINUTES", 30, 1, 1440),
            target=ServiceLevelTarget.from_env(env),
        )


def _timezone(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name, "UTC").strip() or "UTC"
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{name}={raw!r} is not a time zone such as UTC or Asia/Shanghai") from None
    return raw
