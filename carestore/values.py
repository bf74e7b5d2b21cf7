"""Checks on values before they are stored: a clear error instead of a database error."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from carestore.errors import InvalidValue


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """`value` if it is one of `choices`; otherwise raise `InvalidValue`."""
    if value not in choices:
        raise InvalidValue(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_text(name: str, value: str, max_length: int | None = None) -> str:
    """`value` unchanged if it is a string PostgreSQL and SQLite both keep exactly.

    Any Unicode is fine except the NUL character, which PostgreSQL text cannot hold.
    """
    if not isinstance(value, str):
        raise InvalidValue(f"{name} must be text, got {type(value).__name__}")
    if "\x00" in value:
        raise InvalidValue(f"{name} contains a NUL character, which cannot be stored")
    if max_length is not None and len(value) > max_length:
        raise InvalidValue(f"{name} is longer than {max_length} characters")
    return value


def check_optional_text(name: str, value: str | None, max_length: int | None = None) -> str | None:
    """`check_text` letting None through."""
    return None if value is None else check_text(name, value, max_length)


def check_number(name: str, value: float | None) -> float | None:
    """A finite float (or None)."""
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise InvalidValue(f"{name} must be a finite number, got {value!r}")
    return number


def check_rate(rate_wpm: int | None) -> int | None:
    """A speech rate in words per minute within what the TTS can do (40..400)."""
    if rate_wpm is None:
        return None
    if isinstance(rate_wpm, bool) or not isinstance(rate_wpm, int) or not 40 <= rate_wpm <= 400:
        raise InvalidValue(f"speech rate must be 40..400 words per minute, got {rate_wpm!r}")
    return rate_wpm


def check_json(name: str, value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-serialisable mapping, copied (or None)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidValue(f"{name} must be a mapping, got {type(value).__name__}")
    try:
        # round trip: what is stored is what comes back (tuples become lists, etc.)
        return json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"{name} is not JSON-serialisable: {exc}") from None


def check_time(name: str, value: datetime | None) -> datetime | None:
    """A timezone-aware datetime (or None); naive times are ambiguous and refused."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value
