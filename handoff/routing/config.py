"""Routing configuration: weights, offers, queue priority, overflow, sticky window, intent → skill."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from common.affect import FRUSTRATION_LEVELS

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "routing.yml"
SKILL = re.compile(r"^[a-z][a-z0-9_]{0,39}\Z")
TIERS = ("standard", "silver", "gold", "vip")
MAX_WEIGHT = 100.0  # only the ratios matter; a bound keeps every score finite


class ConfigError(ValueError):
    """The routing configuration is invalid; the message names the key."""


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)\Z")


@dataclass(frozen=True)
class Hours:
    """When people answer chats, in the team's time zone. A handoff outside them becomes a ticket at once,
    and the customer is told so instead of waiting for an agent who is not coming."""

    timezone: str
    spans: Mapping[int, tuple[tuple[int, int], ...]]  # weekday (Monday 0) → (start, end) minutes

    def is_open(self, ts: float) -> bool:
        local = datetime.fromtimestamp(ts, ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.spans.get(local.weekday(), ()))

    @classmethod
    def parse(cls, raw: Any) -> Hours:
        if not isinstance(raw, Mapping) or set(raw) - {"timezone", "open"}:
            raise ConfigError("hours must be a mapping with timezone and open")
        timezone = raw.get("timezone")
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"hours.timezone: unknown time zone {timezone!r}") from None
        opened = raw.get("open")
        if not isinstance(opened, Mapping) or not opened:
            raise ConfigError("hours.open must map days (mon, mon-fri, ...) to spans like 09:00-18:00")
        spans: dict[int, list[tuple[int, int]]] = {}
        for days, value in opened.items():
            listed = [value] if isinstance(value, str) else value if isinstance(value, list) else [None]
            parsed = [_span(span, f"hours.open.{days}") for span in listed]
            for day in _days(str(days)):
                spans.setdefault(day, []).extend(parsed)
        return cls(str(timezone), {day: tuple(sorted(v)) for day, v in spans.items()})


def _days(text: str) -> list[int]:
    first, _, last = text.partition("-")
    if first not in DAYS or (last and last not in DAYS):
        raise ConfigError(f"hours.open.{text}: days are mon..sun or a range like mon-fri")
    start, end = DAYS.index(first), DAYS.index(last or first)
    if end < start:
        raise ConfigError(f"hours.open.{text}: the range must run forward (mon-fri, not fri-mon)")
    return list(range(start, end + 1))


def _span(value: Any, where: str) -> tuple[int, int]:
    match = _SPAN.match(value) if isinstance(value, str) else None
    if not match:
        raise ConfigError(f"{where}: spans look like 09:00-18:00 (or a list of them)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start or end > 24 * 60:
        raise ConfigError(f"{where}: {value} must end after it starts, by 24:00")
    return start, end


@dataclass(frozen=True)
class Weights:
    skill: float = 0.4
    load: float = 0.3
    rating: float = 0.3

    @classmethod
    def parse(cls, raw: Any, where: str = "weights") -> Weights:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where} must be a mapping with skill, load and rating")
        unknown = set(raw) - {"skill", "load", "rating"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        values = {}
        for name in ("skill", "load", "rating"):
            value = raw.get(name, getattr(cls, name))
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"{where}.{name} must be a number")
            if value < 0:
                raise ConfigError(f"{where}.{name} must not be negative")
            if value > MAX_WEIGHT:
                raise ConfigError(f"{where}.{name} must be at most {MAX_WEIGHT:g}")
            values[name] = float(value)
        if not any(values.values()):
            raise ConfigError(f"{where}: the weights must not all be zero")
        return cls(**values)

    def as_dict(self) -> dict[str, float]:
        return {"skill": self.skill, "load": self.load, "rating": self.rating}


@dataclass(frozen=True)
class RoutingConfig:
    weights: Weights = field(default_factory=Weights)
    rating_prior_mean: float = 4.0
    rating_prior_weight: float = 5.0
    offer_timeout: float = 20.0
    max_missed_offers: int = 3
    tier_seconds: Mapping[str, float] = field(
        default_factory=lambda: {"standard": 0.0, "silver": 30.0, "gold": 60.0, "vip": 120.0}
    )
    order_value_seconds_per_100: float = 10.0
    order_value_seconds_max: float = 60.0
    reason_seconds: Mapping[str, float] = field(default_factory=dict)
    frustration_seconds: Mapping[str, float] = field(default_factory=dict)
    default_handle_seconds: float = 300.0
    widen_after: float = 120.0
    ticket_after: float = 300.0
    sticky_window: int = 86400
    default_skill: str = "general"
    skill_by_reason: Mapping[str, str] = field(default_factory=dict)
    skill_by_intent: Mapping[str, str] = field(default_factory=dict)
    hours: Hours | None = None  # None: always open

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> RoutingConfig:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        try:
            return cls.parse(raw)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    @classmethod
    def parse(cls, raw: Any) -> RoutingConfig:
        if not isinstance(raw, Mapping):
            raise ConfigError("the routing configuration must be a mapping")
        rating = _section(raw, "rating")
        offers = _section(raw, "offers")
        queue = _section(raw, "queue")
        overflow = _section(raw, "overflow")
        sticky = _section(raw, "sticky")
        skills = _section(raw, "skills")
        config = cls(
            weights=Weights.parse(raw.get("weights", {})),
            rating_prior_mean=_number(rating, "rating.prior_mean", 4.0, 1.0, 5.0),
            rating_prior_weight=_number(rating, "rating.prior_weight", 5.0, 0.0, 1000.0),
            offer_timeout=_number(offers, "offers.timeout_seconds", 20.0, 0.05, 3600.0),
            max_missed_offers=int(_number(offers, "offers.max_missed", 3, 1, 100)),
            tier_seconds=_seconds_map(queue, "queue.tier_seconds", allowed=TIERS),
            order_value_seconds_per_100=_number(queue, "queue.order_value_seconds_per_100", 10.0, 0, 3600),
            order_value_seconds_max=_number(queue, "queue.order_value_seconds_max", 60.0, 0, 86400),
            reason_seconds=_seconds_map(queue, "queue.reason_seconds"),
            frustration_seconds=_seconds_map(queue, "queue.frustration_seconds", allowed=FRUSTRATION_LEVELS),
            default_handle_seconds=_number(queue, "queue.default_handle_seconds", 300.0, 1, 86400),
            widen_after=_number(overflow, "overflow.widen_after_seconds", 120.0, 0, 86400),
            ticket_after=_number(overflow, "overflow.ticket_after_seconds", 300.0, 0, 86400),
            sticky_window=int(_number(sticky, "sticky.window_seconds", 86400, 0, 30 * 86400)),
            default_skill=_skill(skills.get("default", "general"), "skills.default"),
            skill_by_reason=_skill_map(skills, "by_reason"),
            skill_by_intent=_skill_map(skills, "by_intent"),
            hours=Hours.parse(raw["hours"]) if raw.get("hours") is not None else None,
        )
        if config.ticket_after < config.widen_after:
            raise ConfigError("overflow.ticket_after_seconds must not be shorter than widen_after_seconds")
        return config

    def with_weights(self, weights: Weights) -> RoutingConfig:
        return replace(self, weights=weights)

    def skill_for(self, reason: str | None, intent: str | None) -> str:
        return (
            self.skill_by_reason.get(reason or "")
            or self.skill_by_intent.get(intent or "")
            or self.default_skill
        )

    def priority_seconds(
        self,
        tier: str | None,
        order_value: float | None,
        reason: str | None,
        frustration: str | None = None,
    ) -> float:
        """How many seconds earlier than its arrival a conversation is treated as having queued."""
        value = max(0.0, order_value or 0.0) / 100.0 * self.order_value_seconds_per_100
        return (
            self.tier_seconds.get(tier or "standard", 0.0)
            + min(value, self.order_value_seconds_max)
            + self.reason_seconds.get(reason or "", 0.0)
            + self.frustration_seconds.get(frustration or "calm", 0.0)
        )

    def skills(self) -> set[str]:
        return {self.default_skill, *self.skill_by_reason.values(), *self.skill_by_intent.values()}


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a mapping")
    return value


def _number(section: Mapping[str, Any], dotted: str, default: float, low: float, high: float) -> float:
    value = section.get(dotted.split(".")[-1], default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{dotted} must be a number in {low:g}..{high:g}")
    return float(value)


def _seconds_map(
    section: Mapping[str, Any], dotted: str, allowed: tuple[str, ...] | None = None
) -> dict[str, float]:
    raw = section.get(dotted.split(".")[-1], {})
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{dotted} must be a mapping")
    result = {}
    for key, value in raw.items():
        if allowed is not None and key not in allowed:
            raise ConfigError(f"{dotted}.{key}: unknown; expected one of {', '.join(allowed)}")
        result[str(key)] = _number({str(key): value}, f"{dotted}.{key}", 0, 0, 86400)
    return result


def _skill(value: Any, where: str) -> str:
    if not isinstance(value, str) or not SKILL.match(value):
        raise ConfigError(f"{where} must be a skill name (lowercase letters, digits, underscores)")
    return value


def _skill_map(skills: Mapping[str, Any], name: str) -> dict[str, str]:
    raw = skills.get(name, {})
    if not isinstance(raw, Mapping):
        raise ConfigError(f"skills.{name} must be a mapping")
    return {str(key): _skill(value, f"skills.{name}.{key}") for key, value in raw.items()}
