"""Reply speaking rate adapted to the caller's own measured pace."""

from __future__ import annotations

import math

DEFAULT_WEIGHT = 0.75


def reply_rate_for(
    caller_wpm: float | None,
    base: int = 140,
    lo: int = 120,
    hi: int = 170,
    weight: float = DEFAULT_WEIGHT,
) -> int:
    """The words-per-minute to reply at: `base` when the caller's pace is unknown (None),
    otherwise moved from `base` toward the caller's pace by `weight` (0 = ignore the caller,
    1 = match exactly), rounded and clamped to `lo`..`hi` (120-170 by default; a `base`
    outside that range, such as a caller's own "slower" preference, is clamped too).

    Older listeners follow best when the reply matches their own pace, but never much faster
    than conversational speech nor slower than 120 wpm, where words start to fall apart.
    """
    if lo > hi:
        raise ValueError(f"need lo <= hi, got lo={lo}, hi={hi}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be between 0 and 1, got {weight}")
    if caller_wpm is None:
        return int(min(hi, max(lo, base)))
    if isinstance(caller_wpm, bool) or not isinstance(caller_wpm, int | float):
        raise ValueError(
            f"caller_wpm must be a number of words per minute or None, got {caller_wpm!r}"
        )
    if not math.isfinite(caller_wpm) or caller_wpm <= 0:
        raise ValueError(
            f"caller_wpm must be a positive number of words per minute, got {caller_wpm}"
        )
    target = base + weight * (caller_wpm - base)
    return int(min(hi, max(lo, round(target))))
