"""The report's period: `--since 7d` (days), `24h` (hours), `30m` (minutes), `2w` (weeks)."""

from __future__ import annotations

import re
from datetime import timedelta

_SINCE = re.compile(r"^\s*(\d+)\s*([wdhm])\s*$", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
MAX_SINCE = timedelta(days=3660)


class SinceError(ValueError):
    """A `--since` value that is not a whole number followed by w, d, h or m."""


def parse_since(text: str) -> timedelta:
    """How far back `text` reaches: "7d" -> 7 days, "24h", "30m", "2w". SinceError (with the
    accepted forms in its message) for anything else, zero, or more than ten years."""
    found = _SINCE.match(text or "")
    if found is None:
        raise SinceError(
            f"--since {text!r} is not understood: give a whole number and a unit, "
            "e.g. 7d (days), 24h (hours), 30m (minutes) or 2w (weeks)"
        )
    amount, unit = int(found.group(1)), found.group(2).lower()
    span = timedelta(**{_UNITS[unit]: amount})
    if span <= timedelta(0):
        raise SinceError(f"--since {text!r} is an empty period: give at least 1{unit}")
    if span > MAX_SINCE:
        raise SinceError(f"--since {text!r} reaches back more than ten years")
    return span
