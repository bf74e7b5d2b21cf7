"""When an outbound call may be placed: the deployment's quiet hours and the customer's own
preferred window, both in the customer's local time.

A call that falls due in quiet hours (or outside the window the customer prefers) is moved to
the next allowed moment, never placed early. `next_allowed(t, rules)` is the one rule every
part of the scheduler uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
SEARCH_DAYS = 9  # a daily window always has an allowed moment within a day or two


def parse_hhmm(text: str) -> time:
    """A local time of day written HH:MM (24 h); ValueError otherwise."""
    m = _HHMM.fullmatch((text or "").strip())
    if not m:
        raise ValueError(f"a time of day is HH:MM (24 h), not {text!r}")
    return time(int(m.group(1)), int(m.group(2)))


def check_zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (ValueError naming it if unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (e.g. Europe/London)") from None


@dataclass(frozen=True)
class Window:
    """A daily span of local time, `start` inclusive to `end` exclusive; it may cross
    midnight (20:00-09:00). Equal ends mean the whole day."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> Window:
        """`HH:MM-HH:MM` (ValueError saying what is wrong)."""
        first, sep, second = (text or "").partition("-")
        if not sep:
            raise ValueError(f"a window is HH:MM-HH:MM, not {text!r}")
        return cls(parse_hhmm(first), parse_hhmm(second))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, t: time) -> bool:
        """True when the local time of day `t` lies in the window."""
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True)
class CallingHours:
    """The rules for one customer: their zone, the quiet hours, their preferred window."""

    zone: ZoneInfo
    quiet: Window | None = None
    preferred: Window | None = None

    def allowed_at(self, moment: datetime) -> bool:
        """True when a call may be placed at `moment` (timezone-aware)."""
        local = moment.astimezone(self.zone).time()
        if self.quiet is not None and self.quiet.contains(local):
            return False
        return self.preferred is None or self.preferred.contains(local)

    def describe(self) -> str:
        """The rules in words, for logs and deferral reasons."""
        parts = [f"zone {self.zone.key}"]
        if self.quiet is not None:
            parts.append(f"quiet {self.quiet}")
        if self.preferred is not None:
            parts.append(f"preferred {self.preferred}")
        return ", ".join(parts)


def _boundaries(day: date, zone: ZoneInfo, windows: list[Window]) -> list[datetime]:
    out = []
    for w in windows:
        for t in (w.start, w.end):
            out.append(datetime.combine(day, t, tzinfo=zone))
    return out


def next_allowed(moment: datetime, hours: CallingHours) -> datetime:
    """`moment` if a call may be placed then, else the first later moment it may (UTC).

    When the preferred window lies entirely inside the quiet hours, the preferred window is
    ignored (the quiet hours always win) rather than never calling."""
    if moment.tzinfo is None:
        raise ValueError("next_allowed needs a timezone-aware time")
    if hours.allowed_at(moment):
        return moment.astimezone(ZoneInfo("UTC"))
    windows = [w for w in (hours.quiet, hours.preferred) if w is not None]
    local_day = moment.astimezone(hours.zone).date()
    candidates = sorted(
        b
        for d in range(-1, SEARCH_DAYS)
        for b in _boundaries(local_day + timedelta(days=d), hours.zone, windows)
        if b > moment
    )
    for candidate in candidates:
        if hours.allowed_at(candidate):
            return candidate.astimezone(ZoneInfo("UTC"))
    if hours.preferred is not None:  # no moment satisfies both: the quiet hours win
        return next_allowed(moment, CallingHours(hours.zone, hours.quiet, None))
    raise ValueError(f"no moment is ever allowed by {hours.describe()}")


def next_weekly(after: datetime, weekday: int, at: time, zone: ZoneInfo) -> datetime:
    """The first `weekday` (0 Monday) at local time `at` strictly after `after` (UTC)."""
    local = after.astimezone(zone)
    days = (weekday - local.weekday()) % 7
    candidate = datetime.combine(local.date() + timedelta(days=days), at, tzinfo=zone)
    if candidate <= after:
        candidate = datetime.combine(local.date() + timedelta(days=days + 7), at, tzinfo=zone)
    return candidate.astimezone(ZoneInfo("UTC"))


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekday(text: str | int) -> int:
    """0 (Monday) .. 6 (Sunday) from a number or a day name ("mon", "Monday")."""
    if isinstance(text, int) or str(text).strip().isdigit():
        n = int(text)
        if 0 <= n <= 6:
            return n
        raise ValueError(f"a weekday number is 0 (Monday) to 6 (Sunday), not {text!r}")
    name = str(text).strip().lower()
    for i, day in enumerate(WEEKDAYS):
        if len(name) >= 3 and day.startswith(name):
            return i
    raise ValueError(f"not a day of the week: {text!r} (e.g. monday, tue)")
