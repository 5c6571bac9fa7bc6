"""Proactive triggers: the configuration (handoff/proactive.yml) and which triggers fire for an order.

Two kinds. Time triggers follow from the order's latest snapshot and the clock: late_shipment (past the
promised date plus a grace period and not delivered) and stuck_processing (still processing N hours after
it was placed). Event triggers follow from one event each: delivery_exception, refund_processed and
return_received; the store keeps them as pending notices, so a later order.updated does not hide them.

A firing is identified by a key (`late_shipment:2024-05-03`, `refund_processed:<event id>`); keys already
sent are in the order's `done` set and never fire again. `due` and `next_check` are pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from handoff.proactive.events import LANGUAGES, EventType, OrderSnapshot, OrderStatus
from handoff.proactive.rules import (
    ConfigError,
    QuietHours,
    Texts,
    aware,
    channel_list,
    format_amount,
    format_promised,
    local_time,
    zone,
)

__all__ = [
    "CHANNELS", "DEFAULT_PATH", "EVENT_TRIGGERS", "PRIORITY", "ConfigError", "Firing", "Notice", "OrderState",
    "SchedulerSettings", "Trigger", "TriggerConfig", "TriggerSettings", "due", "message_values", "next_check",
    "stale_notices",
]  # fmt: skip

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "proactive.yml"
CHANNELS = ("web", "telegram", "email")  # the hub's channel names (handoff.channels), and email


class Trigger(StrEnum):
    LATE_SHIPMENT = "late_shipment"
    DELIVERY_EXCEPTION = "delivery_exception"
    REFUND_PROCESSED = "refund_processed"
    RETURN_RECEIVED = "return_received"
    STUCK_PROCESSING = "stuck_processing"


# When several fire at once only one message goes out that day: the most urgent news first.
PRIORITY = (
    Trigger.DELIVERY_EXCEPTION,
    Trigger.LATE_SHIPMENT,
    Trigger.REFUND_PROCESSED,
    Trigger.RETURN_RECEIVED,
    Trigger.STUCK_PROCESSING,
)
EVENT_TRIGGERS: Mapping[EventType, Trigger] = {
    EventType.SHIPMENT_EXCEPTION: Trigger.DELIVERY_EXCEPTION,
    EventType.REFUND_PROCESSED: Trigger.REFUND_PROCESSED,
    EventType.RETURN_RECEIVED: Trigger.RETURN_RECEIVED,
}
# The variables every order that fires the trigger has (the parser requires a refund's amount and currency).
GUARANTEED: Mapping[Trigger, frozenset[str]] = {
    Trigger.LATE_SHIPMENT: frozenset({"order_id", "promised_by"}),
    Trigger.DELIVERY_EXCEPTION: frozenset({"order_id"}),
    Trigger.REFUND_PROCESSED: frozenset({"order_id", "refund_amount", "currency"}),
    Trigger.RETURN_RECEIVED: frozenset({"order_id"}),
    Trigger.STUCK_PROCESSING: frozenset({"order_id"}),
}
OPEN_STATUSES = frozenset({OrderStatus.PROCESSING, OrderStatus.SHIPPED})  # not yet with the customer
MAX_HOURS = 24 * 365
TOP_LEVEL_KEYS = {
    "timezone", "quiet_hours", "default_language", "notice_expiry_hours", "scheduler", "triggers"
}  # fmt: skip


@dataclass(frozen=True)
class TriggerSettings:
    name: Trigger
    enabled: bool
    channels: tuple[str, ...]
    texts: Texts
    hours: float = 0.0  # late_shipment: grace after the promised date; stuck_processing: hours since placed

    @property
    def delay(self) -> timedelta:
        return timedelta(hours=self.hours)


@dataclass(frozen=True)
class SchedulerSettings:
    interval_seconds: float = 30.0  # how often the lease holder looks for due orders
    batch_size: int = 200  # due orders taken per run
    lease_seconds: float = 60.0  # a holder that stops renewing loses the lease after this
    claim_seconds: float = 300.0  # a claimed order whose run died is looked at again after this
    retry_seconds: float = 600.0  # after a failed send


@dataclass(frozen=True)
class TriggerConfig:
    timezone: ZoneInfo
    quiet_hours: QuietHours | None
    default_language: str
    notice_expiry: timedelta  # an event trigger not sent by then is dropped: the news is stale
    triggers: Mapping[Trigger, TriggerSettings]
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> TriggerConfig:
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
    def parse(cls, raw: Any) -> TriggerConfig:
        if not isinstance(raw, Mapping):
            raise ConfigError("the file must be a mapping")
        _no_unknown(raw, TOP_LEVEL_KEYS, "")
        if "timezone" not in raw:
            raise ConfigError("timezone: required (the store's IANA time zone, like Asia/Shanghai)")
        tz = zone(raw["timezone"], "timezone")
        quiet = raw.get("quiet_hours")
        quiet_hours = None if quiet is None else QuietHours.parse(quiet, tz)
        language = raw.get("default_language", "en")
        if language not in LANGUAGES:
            raise ConfigError(f"default_language: must be one of {', '.join(LANGUAGES)}")
        expiry = _hours(raw.get("notice_expiry_hours", 72), "notice_expiry_hours", minimum=1)
        triggers_raw = raw.get("triggers")
        if not isinstance(triggers_raw, Mapping):
            raise ConfigError("triggers: must map each trigger name to its settings")
        _no_unknown(triggers_raw, set(Trigger), "triggers.")
        triggers = {}
        for trigger in Trigger:
            if trigger.value not in triggers_raw:
                raise ConfigError(f"triggers.{trigger.value}: missing (set enabled: false to turn it off)")
            triggers[trigger] = _trigger(trigger, triggers_raw[trigger.value])
        return cls(
            timezone=tz,
            quiet_hours=quiet_hours,
            default_language=language,
            notice_expiry=timedelta(hours=expiry),
            triggers=triggers,
            scheduler=_scheduler(raw.get("scheduler", {})),
        )

    def release_time(self, now: datetime) -> datetime:
        """`now`, or the end of quiet hours when `now` is inside them."""
        return self.quiet_hours.release_time(now) if self.quiet_hours else aware(now)

    def language_for(self, order: OrderSnapshot) -> str:
        return order.language or self.default_language


def _no_unknown(raw: Mapping[Any, Any], known: set[str], prefix: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")


def _hours(value: Any, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: must be a number of hours")
    if not minimum <= value <= MAX_HOURS:
        raise ConfigError(f"{where}: must be from {minimum:g} to {MAX_HOURS}")
    return float(value)


def _trigger(trigger: Trigger, raw: Any) -> TriggerSettings:
    where = f"triggers.{trigger.value}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a mapping with enabled, channels and messages")
    hours_key = {Trigger.LATE_SHIPMENT: "grace_hours", Trigger.STUCK_PROCESSING: "after_hours"}.get(trigger)
    _no_unknown(raw, {"enabled", "channels", "messages"} | ({hours_key} if hours_key else set()), f"{where}.")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}.enabled: must be true or false")
    hours = 0.0
    if hours_key:
        if hours_key not in raw:
            raise ConfigError(f"{where}.{hours_key}: required")
        hours = _hours(raw[hours_key], f"{where}.{hours_key}", minimum=1 if hours_key == "after_hours" else 0)
    return TriggerSettings(
        name=trigger,
        enabled=enabled,
        channels=channel_list(raw.get("channels"), f"{where}.channels", CHANNELS),
        texts=Texts.parse(raw.get("messages"), f"{where}.messages", GUARANTEED[trigger]),
        hours=hours,
    )


def _scheduler(raw: Any) -> SchedulerSettings:
    if not isinstance(raw, Mapping):
        raise ConfigError("scheduler: must be a mapping")
    defaults = SchedulerSettings()
    _no_unknown(raw, set(defaults.__dataclass_fields__), "scheduler.")
    values: dict[str, Any] = {}
    for name in defaults.__dataclass_fields__:
        value = raw.get(name, getattr(defaults, name))
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"scheduler.{name}: must be a number")
        if not 1 <= value <= 86400:
            raise ConfigError(f"scheduler.{name}: must be from 1 to 86400")
        values[name] = int(value) if name == "batch_size" else float(value)
    settings = SchedulerSettings(**values)
    if settings.lease_seconds < 2 * settings.interval_seconds:
        raise ConfigError("scheduler.lease_seconds: must be at least twice interval_seconds")
    return settings


# -- evaluation --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """An event trigger waiting to be sent, with the order as that event described it."""

    trigger: Trigger
    event_id: str
    occurred_at: datetime
    order: OrderSnapshot

    @property
    def key(self) -> str:
        return f"{self.trigger.value}:{self.event_id}"


@dataclass(frozen=True)
class OrderState:
    """What the store knows of one order: its latest snapshot, pending notices, and the firings sent."""

    order: OrderSnapshot
    event_id: str  # of the latest snapshot
    occurred_at: datetime
    notices: tuple[Notice, ...] = ()
    done: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Firing:
    trigger: Trigger
    key: str
    event_id: str  # the event that caused it (for time triggers, the latest snapshot's)
    order: OrderSnapshot  # the order to describe
    since: datetime  # when it became due
    covers: tuple[str, ...] = ()  # keys that count as sent with this one (the same news)


def late_deadline(order: OrderSnapshot, settings: TriggerSettings, tz: ZoneInfo) -> datetime | None:
    """The end of the promised day in the store's time zone, plus the grace period."""
    if order.promised_by is None:
        return None
    return local_time(order.promised_by + timedelta(days=1), time(0, 0), tz) + settings.delay


def _time_firings(state: OrderState, config: TriggerConfig) -> list[tuple[datetime, Firing]]:
    """Time triggers not yet sent, with the moment each becomes due."""
    order = state.order
    result: list[tuple[datetime, Firing]] = []
    late = config.triggers[Trigger.LATE_SHIPMENT]
    stuck = config.triggers[Trigger.STUCK_PROCESSING]
    stuck_key = Trigger.STUCK_PROCESSING.value
    processing = order.status is OrderStatus.PROCESSING
    deadline = late_deadline(order, late, config.timezone)
    if late.enabled and deadline is not None and order.status in OPEN_STATUSES:
        assert order.promised_by is not None
        key = f"{Trigger.LATE_SHIPMENT.value}:{order.promised_by.isoformat()}"
        if key not in state.done:
            # "it is late" also says "it is still being processed": one message, not both on two days
            covers = (stuck_key,) if processing and stuck.enabled else ()
            result.append((deadline, Firing(late.name, key, state.event_id, order, deadline, covers)))
    if stuck.enabled and processing and stuck_key not in state.done:
        at = order.placed_at + stuck.delay
        result.append((at, Firing(stuck.name, stuck_key, state.event_id, order, at)))
    return result


def stale_notices(state: OrderState, now: datetime, config: TriggerConfig) -> list[Notice]:
    """Pending notices that will never be sent: their trigger is off, they are older than the expiry, or
    they were sent already; a delivery exception is also moot once the order is delivered or closed."""
    now = aware(now)
    stale = []
    for notice in state.notices:
        settings = config.triggers[notice.trigger]
        moot = notice.trigger is Trigger.DELIVERY_EXCEPTION and state.order.status not in OPEN_STATUSES
        expired = now - notice.occurred_at > config.notice_expiry
        if not settings.enabled or expired or moot or notice.key in state.done:
            stale.append(notice)
    return stale


def due(state: OrderState, now: datetime, config: TriggerConfig) -> list[Firing]:
    """The triggers that fire for this order at `now`, most urgent first. Quiet hours, opt-out and the
    once-a-day limit are the scheduler's: this says only what there is to tell."""
    now = aware(now)
    stale = {notice.key for notice in stale_notices(state, now, config)}
    firings = [firing for at, firing in _time_firings(state, config) if at <= now]
    firings += [
        Firing(notice.trigger, notice.key, notice.event_id, notice.order, notice.occurred_at)
        for notice in state.notices
        if notice.key not in stale
    ]
    return sorted(firings, key=lambda f: (PRIORITY.index(f.trigger), f.since))


def next_check(state: OrderState, config: TriggerConfig) -> datetime | None:
    """When this order next needs a look: the earliest pending notice, or the moment a time trigger not
    yet sent becomes due; None when nothing can fire until another event arrives. May be in the past
    (something is due now); stale notices count, so drop them first (`stale_notices`)."""
    times = [at for at, _ in _time_firings(state, config)]
    times += [notice.occurred_at for notice in state.notices]
    return min(times, default=None)


def message_values(order: OrderSnapshot, language: str) -> dict[str, str | None]:
    """The template variables for `order`, formatted for `language`; None where the order has no value."""
    return {
        "order_id": order.id,
        "promised_by": format_promised(order.promised_by, language) if order.promised_by else None,
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "refund_amount": None if order.refund_amount is None else format_amount(order.refund_amount),
        "currency": order.currency,
    }
