"""Quiet hours in the store's time zone, and message texts: variables checked at load, alternatives."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from handoff.proactive.rules import (
    ConfigError,
    QuietHours,
    Texts,
    local_day,
    local_time,
    next_day_start,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = QuietHours.parse("21:00-09:00", SHANGHAI)


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


def test_quiet_hours_over_midnight_in_the_stores_time_zone() -> None:
    assert NIGHT.is_quiet(shanghai(10, 21)) and NIGHT.is_quiet(shanghai(10, 23, 59))
    assert NIGHT.is_quiet(shanghai(11, 0)) and NIGHT.is_quiet(shanghai(11, 8, 59))
    assert not NIGHT.is_quiet(shanghai(11, 9)) and not NIGHT.is_quiet(shanghai(10, 20, 59))
    # 14:00 UTC is 22:00 in Shanghai
    assert NIGHT.is_quiet(datetime(2026, 3, 10, 14, tzinfo=UTC))


def test_a_message_due_in_quiet_hours_waits_for_their_end() -> None:
    assert NIGHT.release_time(shanghai(10, 22)) == shanghai(11, 9)  # evening: the next morning
    assert NIGHT.release_time(shanghai(11, 3)) == shanghai(11, 9)  # after midnight: this morning
    assert NIGHT.release_time(shanghai(11, 12)) == shanghai(11, 12)  # outside: at once
    assert NIGHT.release_time(shanghai(11, 3)).tzinfo is UTC


def test_quiet_hours_within_one_day() -> None:
    lunch = QuietHours.parse("12:00-13:30", SHANGHAI)
    assert lunch.is_quiet(shanghai(10, 12, 15)) and not lunch.is_quiet(shanghai(10, 13, 30))
    assert lunch.release_time(shanghai(10, 12, 15)) == shanghai(10, 13, 30)


def test_quiet_hours_end_on_local_time_across_a_dst_change() -> None:
    quiet = QuietHours.parse("22:00-08:00", BERLIN)
    # the night clocks go forward (29 March 2026, 02:00 → 03:00): the night is an hour shorter
    evening = datetime(2026, 3, 28, 23, 0, tzinfo=BERLIN)
    released = quiet.release_time(evening)
    assert released.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 8, 0)
    assert (released - evening.astimezone(UTC)).total_seconds() == 8 * 3600


def test_local_times_and_days() -> None:
    late = datetime(2026, 3, 10, 17, tzinfo=UTC)  # 01:00 on the 11th in Shanghai
    assert local_day(late, SHANGHAI) == date(2026, 3, 11) and local_day(late, ZoneInfo("UTC")) == date(
        2026, 3, 10
    )
    assert next_day_start(late, SHANGHAI) == shanghai(12, 0)
    # a wall time skipped by the DST jump is read with the offset before it: 02:30 is 03:30 CEST
    skipped = local_time(date(2026, 3, 29), time(2, 30), BERLIN)
    assert skipped.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        NIGHT.is_quiet(datetime(2026, 3, 10, 22))


@pytest.mark.parametrize("raw", ["21-09", "21:00", "25:00-09:00", "21:00-09:60", 2100, None, "09:00-09:00"])
def test_bad_quiet_hours_are_refused(raw: object) -> None:
    with pytest.raises(ConfigError, match=r"^quiet_hours: "):
        QuietHours.parse(raw, SHANGHAI)


ORDER_ONLY = frozenset({"order_id"})


def test_the_first_alternative_with_all_its_values_is_used() -> None:
    texts = Texts.parse(
        {"en": ["Shipped with {carrier}: {order_id}", "Shipped: {order_id}"], "zh": "已发货：{order_id}"},
        "m",
        ORDER_ONLY,
    )
    assert texts.render("en", {"order_id": "SO-1", "carrier": "DHL"}) == "Shipped with DHL: SO-1"
    assert texts.render("en", {"order_id": "SO-1", "carrier": None}) == "Shipped: SO-1"
    assert texts.render("zh", {"order_id": "SO-1"}) == "已发货：SO-1"
    assert texts.render("fr", {"order_id": "SO-1"}) == "Shipped: SO-1"  # the fallback language


def test_literal_braces_are_kept() -> None:
    texts = Texts.parse({"en": "{{ok}} {order_id}", "zh": "{order_id}"}, "m", ORDER_ONLY)
    assert texts.render("en", {"order_id": "SO-1"}) == "{ok} SO-1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"en": "Hi {name}", "zh": "{order_id}"}, r"^m\.en: unknown variable \{name\}"),
        ({"en": ["{order_id}", "{nope}"], "zh": "{order_id}"}, r"^m\.en\[1\]: unknown variable \{nope\}"),
        ({"en": "{order_id!r}", "zh": "{order_id}"}, r"^m\.en: \{order_id\} takes no format spec"),
        ({"en": "{order_id:>10}", "zh": "{order_id}"}, r"^m\.en: \{order_id\} takes no format spec"),
        ({"en": "{order_id.upper}", "zh": "{order_id}"}, r"^m\.en: unknown variable"),
        ({"en": "a { b", "zh": "{order_id}"}, r"^m\.en: .*literal braces"),
        ({"en": "", "zh": "{order_id}"}, r"^m\.en: must be a non-empty text"),
        ({"en": "x" * 1001, "zh": "{order_id}"}, r"^m\.en: at most 1000"),
        ({"en": "{order_id}"}, r"^m\.zh: must be a text or a list"),
        ({"en": [], "zh": "{order_id}"}, r"^m\.en: must be a text or a list"),
        ({"en": "{order_id}", "zh": "{order_id}", "fr": "x"}, r"^m\.fr: unknown language"),
        ("text", r"^m: must map each language"),
        # the last alternative must work for every order: {carrier} may be missing
        ({"en": "With {carrier}", "zh": "{order_id}"}, r"^m\.en: \{carrier\} may be missing"),
        ({"en": ["{order_id}", "With {carrier}"], "zh": "x"}, r"^m\.en\[1\]: \{carrier\} may be missing"),
    ],
)
def test_bad_texts_are_refused_at_load(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Texts.parse(raw, "m", ORDER_ONLY)
