"""When a proactive message may go out, and its words.

Quiet hours are wall-clock times in the store's time zone ("21:00-09:00" runs over midnight); a message
due inside them waits for their end. Texts are per language with `{variable}` placeholders; a text may
list alternatives, and the first one whose variables the order has is used, so "shipped with {carrier}"
can fall back to a sentence without the carrier. Unknown variables are refused when the file is loaded,
never discovered when a customer is about to be written to.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handoff.proactive.events import LANGUAGES

VARIABLES = frozenset({"order_id", "promised_by", "carrier", "tracking_number", "refund_amount", "currency"})
MAX_TEXT = 1000
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)\Z")


class ConfigError(ValueError):
    """The proactive configuration is invalid; the message names the file and the key."""


def aware(value: datetime, name: str = "now") -> datetime:
    """`value` in UTC; a naive datetime is a programming error, refused with the argument's name."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def zone(raw: Any, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(raw))
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {raw!r} (use an IANA name like Asia/Shanghai)"
        raise ConfigError(f"{where}: {message}") from None


def local_day(now: datetime, tz: ZoneInfo) -> date:
    """The calendar day `now` falls on in the store's time zone."""
    return aware(now).astimezone(tz).date()


def local_time(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """`clock` on `day` in `tz`, as UTC. A wall time that happens twice (clocks going back) is its first
    occurrence; one skipped by clocks going forward is read with the offset before the jump (02:30 on
    the night clocks jump from 02:00 to 03:00 is 03:30)."""
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def next_day_start(now: datetime, tz: ZoneInfo) -> datetime:
    """The first moment of the store's next calendar day after `now`, as UTC."""
    return local_time(local_day(now, tz) + timedelta(days=1), time(0, 0), tz)


@dataclass(frozen=True)
class QuietHours:
    """Wall-clock span in `timezone` in which no proactive message is sent; `start` > `end` runs past
    midnight. None in the configuration means no quiet hours."""

    timezone: ZoneInfo
    start: time
    end: time

    @classmethod
    def parse(cls, raw: Any, timezone: ZoneInfo, where: str = "quiet_hours") -> QuietHours:
        start, sep, end = raw.partition("-") if isinstance(raw, str) else ("", "", "")
        if not sep or not _CLOCK.match(start.strip()) or not _CLOCK.match(end.strip()):
            raise ConfigError(f"{where}: must look like 21:00-09:00 (HH:MM-HH:MM), or null for none")
        first, last = _clock(start.strip()), _clock(end.strip())
        if first == last:
            raise ConfigError(f"{where}: start and end must differ (an empty span is null)")
        return cls(timezone, first, last)

    def is_quiet(self, now: datetime) -> bool:
        clock = aware(now).astimezone(self.timezone).time()
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def release_time(self, now: datetime) -> datetime:
        """`now` (in UTC) when it is outside quiet hours, else the moment they end."""
        now = aware(now)
        if not self.is_quiet(now):
            return now
        local = now.astimezone(self.timezone)
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return local_time(day, self.end, self.timezone)

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.timezone.key}"


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class Texts:
    """A trigger's message per language: alternatives in order of preference."""

    by_language: Mapping[str, tuple[str, ...]]

    @classmethod
    def parse(cls, raw: Any, where: str, guaranteed: frozenset[str]) -> Texts:
        """`guaranteed`: the variables every order that fires this trigger has; the last alternative of
        each language may use only those, so there is always a text to send."""
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: must map each language ({', '.join(LANGUAGES)}) to a text")
        unknown = sorted(str(k) for k in raw if k not in LANGUAGES)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown language (known: {', '.join(LANGUAGES)})")
        by_language: dict[str, tuple[str, ...]] = {}
        for language in LANGUAGES:
            value = raw.get(language)
            listed = [value] if isinstance(value, str) else value
            if not isinstance(listed, list) or not listed:
                raise ConfigError(f"{where}.{language}: must be a text or a list of alternative texts")
            places = (
                [f"{where}.{language}"]
                if isinstance(value, str)
                else [f"{where}.{language}[{n}]" for n in range(len(listed))]
            )
            for text, at in zip(listed, places, strict=True):
                check_template(text, at)
            last_at = places[-1]
            missing = sorted(template_variables(listed[-1]) - guaranteed)
            if missing:
                raise ConfigError(
                    f"{last_at}: {{{missing[0]}}} may be missing for this trigger; add an alternative "
                    f"after it that uses only {', '.join('{' + v + '}' for v in sorted(guaranteed))}"
                )
            by_language[language] = tuple(listed)
        return cls(by_language)

    def render(self, language: str, values: Mapping[str, str | None], fallback: str = "en") -> str:
        """The first alternative in `language` (else `fallback`) whose variables all have values."""
        alternatives = self.by_language.get(language) or self.by_language[fallback]
        for text in alternatives:
            if all(values.get(name) for name in template_variables(text)):
                return text.format_map({k: v for k, v in values.items() if v})
        raise ValueError(f"no {language} text has all its variables for this order")  # the loader prevents it


def template_variables(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def check_template(text: Any, where: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: must be a non-empty text")
    if len(text) > MAX_TEXT:
        raise ConfigError(f"{where}: at most {MAX_TEXT} characters")
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as exc:  # a lone { or }
        raise ConfigError(f"{where}: {exc} (write {{{{ and }}}} for literal braces)") from None
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in VARIABLES:
            known = ", ".join("{" + v + "}" for v in sorted(VARIABLES))
            raise ConfigError(f"{where}: unknown variable {{{name}}} (known: {known})")
        if spec or conversion:
            raise ConfigError(f"{where}: {{{name}}} takes no format spec or conversion")


def format_promised(value: date, language: str) -> str:
    if language == "zh":
        return f"{value.month}月{value.day}日"
    return f"{value:%B} {value.day}"


def format_amount(value: float) -> str:
    return f"{value:,.2f}"


def channel_list(raw: Any, where: str, known: Sequence[str]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
        raise ConfigError(f"{where}: must be a non-empty list of channels ({', '.join(known)})")
    for channel in raw:
        if channel not in known:
            raise ConfigError(f"{where}: unknown channel {channel!r} (known: {', '.join(known)})")
    if len(set(raw)) != len(raw):
        raise ConfigError(f"{where}: lists a channel twice")
    return tuple(raw)
