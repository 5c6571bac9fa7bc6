"""Proactive triggers: the shipped configuration, errors naming file and key, and which triggers fire when."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from handoff.proactive.events import OrderSnapshot, OrderStatus
from handoff.proactive.triggers import (
    DEFAULT_PATH,
    ConfigError,
    Notice,
    OrderState,
    Trigger,
    TriggerConfig,
    due,
    message_values,
    next_check,
    stale_notices,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONFIG = TriggerConfig.load()
RAW = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


def order(**changes: Any) -> OrderSnapshot:
    base = OrderSnapshot(
        id="SO-12345678",
        customer_id="cust-1",
        status=OrderStatus.SHIPPED,
        placed_at=local(1, 10).astimezone(UTC),
        promised_by=date(2026, 3, 5),
        carrier="SF Express",
        tracking_number="SF1234567890",
        language="en",
    )
    return replace(base, **changes)


def state(*notices: Notice, done: frozenset[str] = frozenset(), **changes: Any) -> OrderState:
    return OrderState(order(**changes), "evt-latest", local(2, 9), notices, done)


def notice(trigger: Trigger, event_id: str, at: datetime, **changes: Any) -> Notice:
    return Notice(trigger, event_id, at.astimezone(UTC), order(**changes))


def fired(snapshot: OrderState, now: datetime, config: TriggerConfig = CONFIG) -> list[str]:
    return [firing.key for firing in due(snapshot, now, config)]


# -- configuration -----------------------------------------------------------------------------------


def test_the_shipped_configuration_loads_with_every_trigger_in_both_languages() -> None:
    assert CONFIG.timezone.key == "Asia/Shanghai" and CONFIG.quiet_hours is not None
    assert set(CONFIG.triggers) == set(Trigger)
    for settings in CONFIG.triggers.values():
        assert settings.enabled and set(settings.texts.by_language) == {"en", "zh"}
    assert CONFIG.triggers[Trigger.LATE_SHIPMENT].hours == 6
    assert CONFIG.triggers[Trigger.STUCK_PROCESSING].hours == 48


def with_change(path: str, value: Any) -> dict[str, Any]:
    """The shipped configuration with the dotted `path` set to `value` (KeyError: removed)."""
    raw: dict[str, Any] = copy.deepcopy(RAW)
    *parents, last = path.split(".")
    target = raw
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "unknown time zone"),
        ("timezone", KeyError, "required"),
        ("quiet_hours", "late", "must look like 21:00-09:00"),
        ("default_language", "fr", "must be one of en, zh"),
        ("notice_expiry_hours", 0, "must be from 1"),
        ("colour", "blue", "unknown key"),
        ("triggers.late_shipment", KeyError, "missing"),
        ("triggers.shipped", {}, "unknown key"),
        ("triggers.late_shipment.grace_hours", -1, "must be from 0"),
        ("triggers.late_shipment.grace_hours", KeyError, "required"),
        ("triggers.stuck_processing.after_hours", "2d", "must be a number of hours"),
        ("triggers.refund_processed.after_hours", 3, "unknown key"),
        ("triggers.refund_processed.enabled", "yes", "must be true or false"),
        ("triggers.return_received.channels", ["sms"], "unknown channel 'sms'"),
        ("triggers.return_received.channels", [], "must be a non-empty list"),
        ("triggers.return_received.messages.zh", "{order_id} {refund}", "unknown variable {refund}"),
        (
            "triggers.return_received.messages.en",
            "{refund_amount} for {order_id}",
            "{refund_amount} may be missing",
        ),
        ("scheduler.batch_size", 0, "must be from 1"),
        ("scheduler.lease_seconds", 40, "must be at least twice interval_seconds"),
        ("scheduler.speed", 1, "unknown key"),
    ],
)
def test_a_bad_configuration_names_the_file_and_the_key(
    tmp_path: Path, path: str, value: Any, message: str
) -> None:
    config = tmp_path / "proactive.yml"
    config.write_text(yaml.safe_dump(with_change(path, value), allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        TriggerConfig.load(config)
    assert str(caught.value).startswith(f"{config}: {path}: {message}")


def test_an_unreadable_or_invalid_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        TriggerConfig.load(tmp_path / "missing.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("triggers: [", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"^{broken}: invalid YAML"):
        TriggerConfig.load(broken)


def test_quiet_hours_can_be_switched_off() -> None:
    config = TriggerConfig.parse(with_change("quiet_hours", None))
    assert config.quiet_hours is None and config.release_time(local(10, 23)) == local(10, 23)


# -- late shipment -----------------------------------------------------------------------------------


def test_late_shipment_fires_after_the_promised_day_and_the_grace_period() -> None:
    snapshot = state()  # promised by 5 March; late from 6 March 00:00 + 6 h in Shanghai
    assert fired(snapshot, local(6, 5, 59)) == []
    assert fired(snapshot, local(6, 6)) == ["late_shipment:2026-03-05"]
    assert next_check(snapshot, CONFIG) == local(6, 6)


@pytest.mark.parametrize("status", [OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.RETURNED])
def test_late_shipment_does_not_fire_for_an_order_no_longer_on_its_way(status: OrderStatus) -> None:
    snapshot = state(status=status)
    assert fired(snapshot, local(20, 12)) == [] and next_check(snapshot, CONFIG) is None


def test_late_shipment_fires_once_per_promised_date() -> None:
    done = frozenset({"late_shipment:2026-03-05"})
    assert fired(state(done=done), local(8, 12)) == []
    # a new promise that is missed too is news again
    moved = state(done=done, promised_by=date(2026, 3, 9))
    assert fired(moved, local(10, 12)) == ["late_shipment:2026-03-09"]


def test_an_order_without_a_promised_date_is_never_late() -> None:
    assert fired(state(promised_by=None), local(30, 12)) == []


# -- stuck in processing -----------------------------------------------------------------------------


def test_stuck_processing_fires_after_n_hours_since_placed() -> None:
    snapshot = state(status=OrderStatus.PROCESSING, promised_by=None)
    assert fired(snapshot, local(3, 9, 59)) == []
    assert fired(snapshot, local(3, 10)) == ["stuck_processing"]
    assert next_check(snapshot, CONFIG) == local(3, 10)
    assert fired(state(status=OrderStatus.SHIPPED, promised_by=None), local(9, 12)) == []


def test_a_late_order_still_processing_gets_one_message_for_both() -> None:
    snapshot = state(status=OrderStatus.PROCESSING)
    firings = due(snapshot, local(6, 12), CONFIG)
    assert [f.key for f in firings] == ["late_shipment:2026-03-05", "stuck_processing"]
    assert firings[0].covers == ("stuck_processing",)  # sending the first settles the second


# -- event triggers ----------------------------------------------------------------------------------


def test_event_triggers_fire_from_pending_notices_most_urgent_first() -> None:
    refund = notice(Trigger.REFUND_PROCESSED, "e-refund", local(4, 10), refund_amount=20.0, currency="USD")
    exception = notice(Trigger.DELIVERY_EXCEPTION, "e-exc", local(4, 11))
    firings = due(state(refund, exception), local(4, 12), CONFIG)
    assert [f.key for f in firings] == ["delivery_exception:e-exc", "refund_processed:e-refund"]
    assert firings[1].order.refund_amount == 20.0 and firings[1].event_id == "e-refund"
    assert next_check(state(refund), CONFIG) == refund.occurred_at


def test_stale_notices_are_dropped_not_sent() -> None:
    old = notice(Trigger.RETURN_RECEIVED, "e-old", local(1, 10))
    sent = notice(Trigger.RETURN_RECEIVED, "e-sent", local(4, 10))
    moot = notice(Trigger.DELIVERY_EXCEPTION, "e-moot", local(4, 10))
    fresh = notice(Trigger.RETURN_RECEIVED, "e-new", local(4, 11))
    snapshot = state(
        old, sent, moot, fresh, done=frozenset({"return_received:e-sent"}), status=OrderStatus.DELIVERED
    )
    now = local(4, 12)  # e-old is 74 hours old: past the 72-hour expiry
    assert {n.event_id for n in stale_notices(snapshot, now, CONFIG)} == {"e-old", "e-sent", "e-moot"}
    assert fired(snapshot, now) == ["return_received:e-new"]


def test_a_disabled_trigger_never_fires() -> None:
    raw = with_change("triggers.return_received.enabled", False)
    raw["triggers"]["late_shipment"]["enabled"] = False
    config = TriggerConfig.parse(raw)
    returned = notice(Trigger.RETURN_RECEIVED, "e-1", local(6, 10))
    assert fired(state(returned), local(6, 12), config) == []
    assert stale_notices(state(returned), local(6, 12), config) == [returned]
    assert next_check(state(), config) is None


def test_due_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due(state(), datetime(2026, 3, 6, 12), CONFIG)


# -- message values ----------------------------------------------------------------------------------


def test_message_values_are_formatted_for_the_language() -> None:
    refunded = order(refund_amount=1234.5, currency="CNY", carrier=None)
    assert message_values(refunded, "en") == {
        "order_id": "SO-12345678",
        "promised_by": "March 5",
        "carrier": None,
        "tracking_number": "SF1234567890",
        "refund_amount": "1,234.50",
        "currency": "CNY",
    }
    assert message_values(refunded, "zh")["promised_by"] == "3月5日"


@pytest.mark.parametrize("trigger", list(Trigger))
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_shipped_text_renders_with_and_without_the_optional_values(
    trigger: Trigger, language: str
) -> None:
    texts = CONFIG.triggers[trigger].texts
    full = order(refund_amount=12.0, currency="USD")
    bare = order(carrier=None, tracking_number=None, refund_amount=12.0, currency="USD")
    for snapshot in (full, bare):
        text = texts.render(language, message_values(snapshot, language))
        assert "SO-12345678" in text and "{" not in text and "None" not in text
    assert "SF Express" not in texts.render(language, message_values(bare, language))


def test_a_late_order_is_due_again_only_for_a_new_promise_after_being_told() -> None:
    told = state(done=frozenset({"late_shipment:2026-03-05"}))
    assert next_check(told, CONFIG) is None
